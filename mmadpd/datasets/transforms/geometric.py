"""Geometric training augmentations for grey chest X-rays (never a flip).

mmdet's ``RandomCrop`` is not box-safe and its ``RandomAffine`` warps with a perspective
matrix on ``HorizontalBoxes`` and forgets per-instance extras (``gt_pathology_labels``),
so the two transforms of the paper's pipeline are written here: one OpenCV call on the
uint8 grey image each, boxes transformed with the same matrix.

Coordinates: ``gt_bboxes`` are (N, 4) float32 xyxy pixels of the current image, continuous
convention (pixel ``i`` covers ``[i, i + 1)``). Both transforms update ``img_shape`` and
keep ``scale_factor`` / ``crop_offset`` such that ``orig = net / scale_factor +
crop_offset`` holds after the crop (the affine is a training-only jitter and is not
recorded).

Boxes that leave the image: clipped to it; an instance is DROPPED (all per-instance keys,
see ``box_ops.keep_instances``) when less than ``min_visible_ratio`` of its transformed
area stays inside or it becomes thinner than ``min_size`` px -- the region then counts as
absent for that sample, which is what the anatomy head is trained to predict.
"""
from __future__ import annotations

import math
from typing import Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS

from .box_ops import affine_boxes, as_box_array, box_area, clip_boxes, eroded_union, \
    keep_instances

_INTERP = {'nearest': cv2.INTER_NEAREST, 'linear': cv2.INTER_LINEAR,
           'area': cv2.INTER_AREA, 'cubic': cv2.INTER_CUBIC}


def _boxes(results: dict) -> np.ndarray:
    boxes = results.get('gt_bboxes')
    return np.zeros((0, 4), np.float32) if boxes is None else as_box_array(boxes)


def _drop_small(results: dict, boxes: np.ndarray, min_size: float,
                visible: np.ndarray = None, min_visible_ratio: float = 0.0) -> None:
    keep = ((boxes[:, 2] - boxes[:, 0]) >= min_size) & ((boxes[:, 3] - boxes[:, 1]) >= min_size)
    if visible is not None:
        keep &= visible >= min_visible_ratio
    results['gt_bboxes'] = boxes
    keep_instances(results, keep)


@TRANSFORMS.register_module()
class RandomResizedBBoxSafeCrop(BaseTransform):
    """Random crop that keeps (the eroded core of) every box, resized to ``size``.

    The crop ``[x1, x2) x [y1, y2)`` is drawn as ``x1 ~ U(0, ux1)``, ``x2 ~ U(ux2, W)``
    (same for y), where ``(ux1, uy1, ux2, uy2)`` encloses all boxes each shrunk by
    ``erosion_rate`` of its size on every side; the crop is then resized to
    ``size x size`` (the aspect ratio changes, as in the paper's pipeline). Without boxes
    the whole image is resized.

    Args:
        size: output side in pixels (224).
        erosion_rate: fraction of a box's width/height a crop may cut off each side (0.2).
        interpolation: 'linear' | 'area' | 'cubic' | 'nearest'.
        min_size: instances thinner than this (px, after resizing) are dropped.
    """

    def __init__(self, size: int = 224, erosion_rate: float = 0.2,
                 interpolation: str = 'linear', min_size: float = 1.0) -> None:
        if not 0 <= erosion_rate < 0.5:
            raise ValueError(f'erosion_rate must be in [0, 0.5), got {erosion_rate}')
        self.size = int(size)
        self.erosion_rate = float(erosion_rate)
        self.interpolation = _INTERP[interpolation]
        self.min_size = float(min_size)

    def _sample_crop(self, boxes: np.ndarray, width: int, height: int) -> Tuple[int, ...]:
        union = eroded_union(clip_boxes(boxes, width, height), self.erosion_rate)
        if union is None:
            return 0, 0, width, height
        ux1, uy1 = min(max(union[0], 0.0), width), min(max(union[1], 0.0), height)
        ux2, uy2 = min(max(union[2], ux1), width), min(max(union[3], uy1), height)
        x1 = int(math.floor(np.random.uniform(0.0, ux1)))
        y1 = int(math.floor(np.random.uniform(0.0, uy1)))
        x2 = int(math.ceil(np.random.uniform(ux2, width)))
        y2 = int(math.ceil(np.random.uniform(uy2, height)))
        return x1, y1, max(x2, x1 + 1), max(y2, y1 + 1)

    def transform(self, results: dict) -> dict:
        img = results['img']
        height, width = img.shape[:2]
        boxes = _boxes(results)
        x1, y1, x2, y2 = self._sample_crop(boxes, width, height)
        sx, sy = self.size / (x2 - x1), self.size / (y2 - y1)
        results['img'] = cv2.resize(img[y1:y2, x1:x2], (self.size, self.size),
                                    interpolation=self.interpolation)
        results['img_shape'] = (self.size, self.size)

        boxes = clip_boxes(boxes - np.array([x1, y1, x1, y1], np.float32), x2 - x1, y2 - y1)
        boxes *= np.array([sx, sy, sx, sy], np.float32)
        _drop_small(results, boxes, self.min_size)

        # compose with an earlier rescale: orig = net / scale_factor + crop_offset
        old_sx, old_sy = results.get('scale_factor', (1.0, 1.0))
        off_x, off_y = results.get('crop_offset', (0.0, 0.0))
        results['crop_offset'] = (off_x + x1 / old_sx, off_y + y1 / old_sy)
        results['scale_factor'] = (old_sx * sx, old_sy * sy)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(size={self.size}, '
                f'erosion_rate={self.erosion_rate})')


