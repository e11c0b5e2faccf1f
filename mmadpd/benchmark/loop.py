"""(e) the real training loop: mmengine's Runner from the config, timed after warm-up,
optionally profiled for a few more iterations."""
from __future__ import annotations

import time

from .data import timing_loader_cfg
from .profiling import kernel_ms, write_profile
from .runner import runner_cfg
from .steps import optim_wrapper_cfg, still_compiled
from .timing import sync


class _LoopTimer:
    """Runner hook that times the training iterations after ``warmup`` of them (GPU
    synchronised at both ends only) and stops the loop after ``seconds``; meanwhile it
    sums mmengine's IterTimerHook numbers (``data_time``: the wait for the DataLoader's
    next batch). With ``profile_iters`` it then runs that many more iterations under
    torch.profiler (after the timed window, so the timing is not disturbed).
    ``on_timed(timer)`` is called once, when the timed window has ended."""

    def __init__(self, warmup, seconds, device, profile_iters=0, on_timed=None):
        from mmengine.hooks import Hook

        timer = self

        class Timer(Hook):
            priority = 'LOWEST'

            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                timer.step(runner, data_batch)

        self.hook = Timer()
        self.warmup, self.seconds, self.device = warmup, seconds, device
        self.profile_iters = profile_iters
        self.on_timed = on_timed
        self.iters = self.seen = self.timed_iters = 0
        self.data_wait_s = 0.0
        self.t0 = self.elapsed = None
        self.prof = None
        self.profiled = 0

    def step(self, runner, data_batch):
        self.iters += 1
        if self.iters == self.warmup:
            sync(self.device)
            self.t0 = time.perf_counter()
            return
        if self.t0 is None:
            return
        if self.elapsed is not None:  # profiling after the timed window
            self.profiled += 1
            if self.profiled >= self.profile_iters:
                sync(self.device)
                self.prof.__exit__(None, None, None)
                runner.train_loop.stop_training = True
            return
        self.seen += len(data_batch['data_samples'])
        self.timed_iters += 1
        self.data_wait_s += float(runner.message_hub.get_scalar('train/data_time').current())
        if time.perf_counter() - self.t0 >= self.seconds:
            sync(self.device)
            self.elapsed = time.perf_counter() - self.t0
            if self.on_timed is not None:
                self.on_timed(self)
            if self.profile_iters > 0:
                from torch.profiler import ProfilerActivity, profile
                acts = [ProfilerActivity.CPU]
                if self.device.type == 'cuda':
                    acts.append(ProfilerActivity.CUDA)
                self.prof = profile(activities=acts, record_shapes=False)
                self.prof.__enter__()
            else:
                runner.train_loop.stop_training = True


def loop_config(cfg, args, device, work_dir):
    """The config's training run, reduced to its training loop: no validation, no
    checkpoints, no report; the CLI's --amp/--channels-last/--compile applied as in
    (a)-(c); random backbone weights (timing only)."""
    cfg = runner_cfg(cfg, args, work_dir, 'loop')
    cfg.optim_wrapper = optim_wrapper_cfg(cfg, args, device)
    # the loop stops itself after --loop-seconds; no validation or test inside it
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=10 ** 9, val_interval=10 ** 9)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader',
                'test_cfg', 'test_evaluator'):
        cfg[key] = None
    cfg.default_hooks.pop('report', None)  # mmengine takes None only for its own hooks
    timing_loader_cfg(cfg.train_dataloader, args, device, workers=args.workers)
    return cfg


def _timed_result(timer, dl):
    """The loop's numbers from a timer whose timed window has ended."""
    iter_ms = 1e3 * timer.elapsed / timer.timed_iters
    return dict(samples_s=timer.seen / timer.elapsed, workers=dl.num_workers,
                batch_size=dl.batch_size, iter_ms=iter_ms,
                data_wait_ms=1e3 * timer.data_wait_s / timer.timed_iters)


def bench_loop(cfg, args, device, on_timed=None):
    """The real training loop: mmengine's Runner built from the config (its DataLoader
    with --workers processes, data preprocessor, optimizer wrapper, parameter schedulers
    and default hooks: runtime info, timer, logger), timed after --warmup iterations;
    with --profile-loop, a few more iterations under torch.profiler.

    Returns a dict: samples/s, workers, batch size, ms per iteration, ms per iteration
    spent waiting for the DataLoader, with --compile the model parts still compiled after
    the loop (a part whose compilation failed falls back to eager) and, when profiled, GPU
    kernel ms per iteration. ``on_timed(dict)`` gets the first five as soon as the timed
    window ends, before the profiled iterations and the Runner's teardown (so a caller
    under a time limit can save them)."""
    import tempfile
    from mmengine.model import is_model_wrapper
    from mmengine.runner import Runner
    profile_iters = 5 if args.profile_loop else 0
    with tempfile.TemporaryDirectory(prefix='adpd_loop_') as work_dir:
        loop_cfg = loop_config(cfg, args, device, work_dir)
        dl = loop_cfg.train_dataloader
        runner = Runner.from_cfg(loop_cfg)
        timer = _LoopTimer(max(args.warmup, 1), args.loop_seconds, device, profile_iters,
                           on_timed=(None if on_timed is None
                                     else lambda t: on_timed(_timed_result(t, dl))))
        runner.register_hook(timer.hook)
        runner.train()
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    if timer.elapsed is None or not timer.timed_iters:
        raise RuntimeError('benchmark loop: the training loop ended before it was timed')
    out = _timed_result(timer, dl)
    iter_ms = out['iter_ms']
    if args.compile:
        out['compiled_parts'] = still_compiled(model)
    if timer.prof is not None and timer.profiled:
        per_iter = kernel_ms(timer.prof.key_averages()) / timer.profiled  # 0 on a CPU
        if device.type == 'cuda':
            out['kernel_ms'] = per_iter
        write_profile(timer.prof, device, args.profile_loop,
                      header=f'training loop, batch {dl.batch_size}, {dl.num_workers} '
                             f'workers: {iter_ms:.1f} ms per iteration unprofiled, '
                             f'{per_iter:.1f} ms of GPU kernels per iteration '
                             f'({timer.profiled} profiled iterations)')
    return out
