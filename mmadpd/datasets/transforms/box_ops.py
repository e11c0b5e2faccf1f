"""Pure numpy helpers for the geometric transforms (no registry, no torch).

Boxes are float32 arrays of shape (N, 4), xyxy, in pixels of the current image.
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from mmadpd.box_ops import box_area  # noqa: F401 (the transforms' box area)

#: Per-instance keys of a pipeline ``results`` dict; every transform that drops instances
#: indexes all of them with the same mask so they stay aligned.
INSTANCE_KEYS: Tuple[str, ...] = ('gt_bboxes', 'gt_bboxes_labels', 'gt_ignore_flags',
                                  'gt_pathology_labels')


def as_box_array(boxes) -> np.ndarray:
    """(N, 4) float32 array from an ndarray, a list or an mmdet ``HorizontalBoxes``."""
    if hasattr(boxes, 'tensor'):  # mmdet BaseBoxes
        boxes = boxes.tensor.numpy()
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


def eroded_union(boxes: np.ndarray, erosion_rate: float) -> Optional[np.ndarray]:
    """Enclosing box (4,) of all boxes after shrinking each by ``erosion_rate`` times its
    width (height) on the left and right (top and bottom); None for no boxes.

    ``erosion_rate=0.2`` keeps the central 60 % x 60 % of every box: a crop containing the
    result cuts at most 20 % off any side of a box.
    """
    if len(boxes) == 0:
        return None
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    return np.array([(boxes[:, 0] + erosion_rate * w).min(),
                     (boxes[:, 1] + erosion_rate * h).min(),
                     (boxes[:, 2] - erosion_rate * w).max(),
                     (boxes[:, 3] - erosion_rate * h).max()], dtype=np.float32)


def affine_boxes(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Axis-aligned boxes enclosing the 4 transformed corners of each box.

    Args:
        boxes: (N, 4) xyxy.
        matrix: (2, 3) affine matrix mapping source (x, y, 1) to target (x', y').

    Returns:
        (N, 4) float32 xyxy in the target frame (not clipped).
    """
    if len(boxes) == 0:
        return boxes.astype(np.float32).reshape(0, 4)
    x1, y1, x2, y2 = boxes.T
    xs = np.stack([x1, x2, x2, x1], axis=1)  # (N, 4) corner x
    ys = np.stack([y1, y1, y2, y2], axis=1)
    tx = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
    ty = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
    return np.stack([tx.min(1), ty.min(1), tx.max(1), ty.max(1)], axis=1).astype(np.float32)


def clip_boxes(boxes: np.ndarray, width: float, height: float) -> np.ndarray:
    """Boxes clipped to ``[0, width] x [0, height]`` (a new array)."""
    out = boxes.copy()
    np.clip(out[:, 0::2], 0, width, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, height, out=out[:, 1::2])
    return out


def keep_instances(results: dict, keep: np.ndarray) -> None:
    """Index every per-instance entry of ``results`` (``INSTANCE_KEYS``) with ``keep``."""
    if keep.all():
        return
    for key in INSTANCE_KEYS:
        value = results.get(key)
        if value is not None:
            results[key] = value[keep]