@TRANSFORMS.register_module()
class RandomSimilarityAffine(BaseTransform):
    """Random small rotation + isotropic scale + translation (no shear, no flip).

    ``angle ~ U(-max_rotate_degree, max_rotate_degree)`` about the image centre,
    ``scale ~ U(*scaling_ratio_range)``, shift ``~ U(-r, r) * (W, H)`` with
    ``r = max_translate_ratio``. The output keeps the input size; uncovered pixels are
    ``border_val``. Boxes: the enclosing box of the 4 transformed corners, clipped; see
    the module docstring for when an instance is dropped.

    Args:
        max_rotate_degree: 2.0 in the paper's pipeline.
        scaling_ratio_range: (0.95, 1.0).
        max_translate_ratio: 0.02.
        border_val: grey value of uncovered pixels.
        min_visible_ratio: drop an instance when less of its transformed area stays
            inside the image (0.5).
        min_size: drop an instance thinner than this many pixels.
    """

    def __init__(self, max_rotate_degree: float = 2.0,
                 scaling_ratio_range: Tuple[float, float] = (0.95, 1.0),
                 max_translate_ratio: float = 0.02, border_val: int = 0,
                 min_visible_ratio: float = 0.5, min_size: float = 1.0) -> None:
        self.max_rotate_degree = float(max_rotate_degree)
        self.scaling_ratio_range = tuple(scaling_ratio_range)
        self.max_translate_ratio = float(max_translate_ratio)
        self.border_val = int(border_val)
        self.min_visible_ratio = float(min_visible_ratio)
        self.min_size = float(min_size)

    def sample_matrix(self, width: int, height: int) -> np.ndarray:
        """A random (2, 3) matrix in continuous pixel coordinates."""
        angle = np.random.uniform(-self.max_rotate_degree, self.max_rotate_degree)
        scale = np.random.uniform(*self.scaling_ratio_range)
        tx = np.random.uniform(-self.max_translate_ratio, self.max_translate_ratio) * width
        ty = np.random.uniform(-self.max_translate_ratio, self.max_translate_ratio) * height
        return similarity_matrix(width, height, angle, scale, tx, ty)

    def transform(self, results: dict) -> dict:
        img = results['img']
        height, width = img.shape[:2]
        matrix = self.sample_matrix(width, height)
        results['img'] = warp_image(img, matrix, self.border_val)
        boxes = _boxes(results)
        moved = affine_boxes(boxes, matrix)
        clipped = clip_boxes(moved, width, height)
        visible = box_area(clipped) / np.maximum(box_area(moved), 1e-6)
        _drop_small(results, clipped, self.min_size, visible, self.min_visible_ratio)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(max_rotate_degree={self.max_rotate_degree}, '
                f'scaling_ratio_range={self.scaling_ratio_range}, '
                f'max_translate_ratio={self.max_translate_ratio})')


def similarity_matrix(width: int, height: int, angle: float, scale: float, tx: float,
                      ty: float) -> np.ndarray:
    """(2, 3) matrix: rotate by ``angle`` degrees (counter-clockwise on screen) and scale
    about the image centre, then shift by ``(tx, ty)``; continuous pixel coordinates."""
    rad = math.radians(angle)
    a, b = scale * math.cos(rad), scale * math.sin(rad)
    cx, cy = width / 2.0, height / 2.0
    # y points down, so a counter-clockwise turn on screen is x' = a x + b y, y' = -b x + a y
    return np.array([[a, b, (1 - a) * cx - b * cy + tx],
                     [-b, a, b * cx + (1 - a) * cy + ty]], dtype=np.float64)


def warp_image(img: np.ndarray, matrix: np.ndarray, border_val: int = 0) -> np.ndarray:
    """Warp with a continuous-coordinate matrix (OpenCV samples pixel centres, so the
    matrix is shifted by half a pixel on both sides)."""
    pix = matrix.copy()
    pix[:, 2] += pix[:, :2].sum(1) * 0.5 - 0.5
    return cv2.warpAffine(img, pix, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=border_val)
