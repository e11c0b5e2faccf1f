"""(f) one validation as the training schedule runs it, timed to the end of its epoch."""
from __future__ import annotations

import time

from .runner import runner_cfg
from .timing import sync


def bench_val(cfg, args, device):
    """One validation as the schedule runs it every ``val_interval`` iterations:
    mmengine's ValLoop over the config's val set (the CXR8 val half) with its persistent
    workers, predict() + WBF post-processing, the CXR8 metric and the report hook (random
    weights: many candidate boxes, a heavy case for the post-processing). The second of
    two runs is timed, to the end of its validation epoch; the first starts the workers
    and cuDNN's autotuning, which a training run pays once. A report written in the
    background (the fast config) is not waited for: training would go on meanwhile.

    Returns (seconds per validation, images in the val set)."""
    import tempfile
    from mmengine.runner import Runner
    with tempfile.TemporaryDirectory(prefix='adpd_val_') as work_dir:
        vcfg = runner_cfg(cfg, args, work_dir, 'val')
        # a validation-only Runner: mmengine wants all training parts or none
        for key in ('train_dataloader', 'train_cfg', 'optim_wrapper', 'param_scheduler',
                    'test_dataloader', 'test_cfg', 'test_evaluator'):
            vcfg[key] = None
        runner = Runner.from_cfg(vcfg)
        end = _ValEnd(device)
        runner.register_hook(end, priority='LOWEST')
        runner.val()
        sync(device)
        t0 = time.perf_counter()
        runner.val()
        # until the end of the validation epoch, after every other hook's after_val_epoch
        # (a synchronous report included), but not the end-of-run wait for a report that
        # ADPDReportHook(background=True) writes while training would go on
        elapsed = end.t_end - t0
        images = len(runner.val_dataloader.dataset)
    return elapsed, images


def _ValEnd(device):
    """Hook that notes the time when a validation epoch has ended (GPU synchronised)."""
    from mmengine.hooks import Hook

    class ValEnd(Hook):
        t_end = None

        def after_val_epoch(self, runner, metrics=None):
            sync(device)
            self.t_end = time.perf_counter()

    return ValEnd()
