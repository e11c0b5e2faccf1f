"""Pure intensity scaling to the project's input convention (grey uint8, 0 = black).

Used for DICOM, whose value range is declared by the file (VOI output range) or, without
VOI data, taken from the image (min..max): values are mapped linearly from ``[lo, hi]`` to
0..255, clipped, rounded half to even (numpy's rule; deterministic). PNG/JPEG/arrays use
the training loader's ``to_grey_uint8`` instead (see :mod:`mmadpd.apis.image_io`).
"""
from __future__ import annotations

import numpy as np


def scale_to_uint8(values: np.ndarray, lo: float, hi: float,
                   invert: bool = False) -> np.ndarray:
    """Map ``values`` linearly from ``[lo, hi]`` to uint8 ``[0, 255]``.

    Args:
        values: (H, W) array of any real dtype.
        lo: value shown black (white if ``invert``).
        hi: value shown white (black if ``invert``); ``hi <= lo`` (a flat image) gives
            an all-black image instead of a division by zero.
        invert: mirror the grey scale (MONOCHROME1: high values are dark).

    Returns:
        (H, W) uint8 array.
    """
    values = np.asarray(values, dtype=np.float64)
    span = float(hi) - float(lo)
    if span <= 0:
        unit = np.zeros_like(values)
    else:
        unit = np.clip((values - float(lo)) / span, 0.0, 1.0)
    if invert:
        unit = 1.0 - unit
    return np.rint(unit * 255.0).astype(np.uint8)


def min_max_range(values: np.ndarray) -> tuple[float, float]:
    """The actual (finite) value range of an image, used when no range is declared."""
    values = np.asarray(values)
    return float(values.min()), float(values.max())
