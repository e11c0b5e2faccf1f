"""ADPDCompileHook: switch ``torch.compile`` of the network on from a config.

    custom_hooks = [dict(type='ADPDCompileHook')]          # backbone, heads, losses
    custom_hooks = [dict(type='ADPDCompileHook', parts=('backbone',), mode='max-autotune')]
    default_hooks = dict(compile=dict(type='ADPDCompileHook', mode='reduce-overhead'))
    default_hooks = dict(compile=dict(type='ADPDCompileHook', options=dict(cpp_wrapper=True)))
"""
from __future__ import annotations

from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet.registry import HOOKS

from ...utils.compile import (DEFAULT_PARTS, compile_submodules, mark_step,
                              set_compiler_stance)


@HOOKS.register_module()
class ADPDCompileHook(Hook):
    """Compile the model's sub-modules in place before training, validation or testing.

    Calls :func:`mmadpd.utils.compile.compile_submodules` on the unwrapped model (inside
    DDP as well) once, in ``before_run``; checkpoints keep the eager parameter names. When
    compilation fails (now or at the first forward), the part runs eager and the log says
    so; the run goes on. Every train / val / test iteration starts with
    :func:`~mmadpd.utils.compile.mark_step`, which CUDA-graph modes need to know where an
    iteration begins.

    Args:
        parts: attribute names of the sub-modules (or model methods, such as
            ``loss_by_feat``) to compile.
        mode: ``torch.compile`` mode (None = default; ``'reduce-overhead'``: CUDA graphs;
            ``'max-autotune'``: tunes kernels longer, with CUDA graphs).
        dynamic: ``torch.compile`` dynamic-shape setting (None = automatic).
        fullgraph: fail instead of graph-breaking (then falls back to eager).
        backend: ``torch.compile`` backend (None = inductor).
        options: inductor options instead of a ``mode`` (torch takes one of the two),
            e.g. ``dict(cpp_wrapper=True)``: the compiled graphs launch their kernels from
            generated C++ instead of Python, less host time per kernel without CUDA
            graphs' static memory.
        eager_val: run validation eagerly (torch's ``force_eager`` stance from
            ``before_val_epoch`` to ``after_val_epoch``). Validation during training is
            bound by image decoding, not by the network, and compiling it would cost a
            compilation of minutes for eval mode and each of its batch sizes (the last
            batch is smaller); after a second batch size torch also recompiles with a
            dynamic batch dimension. Training batches should all have one size for the
            same reason (``drop_last=True``, as the fast config sets). Testing stays
            compiled.
    """

    priority = 'VERY_HIGH'

    def __init__(self, parts: Sequence[str] = DEFAULT_PARTS, mode: Optional[str] = None,
                 dynamic: Optional[bool] = None, fullgraph: bool = False,
                 backend: Optional[str] = None, options: Optional[dict] = None,
                 eager_val: bool = True) -> None:
        if mode and options:
            raise ValueError(f'ADPDCompileHook: give mode ({mode!r}) or options '
                             f'({options!r}), not both (torch.compile takes one of them)')
        self.parts = tuple(parts)
        self.compile_kwargs = dict(mode=mode, dynamic=dynamic, backend=backend,
                                   fullgraph=fullgraph or None,
                                   options=dict(options) if options else None)
        self.eager_val = eager_val
        self.compiled = None
        self._stance = None  # the set_stance object that restores the previous stance

    def before_run(self, runner) -> None:
        if self.compiled is None:
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            self.compiled = compile_submodules(model, self.parts, **self.compile_kwargs)

    def before_val_epoch(self, runner) -> None:
        if self.compiled and self.eager_val and self._stance is None:
            self._stance = set_compiler_stance('force_eager')

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._restore_stance()

    def after_run(self, runner) -> None:
        self._restore_stance()  # also when validation ended early

    def _restore_stance(self) -> None:
        # the stance is process-wide: leave it as it was found
        if self._stance is not None:
            self._stance.__exit__(None, None, None)
            self._stance = None

    # one CUDA-graph generation per iteration (see mmadpd.utils.compile.mark_step)
    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._mark_step()

    def before_val_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._mark_step()

    def before_test_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._mark_step()

    def _mark_step(self) -> None:
        if self.compiled:
            mark_step()
