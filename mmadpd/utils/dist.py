"""CPU support for mmengine's torch.distributed launch path.

mmengine's ``init_dist`` always calls ``torch.cuda.set_device`` and its Runner always hands
``device_ids=[LOCAL_RANK]`` to DistributedDataParallel; both fail on a machine without a
GPU. The launch itself stays mmengine's (torchrun + ``--launcher pytorch``); this module
only supplies the two CPU fallbacks: a gloo process group created before the Runner (the
Runner skips ``init_dist`` when one exists) and a DDP wrapper that drops ``device_ids`` for
CPU modules.

It also supplies the orderly end of a launch (``shutdown_distributed``): every rank waits
for the others, then tears its process group down before the interpreter exits.
"""
from __future__ import annotations

import torch
import torch.distributed as torch_dist
from mmengine.model import MMDistributedDataParallel
from mmdet.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that also works for CPU modules (gloo backend)."""

    def __init__(self, module, device_ids=None, **kwargs):
        if not any(p.is_cuda for p in module.parameters()):
            device_ids = None  # DDP requires None for CPU modules
        super().__init__(module=module, device_ids=device_ids, **kwargs)


def setup_cpu_distributed(cfg) -> bool:
    """Prepare ``cfg`` for a torchrun launch on a machine without CUDA.

    Returns True when the CPU path was set up (gloo group initialised, CPU-safe wrapper
    configured), False when nothing had to be done.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return False
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            # scoped name: the Runner looks wrappers up in the root registry
            type='mmdet.CPUDistributedDataParallel', broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    return True


def shutdown_distributed() -> None:
    """End a torchrun launch in step: a barrier, then ``destroy_process_group``.

    Why: the ranks finish at different times (rank 0 still prints the summary or writes
    the report while rank 1 is done). A rank whose interpreter exits with its gloo group
    still alive tears the group's sockets down under a peer that may still be talking to
    it, and gloo answers a closed connection with ``std::terminate`` (SIGABRT), which
    torchrun reports as a failed launch although every result was written. No-op
    outside a distributed run.
    """
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    torch_dist.barrier()
    torch_dist.destroy_process_group()
