"""Optimizer wrappers that do not synchronise the host with the GPU every step.

mmengine's ``OptimWrapper._clip_grad`` logs ``float(grad_norm)`` after every clipping step.
That one host-device synchronisation per iteration stops the CPU from queueing the next
step while the GPU still works, so every bit of per-step host work (data preprocessing,
target building, Python in the loss) shows up as GPU idle time. These wrappers clip exactly
as mmengine does and log the MEAN gradient norm of the last ``grad_norm_log_interval``
steps, read back once per interval (at the logger's default interval of 50 the log shows
the same smoothed value it shows anyway).
"""
from __future__ import annotations

from typing import List, Optional

import torch
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmdet.registry import OPTIM_WRAPPERS


class _LazyGradNormMixin:
    """Accumulates the clipped-gradient norm on the device; logs it every N steps."""

    def _init_lazy(self, grad_norm_log_interval: int) -> None:
        if int(grad_norm_log_interval) < 1:
            raise ValueError('grad_norm_log_interval must be >= 1, got '
                             f'{grad_norm_log_interval}')
        self.grad_norm_log_interval = int(grad_norm_log_interval)
        self._norm_sum: Optional[torch.Tensor] = None
        self._norm_count = 0

    def _clip_grad(self) -> None:
        params: List[torch.Tensor] = [
            p for group in self.optimizer.param_groups for p in group['params']
            if p.requires_grad and p.grad is not None]
        if not params:
            return
        norm = self.clip_func(params, **self.clip_grad_kwargs)
        if norm is None:  # clip_grad_value_ returns nothing to log
            return
        norm = norm.detach().float()
        self._norm_sum = norm if self._norm_sum is None else self._norm_sum + norm
        self._norm_count += 1
        if self._norm_count >= self.grad_norm_log_interval:
            self.message_hub.update_scalar(f'train/{self.grad_name}',
                                           float(self._norm_sum) / self._norm_count)
            self._norm_sum, self._norm_count = None, 0


@OPTIM_WRAPPERS.register_module()
class LazyGradNormOptimWrapper(_LazyGradNormMixin, OptimWrapper):
    """``OptimWrapper`` whose gradient-norm logging syncs once per interval, not per step.

    Args:
        grad_norm_log_interval: steps between two reads of the (mean) gradient norm.
        **kwargs: as :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, *args, grad_norm_log_interval: int = 50, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_lazy(grad_norm_log_interval)


@OPTIM_WRAPPERS.register_module()
class LazyGradNormAmpOptimWrapper(_LazyGradNormMixin, AmpOptimWrapper):
    """``AmpOptimWrapper`` with the lazy gradient-norm logging of
    :class:`LazyGradNormOptimWrapper`."""

    def __init__(self, *args, grad_norm_log_interval: int = 50, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._init_lazy(grad_norm_log_interval)
