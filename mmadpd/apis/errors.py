"""The one exception type of the inference input layer."""
from __future__ import annotations

from .failure_reason import one_line


class ImageLoadError(Exception):
    """An input that cannot be turned into a grey image.

    Raised for every loader failure (missing or unreadable path, directory, empty or
    truncated file, not an image, unsupported DICOM), so callers can catch one type,
    report ``str(error)`` and go on with the other inputs.

    Attributes:
        path: the offending input as given (``'<array 3>'`` for in-memory inputs).
        reason: what is wrong with it, without the path (for tables and CSV columns);
            one line without memory addresses (:func:`.failure_reason.one_line`).
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = one_line(reason)
        super().__init__(f'{self.path}: {reason}')

    def __reduce__(self):  # keep pickling (multiprocessing) working with two arguments
        return type(self), (self.path, self.reason)
