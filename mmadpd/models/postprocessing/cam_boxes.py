"""Boxes from class activation maps (the CAM-family baselines' post-processing).

Pure numpy + OpenCV: no registry, no torch. :class:`~mmadpd.models.detectors.CAMDetector`
upsamples its class heatmaps to the network input, calls :func:`cam_boxes` per image and
maps the boxes back to original pixels.

Coordinates: a heatmap pixel (row i, column j) covers [j, j + 1) x [i, i + 1), so the box
of a component spanning columns j0..j1 and rows i0..i1 is ``(j0, i0, j1 + 1, i1 + 1)``
(xyxy, continuous, in heatmap pixels); the whole map is ``(0, 0, W, H)``.
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np


def cam_box(heatmap: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The box of the largest connected high-activation region of one heatmap.

    The map is min-max normalised to [0, 1] (the CXR8 paper's "normalise, then threshold"
    scheme, so the threshold is relative to the map's maximum whatever its scale or
    offset); pixels with a normalised value >= ``threshold`` form the mask; its
    8-connected components are found with OpenCV and the one with the most pixels gives
    the box (equal sizes: the first in row-major scan order).

    Args:
        heatmap: (H, W) finite floats.
        threshold: in (0, 1]; chosen on the val half (a config value of the detector).

    Returns:
        (4,) float32 xyxy in heatmap pixels (see the module docstring). A flat map (max ==
        min) has no preferred location: its box is the whole map.

    Raises:
        ValueError: a map that is not 2-D or not finite, or a threshold outside (0, 1].
    """
    heatmap = np.asarray(heatmap, dtype=np.float64)
    if heatmap.ndim != 2 or heatmap.size == 0:
        raise ValueError(f'cam_box: heatmap must be a non-empty (H, W) array, got shape '
                         f'{heatmap.shape}')
    if not np.isfinite(heatmap).all():
        raise ValueError('cam_box: heatmap contains NaN or infinite values')
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f'cam_box: threshold must be in (0, 1], got {threshold}')
    height, width = heatmap.shape
    low, high = heatmap.min(), heatmap.max()
    if high <= low:
        return np.array([0, 0, width, height], dtype=np.float32)
    mask = ((heatmap - low) / (high - low) >= threshold).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    # row 0 is the background; argmax takes the first of equal areas
    x, y, w, h, _ = stats[1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))]
    return np.array([x, y, x + w, y + h], dtype=np.float32)


def cam_boxes(heatmaps: np.ndarray, scores: np.ndarray, threshold: float = 0.5
              ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One box per class: :func:`cam_box` of each class map, scored with the class's
    image-level probability.

    Args:
        heatmaps: (K, H, W) class heatmaps of one image.
        scores: (K,) image-level probabilities.
        threshold: see :func:`cam_box`.

    Returns:
        boxes (K, 4) float32 xyxy heatmap pixels, scores (K,) float32, labels (K,) int64
        (= class index).
    """
    heatmaps = np.asarray(heatmaps)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if heatmaps.ndim != 3 or heatmaps.shape[0] != scores.shape[0]:
        raise ValueError(f'cam_boxes: heatmaps (K, H, W) and scores (K,) disagree: '
                         f'{heatmaps.shape} vs {scores.shape}')
    boxes = np.stack([cam_box(m, threshold) for m in heatmaps]) if len(heatmaps) else \
        np.zeros((0, 4), np.float32)
    return boxes, scores, np.arange(len(scores), dtype=np.int64)
