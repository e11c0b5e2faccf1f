"""Training targets from the host to the device in ONE copy (the transfer layer).

The heads build their targets on the host (:mod:`.heads.region_targets`) as CPU tensors;
:func:`upload_targets` packs all of them into one byte buffer (pinned for CUDA), copies
it asynchronously and hands out dtype / shape views of the device buffer. One pinned
block and one copy per batch instead of one per target tensor, and no host-device
synchronisation (benchmarks/README.md has the measured cost of the alternatives).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

TargetDict = Dict[str, Optional[Tensor]]


def pack(arrays: Sequence[np.ndarray], pin: bool = False) -> Tuple[Tensor, List[int]]:
    """The arrays' bytes in one uint8 tensor, each at a 16-byte aligned offset (pinned
    memory with ``pin``). Returns (buffer, offsets)."""
    offsets, total = [], 0
    for a in arrays:
        offsets.append(total)
        total += -(-a.nbytes // 16) * 16
    buffer = torch.empty(max(total, 16), dtype=torch.uint8, pin_memory=pin)
    flat = buffer.numpy()
    for a, off in zip(arrays, offsets):
        flat[off:off + a.nbytes] = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
    return buffer, offsets


def unpack(buffer: Tensor, like: Sequence[Tensor], offsets: Sequence[int]) -> List[Tensor]:
    """Views of ``buffer`` (any device) with the dtypes and shapes of the tensors
    ``like``, at ``offsets`` (:func:`pack`)."""
    out = []
    for t, off in zip(like, offsets):
        nbytes = t.numel() * t.element_size()
        out.append(buffer[off:off + nbytes].view(t.dtype).view(t.shape))
    return out


def upload(tensors: Sequence[Tensor], device=None) -> List[Tensor]:
    """CPU tensors on ``device`` with ONE host->device copy for all of them (asynchronous:
    from pinned memory on CUDA). ``device`` None or a CPU device: returned as they are."""
    if device is None or torch.device(device).type == 'cpu':
        return list(tensors)
    device = torch.device(device)
    buffer, offsets = pack([t.numpy() for t in tensors], pin=device.type == 'cuda')
    # asynchronous: from pinned memory (CUDA), or a device that never blocks (meta)
    return unpack(buffer.to(device, non_blocking=True), tensors, offsets)


def upload_targets(dicts: Sequence[TargetDict], device=None) -> List[TargetDict]:
    """:func:`upload` for dicts of CPU tensors (None values stay None): every tensor of
    every dict in one host->device copy; returns the dicts on ``device``."""
    keys = [(i, k) for i, d in enumerate(dicts) for k, v in d.items() if v is not None]
    tensors = upload([dicts[i][k] for i, k in keys], device)
    out = [{k: None for k in d} for d in dicts]
    for (i, k), t in zip(keys, tensors):
        out[i][k] = t
    return out
