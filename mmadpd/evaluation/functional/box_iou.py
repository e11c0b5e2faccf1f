"""Pairwise IoU of axis-aligned boxes (pure numpy)."""
from __future__ import annotations

import numpy as np

from mmadpd.box_ops import box_area


def as_boxes(boxes, name: str = 'boxes') -> np.ndarray:
    """Return ``boxes`` as a float64 array of shape (N, 4); an empty input gives (0, 4).

    Raises:
        ValueError: when the input cannot be read as N rows of 4 coordinates.
    """
    arr = np.asarray(boxes, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f'{name} must have shape (N, 4) xyxy, got {arr.shape}')
    return arr


def iou_matrix(boxes_a, boxes_b) -> np.ndarray:
    """IoU between every box of ``boxes_a`` and every box of ``boxes_b``.

    Args:
        boxes_a: (N, 4) xyxy, any pixel frame (both inputs in the same frame).
        boxes_b: (M, 4) xyxy.

    Returns:
        (N, M) float64 IoU. Widths are ``x2 - x1`` (continuous coordinates, no ``+ 1``
        pixel convention, like pycocotools); a pair whose union is empty has IoU 0.
    """
    a = as_boxes(boxes_a, 'boxes_a')
    b = as_boxes(boxes_b, 'boxes_b')
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    area_a, area_b = box_area(a), box_area(b)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.clip(iw, 0, None) * np.clip(ih, 0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    out = np.zeros_like(inter)
    np.divide(inter, union, out=out, where=union > 0)
    return out
