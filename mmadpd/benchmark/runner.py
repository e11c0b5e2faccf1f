"""Configs for the benchmark's mmengine Runners, and the projected schedule time."""
from __future__ import annotations

import copy
import os
import time

from .results import compile_kwargs


def runner_cfg(cfg, args, work_dir, part):
    """A copy of the config for a benchmark Runner (``part``: 'loop' or 'val'): its own
    work_dir, visualizer and message hub (mmengine keeps them as named global instances,
    and a second Runner in this process would otherwise reuse the first one's and its
    deleted work_dir), quiet logging, random backbone weights (timing only), the CLI's
    --channels-last and --compile (also for configs that switch compilation on
    themselves), and no checkpoint saving or early stopping (they need a training run
    with validation; a checkpoint save is ~0.25 s, see projected_schedule_min)."""
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    stamp = f'adpd_benchmark_{part}_{os.getpid()}_{time.monotonic_ns()}'
    cfg.experiment_name = stamp
    if cfg.get('visualizer'):
        cfg.visualizer['name'] = stamp
    cfg.load_from, cfg.resume = None, False
    cfg.log_level = 'WARNING'  # no config dump / hook table in the benchmark's output
    cfg.model.backbone.init_cfg = None
    cfg.model.data_preprocessor['channels_last'] = bool(args.channels_last)
    cfg.default_hooks.pop('compile', None)
    if args.compile:
        cfg.default_hooks.compile = dict(type='ADPDCompileHook', **compile_kwargs(args))
    cfg.default_hooks.checkpoint = None
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', [])
                        if h.get('type') != 'EarlyStoppingHook']
    return cfg


def schedule_of(cfg) -> dict:
    """The config's schedule: iterations, batch size and number of validations."""
    iters = int(cfg.train_cfg.max_iters)
    interval = int(cfg.train_cfg.get('val_interval', iters) or iters)
    return dict(max_iters=iters, batch_size=int(cfg.train_dataloader.batch_size),
                validations=iters // interval)


def schedule_minutes(schedule: dict, loop_samples_s: float, val_s: float) -> float:
    """Minutes of a schedule (:func:`schedule_of`): its samples (``max_iters`` x batch
    size) at ``loop_samples_s`` plus its validations at ``val_s`` each (checkpoint saving,
    ~0.25 s per 148 MB checkpoint on a plain disk, is left out)."""
    samples = schedule['max_iters'] * schedule['batch_size']
    return (samples / loop_samples_s + schedule['validations'] * val_s) / 60.0


def projected_schedule_min(cfg, loop_sps, val_s):
    """Minutes of the config's whole schedule at the measured loop rate, with one
    measured validation every ``val_interval`` iterations (:func:`schedule_minutes`)."""
    return schedule_minutes(schedule_of(cfg), loop_sps, val_s)
