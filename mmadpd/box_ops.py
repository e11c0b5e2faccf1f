"""Box conversions and the network-input -> original-pixel mapping (pure torch / numpy).

One coordinate convention per layer (DESIGN.md): COCO ``bbox`` = [x, y, w, h] original
pixels; pipeline ``gt_bboxes`` = xyxy pixels of the network input; head output =
normalised (cx, cy, w, h) of the network input; ``pred_instances`` = xyxy ORIGINAL pixels.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor


def box_cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """(..., 4) (cx, cy, w, h) -> (..., 4) (x1, y1, x2, y2); the numbers of mmdet's
    ``bbox_cxcywh_to_xyxy`` (``cx - 0.5 * w``, ...)."""
    centre, half = boxes[..., :2], 0.5 * boxes[..., 2:]
    return torch.cat([centre - half, centre + half], -1)


def box_xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    """(..., 4) (x1, y1, x2, y2) -> (..., 4) (cx, cy, w, h); the numbers of mmdet's
    ``bbox_xyxy_to_cxcywh`` (``(x1 + x2) / 2``, ``x2 - x1``, ...)."""
    low, high = boxes[..., :2], boxes[..., 2:]
    return torch.cat([(low + high) / 2, high - low], -1)


def box_xywh_to_xyxy(bbox: Sequence[float]) -> List[float]:
    """One COCO box [x, y, w, h] -> [x1, y1, x2, y2] as Python floats."""
    x, y, w, h = bbox
    return [float(x), float(y), float(x + w), float(y + h)]


def box_area(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy array -> (N,) areas (0 for inverted boxes; continuous coordinates,
    width = x2 - x1, no ``+ 1`` pixel convention)."""
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1],
                                                                  0, None)


def input_shape_of(sample) -> Tuple[int, int]:
    """(h, w) of the network input a data sample's boxes live in: the padded batch shape
    set by the data preprocessor, else ``pad_shape``, else ``img_shape``.

    Raises:
        KeyError: the sample has none of the three.
    """
    for key in ('batch_input_shape', 'pad_shape', 'img_shape'):
        # get() reads one attribute; ``sample.metainfo`` would build a dict of all keys
        shape = sample.get(key)
        if shape is not None:
            h, w = shape[:2]
            return int(h), int(w)
    raise KeyError('data sample has none of batch_input_shape/pad_shape/img_shape in its '
                   'metainfo; cannot normalise its boxes')


def boxes_to_original(boxes: Tensor, samples: Sequence) -> Tensor:
    """Normalised cxcywh of the network input (B, R, 4) -> xyxy ORIGINAL pixels (B, R, 4).

    Per sample: network px = normalised * (w, h) of the padded input, then
    :func:`input_pixels_to_original`.
    """
    net = [(w, h, w, h) for h, w in map(input_shape_of, samples)]
    scale = torch.tensor(net, dtype=torch.float32, device=boxes.device)[:, None]
    return input_pixels_to_original(box_cxcywh_to_xyxy(boxes.float()) * scale, samples)


def input_pixels_to_original(xyxy: Tensor, samples: Sequence) -> Tensor:
    """xyxy in network-input pixels (B, R, 4) -> xyxy ORIGINAL pixels (B, R, 4).

    Per sample: original = network px / ``scale_factor`` (w_scale, h_scale) +
    ``crop_offset`` (x, y) if a crop was applied; then clamped to ``ori_shape``. Letterbox
    padding is bottom/right, so it needs no shift. Missing metainfo means "not resized /
    not cropped / same size".
    """
    scale, offset, upper = [], [], []
    for sample in samples:
        meta = sample.metainfo
        sx, sy = meta['scale_factor'][:2] if 'scale_factor' in meta else (1.0, 1.0)
        ox, oy = (meta['crop_offset'][:2] if meta.get('crop_offset') is not None
                  else (0.0, 0.0))
        oh, ow = meta['ori_shape'][:2] if 'ori_shape' in meta else input_shape_of(sample)
        scale.append((sx, sy, sx, sy))
        offset.append((ox, oy, ox, oy))
        upper.append((ow, oh, ow, oh))

    def column(values):  # (B, 1, 4), broadcast over the boxes
        return torch.tensor(values, dtype=torch.float32, device=xyxy.device)[:, None]

    # x / 1 and x + 0 are exact: samples without a scale or crop are unchanged
    xyxy = xyxy.float() / column(scale) + column(offset)
    return torch.minimum(xyxy.clamp(min=0), column(upper))
