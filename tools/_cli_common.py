"""Shared helpers of tools/train.py and tools/test.py (config loading and error handling).

Tools are thin command-line faces: everything here only parses arguments, loads the config
and turns registry/data errors into one clear line and a non-zero exit.
"""
from __future__ import annotations

import argparse
import ast
import os
import os.path as osp
import re
import sys
import zipfile
from contextlib import contextmanager
from typing import Dict, Iterator, Optional

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
    with clear_errors(args.config):  # a config that does not parse: one line too
        cfg = Config.fromfile(args.config)
        if args.cfg_options is not None:
            cfg.merge_from_dict({k: literal_dicts(v) for k, v in args.cfg_options.items()})
    cfg.launcher = args.launcher
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


# mmengine's {{$VAR:default}} substitution and plain os.environ reads in config files
_ENV_PATTERNS = (re.compile(r'\{\{\$(\w+):([^}]*)\}\}'),
                 re.compile(r'os\.environ\.get\(\s*[\'"](\w+)[\'"]()'))
_HINT_ENV = re.compile(r'env (MMADPD_\w+)=DIR, or ')


def config_env_vars(config: str) -> Dict[str, str]:
    """``{name: default}`` of the environment variables a config file and its
    ``_base_`` files read (found in their text, so nothing is executed)."""
    found: Dict[str, str] = {}
    pending, seen = [osp.abspath(config)], set()
    while pending:
        path = pending.pop()
        if path in seen or not osp.isfile(path):
            continue
        seen.add(path)
        with open(path, encoding='utf-8') as f:
            text = f.read()
        for pattern in _ENV_PATTERNS:
            for name, default in pattern.findall(text):
                found.setdefault(name, default)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.endswith('.py') and not osp.isabs(node.value):
                pending.append(osp.normpath(osp.join(osp.dirname(path), node.value)))
    return found


def _starts_a_path(folder: str, message: str) -> bool:
    """Whether a path in ``message`` starts with ``folder`` (a whole word, so that
    'data/imagenome' does not match '.../no_data/imagenome_coco')."""
    return re.search(r'(^|\s)' + re.escape(folder.rstrip('/')) + '/', message) is not None


def data_hint(message: str, config: Optional[str]) -> str:
    """A missing-data message whose hint names an env var ``config`` does not read
    (the dataset's hint names the real-data variables) -> the variables it does read."""
    wrong = _HINT_ENV.search(message)
    if config is None or wrong is None:
        return message
    names = {k: v for k, v in config_env_vars(config).items() if k.endswith('_DIR')}
    # a config inheriting another reads several: keep those whose folder is in the path
    # that was not found (the synthetic configs' MMADPD_PHANTOM_DIR, not the base's)
    names = {k: v for k, v in names.items() if _starts_a_path(os.environ.get(k) or v,
                                                              message)} or names
    if wrong.group(1) in names or not names:
        return message
    reads = ', '.join(f'{k} (now {os.environ.get(k) or "unset, default " + repr(v)})'
                      for k, v in sorted(names.items()))
    return (_HINT_ENV.sub('', message).rstrip() +
            f' {osp.basename(config)} reads its data folder from env {reads}.')


def checkpoint_problem(path: str) -> str:
    """Why ``path`` cannot be a PyTorch checkpoint ('' if it looks complete): missing,
    empty, a zip archive (torch's format) without its central directory (truncated)."""
    if not osp.isfile(path):
        return f'checkpoint not found: {path}'
    if osp.getsize(path) == 0:
        return f'checkpoint {path} is empty (0 bytes)'
    with open(path, 'rb') as f:
        magic = f.read(4)
    if magic.startswith(b'PK'):
        try:
            with zipfile.ZipFile(path) as archive:
                archive.infolist()
        except (zipfile.BadZipFile, OSError) as exc:
            return f'checkpoint {path} is truncated or corrupt ({exc})'
    elif not magic.startswith(b'\x80'):  # torch's legacy format is a pickle
        return f'{path} is not a PyTorch checkpoint (unrecognised start {magic!r})'
    return ''


def device_problem(device: Optional[str]) -> str:
    """Why ``device`` cannot run here ('' when it can, or when it is None = automatic)."""
    if device is None:
        return ''
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        return f'--device {device}: not a device name ({exc}); use cpu, cuda or cuda:N'
    if parsed.type == 'cuda':
        if not torch.cuda.is_available():
            return (f'--device {device}: no CUDA GPU is available here '
                    '(torch.cuda.is_available() is False); use --device cpu')
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            return (f'--device {device}: this machine has {torch.cuda.device_count()} '
                    'CUDA device(s)')
    return ''


@contextmanager
def clear_errors(config: Optional[str] = None) -> Iterator[None]:
    """Turn the errors a user can fix (unknown registry names, missing data files) into
    one readable line instead of a long traceback that hides the cause, and any other
    exception into one line naming its type.

    Set MMADPD_TRACEBACK=1 to see the full traceback.
    """
    try:
        yield
    except Exception as exc:
        if os.environ.get('MMADPD_TRACEBACK') == '1':
            raise
        msg = str(exc.args[0]) if exc.args else repr(exc)
        if isinstance(exc, FileNotFoundError):
            msg = data_hint(msg, config)
        if not isinstance(exc, (KeyError, FileNotFoundError, ValueError)):
            msg = ' '.join(msg.split())  # a sentence, not a dump
        # mmengine wraps a build failure as "<Class>: <msg>" once per nesting level
        fail(f'{type(exc).__name__}: {msg}\n(set MMADPD_TRACEBACK=1 for the full traceback)')
