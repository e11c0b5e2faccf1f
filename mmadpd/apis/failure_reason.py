"""One-line reasons for per-file failures (summary rows, stderr lines, CSV cells).

A reason never spans lines and never carries a memory address (``<object at 0x7f..>``
changes from run to run, so two runs' summaries would differ); an OS error is named by its
errno code (ENOSPC, EROFS, EEXIST, ...) next to the path it concerns.
"""
from __future__ import annotations

import errno
import re

_ADDRESS = re.compile(r'\s+at 0x[0-9a-fA-F]+')
_SPACE = re.compile(r'\s+')
MAX_REASON_CHARS = 400


def one_line(text: str) -> str:
    """``text`` with memory addresses removed and every run of whitespace (newlines
    included) made one space, cut to ``MAX_REASON_CHARS``."""
    text = _SPACE.sub(' ', _ADDRESS.sub('', str(text))).strip()
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS - 3] + '...'


def os_error_reason(exc: OSError, path: str = '') -> str:
    """``'PATH: ENOSPC (No space left on device)'`` for an OSError with an errno."""
    where = path or exc.filename or ''
    code = errno.errorcode.get(exc.errno, '') if exc.errno else ''
    cause = f'{code} ({exc.strerror})' if code and exc.strerror else str(exc)
    return one_line(f'{where}: {cause}' if where else cause)


def exception_reason(exc: BaseException) -> str:
    """The reason of any exception as one line: an :class:`ImageLoadError`'s own reason,
    an OS error's errno code and path, else ``'TypeName: message'``."""
    from .errors import ImageLoadError
    from .safe_write import OutputWriteError

    if isinstance(exc, (ImageLoadError, OutputWriteError)):
        return exc.reason
    if isinstance(exc, OSError) and exc.errno:
        return os_error_reason(exc)
    return one_line(f'{type(exc).__name__}: {exc}')
