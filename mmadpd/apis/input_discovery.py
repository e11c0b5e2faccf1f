"""Expand the user's inputs (files, folders, arrays) into an ordered list of items.

Folders are walked recursively in sorted order (directories and files sorted by name at
every level, so a run is reproducible on every file system) and yield files with the
extensions .png/.jpg/.jpeg/.dcm/.dicom (any case) plus any other file that carries the
DICOM ``DICM`` marker at byte 128: PACS exports name files without an extension
(``IM000001``) or after their UID (``1.2.840.113619.2.55.3.1`` has the "extension" ``.1``).
A media directory (``DICOMDIR``, the index of an export, no image) and hidden files and
folders (``.name``) are skipped. Files named explicitly are always kept, whatever their extension,
so the loader can report what is wrong with them.
"""
from __future__ import annotations

import os
import os.path as osp
from dataclasses import dataclass
from typing import Iterable, List, Optional, Sequence, Union

import numpy as np

from .errors import ImageLoadError
from .image_io import DICOM_MARKER_OFFSET, IMAGE_EXTENSIONS, is_dicom_bytes

InputLike = Union[str, os.PathLike, np.ndarray]
DICOMDIR = 'DICOMDIR'  # the file name PS3.10 gives a media directory


@dataclass
class InputItem:
    """One unit of work: a file path or an array, or a failure found while expanding.

    Attributes:
        source: file path (str) or the array itself.
        name: what reports call it (the path, or ``'array_0003'``).
        error: set when the input failed before loading (e.g. a folder with no image).
    """
    source: Union[str, np.ndarray, None]
    name: str
    error: Optional[ImageLoadError] = None


def expand_inputs(inputs: Union[InputLike, Sequence[InputLike]]) -> List[InputItem]:
    """Turn one input or a list of inputs into items, in the given order.

    Args:
        inputs: a path (file or folder), an array, or a list/tuple mixing them. A 4-D
            array is NOT split into a batch: pass a list of arrays.

    Returns:
        Items in input order, folders replaced by their image files (sorted). Missing
        paths are kept as items (the loader reports "no such file").
    """
    if isinstance(inputs, (str, os.PathLike, np.ndarray)):
        inputs = [inputs]
    items: List[InputItem] = []
    array_count = 0
    for entry in inputs:
        if isinstance(entry, np.ndarray):
            items.append(InputItem(entry, f'array_{array_count:04d}'))
            array_count += 1
            continue
        path = os.fspath(entry)
        if osp.isdir(path):
            found = list(find_images(path))
            if not found:
                items.append(InputItem(None, path, ImageLoadError(
                    path, 'folder contains no PNG, JPEG or DICOM files')))
            items.extend(InputItem(p, p) for p in found)
        else:
            items.append(InputItem(path, path))
    return items


def find_images(folder: str) -> Iterable[str]:
    """Image files under ``folder``, recursively, in sorted order (module docstring)."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith('.'))
        for name in sorted(files):
            if name.startswith('.') or name.upper() == DICOMDIR:
                continue
            path = osp.join(root, name)
            ext = osp.splitext(name)[1].lower()
            if ext in IMAGE_EXTENSIONS or _has_dicom_marker(path):
                yield path


def _has_dicom_marker(path: str) -> bool:
    try:
        with open(path, 'rb') as f:
            return is_dicom_bytes(f.read(DICOM_MARKER_OFFSET + 4))
    except OSError:
        return False
