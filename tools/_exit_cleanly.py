"""The ``__main__`` guard of the tools: an exception that reaches the top becomes one
``error:`` line on stderr and exit status 1 instead of a Python traceback.

Dependency-free (the converters' command lines import neither torch nor mmengine).
``MMADPD_TRACEBACK=1`` lets the exception through, with its traceback.
"""
import os
import sys


def run(main, name: str) -> int:
    """``main()``'s exit status (anything but an int counts as 0: some tools' ``main``
    returns its summary); any exception -> one line, 1."""
    try:
        code = main()
        return code if isinstance(code, int) else 0
    except Exception as exc:
        if os.environ.get('MMADPD_TRACEBACK') == '1':
            raise
        message = ' '.join(str(exc).split()) or repr(exc)
        print(f'error: {name}: {type(exc).__name__}: {message} '
              '(set MMADPD_TRACEBACK=1 for the traceback)', file=sys.stderr)
        return 1
