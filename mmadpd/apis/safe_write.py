"""All-or-nothing writing of the files of one inference input (its JSON and overlay PNG).

Each file is first written completely to a hidden temporary file in its destination
folder (same file system, so the final ``os.replace`` is atomic), then all of them are
renamed. If anything fails - a full disk (ENOSPC), a read-only file system (EROFS), a
path that is taken (EEXIST) - every temporary file is removed and every destination
already renamed in this call is removed again, so an input has either all of its
outputs on disk or none, and :class:`OutputWriteError` names the path and the cause.
"""
from __future__ import annotations

import os
import os.path as osp
import tempfile
from typing import List, Sequence, Tuple

from .failure_reason import os_error_reason


class OutputWriteError(OSError):
    """Outputs could not be written; ``reason`` names the path and the errno code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __reduce__(self):
        return type(self), (self.reason,)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _write_temp(path: str, data: bytes) -> str:
    """``data`` in a new temporary file beside ``path`` (fsynced, mode 0666 - umask)."""
    folder = osp.dirname(osp.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(path)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates the file 0600; give the result the permissions an ordinary
        # open() would so other users can read the outputs
        os.chmod(tmp, 0o666 & ~_umask())
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_all_or_nothing(files: Sequence[Tuple[str, bytes]]) -> None:
    """Write every ``(path, data)`` or none of them (module docstring).

    Raises:
        OutputWriteError: ``'<path>: ENOSPC (No space left on device)'`` and the like.
    """
    temps: List[Tuple[str, str]] = []
    done: List[str] = []
    current = ''
    try:
        for path, data in files:
            current = path
            if osp.isdir(path):
                raise IsADirectoryError(21, 'Is a directory', path)
            temps.append((_write_temp(path, data), path))
        for tmp, path in temps:
            current = path
            os.replace(tmp, path)
            done.append(path)
    except OSError as exc:
        for tmp, _ in temps:
            _remove(tmp)
        for path in done:
            _remove(path)
        raise OutputWriteError(os_error_reason(exc, current)) from None
    except BaseException:
        for tmp, _ in temps:
            _remove(tmp)
        for path in done:
            _remove(path)
        raise


def make_folder(path: str) -> None:
    """``os.makedirs(path, exist_ok=True)``, failing with :class:`OutputWriteError`
    (``'PATH: EEXIST (exists and is not a folder)'``, ``EROFS``, ...)."""
    if osp.exists(path) and not osp.isdir(path):
        raise OutputWriteError(f'{path}: EEXIST (exists and is not a folder)')
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise OutputWriteError(os_error_reason(exc, path)) from None
