"""Shared helpers of tools/train.py and tools/test.py (config loading and error handling).

Tools are thin command-line faces: everything here only parses arguments, loads the config
and turns registry/data errors into one clear line and a non-zero exit.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from contextlib import contextmanager
from typing import Iterator

from mmengine.config import Config, DictAction


def add_common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--work-dir', help='directory for logs, checkpoints and reports')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, key=value (xxx.yyy=zzz)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher for distributed runs')
    # torchrun passes --local-rank (torch >= 2.0) or --local_rank (older launchers)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """Load the config file, apply --cfg-options and --work-dir, set LOCAL_RANK."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if not osp.isfile(args.config):
        fail(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict({k: literal_dicts(v) for k, v in args.cfg_options.items()})
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    # torchrun on a machine without CUDA: gloo group + CPU-safe DDP wrapper
    from mmadpd.utils import setup_cpu_distributed
    setup_cpu_distributed(cfg)
    return cfg


def literal_dicts(value):
    """``dict(...)`` strings in a --cfg-options value -> dicts, so that
    ``visualizer.vis_backends="[dict(type='LocalVisBackend'),dict(type='TensorboardVisBackend')]"``
    works (mmengine's DictAction keeps them as strings). Only literal arguments."""
    import ast

    if isinstance(value, (list, tuple)):
        return type(value)(literal_dicts(v) for v in value)
    if isinstance(value, str) and value.startswith('dict(') and value.endswith(')'):
        try:
            call = ast.parse(value, mode='eval').body
            if not call.args and isinstance(call, ast.Call):
                return {kw.arg: literal_dicts(ast.literal_eval(kw.value))
                        for kw in call.keywords}
        except (SyntaxError, ValueError):
            pass  # not a literal dict(...): keep the string, the config will say why
    return value


def fail(message: str, code: int = 1) -> None:
    print(f'error: {message}', file=sys.stderr, flush=True)
    sys.exit(code)


@contextmanager
def clear_errors() -> Iterator[None]:
    """Turn the errors a user can fix (unknown registry names, missing data files) into
    one readable line instead of a long traceback that hides the cause.

    Set MMADPD_TRACEBACK=1 to see the full traceback.
    """
    try:
        yield
    except (KeyError, FileNotFoundError, ValueError) as exc:
        if os.environ.get('MMADPD_TRACEBACK') == '1':
            raise
        msg = exc.args[0] if exc.args else repr(exc)
        # mmengine wraps a build failure as "<Class>: <msg>" once per nesting level
        fail(f'{type(exc).__name__}: {msg}\n(set MMADPD_TRACEBACK=1 for the full traceback)')
