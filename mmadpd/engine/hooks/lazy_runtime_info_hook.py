"""LazyRuntimeInfoHook: mmengine's RuntimeInfoHook without a host-GPU sync per iteration.

mmengine's ``RuntimeInfoHook.after_train_iter`` pushes every logged loss into the message
hub, which converts it with ``.item()``: one device->host synchronisation per loss per
iteration. While the host waits, the GPU's queue runs empty, and everything the host does
before the next kernels arrive (fetching the next batch from the DataLoader, the data
preprocessor, target building) is GPU idle time.

This hook keeps references to the iteration's losses (no kernel, no copy) and converts
them in ONE copy per device when somebody is about to read them: at the
LoggerHook's interval, at the end of a dataloader pass (mmengine also logs there), before
validation, at the end of training and into every checkpoint's message-hub state. The
values and their order in the message hub are exactly those of ``RuntimeInfoHook``, so
logs, smoothing windows and resumed runs do not change.

Use it in place of mmengine's hook (mmadpd's default runtime does)::

    default_hooks = dict(runtime_info=dict(type='LazyRuntimeInfoHook'))
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch
from mmengine.hooks import LoggerHook, RuntimeInfoHook

from mmdet.registry import HOOKS


@HOOKS.register_module()
class LazyRuntimeInfoHook(RuntimeInfoHook):
    """``RuntimeInfoHook`` whose training losses reach the message hub in batches.

    Args:
        flush_interval: also read back after this many iterations when no LoggerHook is
            registered (default 50, mmdet's logging interval); with a LoggerHook its
            ``interval`` is used.
    """

    def __init__(self, flush_interval: int = 50) -> None:
        if int(flush_interval) < 1:
            raise ValueError(f'LazyRuntimeInfoHook: flush_interval must be >= 1, got '
                             f'{flush_interval}')
        self.flush_interval = int(flush_interval)
        # one dict per iteration, in order: key -> detached tensor (or python number)
        self._pending: List[Dict[str, Any]] = []

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._pending = []
        loggers = [h for h in runner.hooks if isinstance(h, LoggerHook)]
        if loggers:
            self.flush_interval = min(h.interval for h in loggers)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        if outputs:
            # references only: no kernel, no copy until the flush
            self._pending.append({k: v.detach() if isinstance(v, torch.Tensor) else v
                                  for k, v in outputs.items()})
        if self._flush_due(runner, batch_idx):
            self.flush(runner)

    def _flush_due(self, runner, batch_idx: int) -> bool:
        # The LoggerHook (lower priority, so it runs after this hook in the same
        # after_train_iter) reads the hub every `interval` iterations and at the end of a
        # dataloader pass; the last iteration ends the run.
        done = batch_idx + 1
        if done % self.flush_interval == 0 or runner.iter + 1 >= runner.max_iters:
            return True
        try:
            return done % len(runner.train_dataloader) == 0
        except TypeError:  # a dataloader without a length
            return False

    def flush(self, runner) -> None:
        """Push every pending iteration's values into the message hub, in order: one
        device->host copy per device for all of them."""
        if not self._pending:
            return
        by_device: Dict[torch.device, List[torch.Tensor]] = {}
        for it in self._pending:
            for v in it.values():
                if isinstance(v, torch.Tensor):
                    by_device.setdefault(v.device, []).append(v)
        host: Dict[int, float] = {}
        for group in by_device.values():
            values = torch.stack([t.float().reshape(()) for t in group]).cpu().tolist()
            host.update(zip(map(id, group), values))
        for it in self._pending:
            for key, value in it.items():
                runner.message_hub.update_scalar(
                    f'train/{key}', host[id(value)] if isinstance(value, torch.Tensor)
                    else value)
        self._pending = []

    def before_val(self, runner) -> None:
        self.flush(runner)
        super().before_val(runner)

    def after_train(self, runner) -> None:
        self.flush(runner)
        super().after_train(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # The Runner captured the hub's state before calling this hook: refresh it so a
        # resumed run sees every iteration's losses.
        if self._pending:
            self.flush(runner)
            if 'message_hub' in checkpoint:
                checkpoint['message_hub'] = runner.message_hub.state_dict()
