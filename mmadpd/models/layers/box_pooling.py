"""Mean of a feature map over boxes: region features that see only their own region.

The paper's region feature is the decoder output of the region's query, whose
cross-attention may read the whole image. With region labels (Loc-ADPD) that does not
matter; with image labels only (MIL-ADPD) it lets every region of a positive image see the
lesion, and the LSE-pooled loss is then best fitted by calling every region positive. A
feature averaged over the region's own box cannot see outside it (beyond the backbone's
receptive field), so a region's pathology score has to come from the region.
"""
from __future__ import annotations

import torch
from torch import Tensor


def _cell_overlaps(lo: Tensor, hi: Tensor, cells: int) -> Tensor:
    """Overlap length of [lo, hi] (..., ) with each of ``cells`` equal cells of [0, 1]
    -> (..., cells)."""
    edges = torch.arange(cells + 1, device=lo.device, dtype=lo.dtype) / cells
    low = torch.maximum(lo[..., None], edges[:-1])
    high = torch.minimum(hi[..., None], edges[1:])
    return (high - low).clamp(min=0)


def box_average_pool(feats: Tensor, boxes: Tensor) -> Tensor:
    """Average of ``feats`` over each box, the map read as constant on each cell.

    Args:
        feats: (B, C, h, w) feature map; cell (i, j) covers [j/w, (j+1)/w) x [i/h, (i+1)/h)
            of the image in normalised coordinates.
        boxes: (B, N, 4) normalised cxcywh (the anatomy head's ``boxes``).

    Returns:
        (B, N, C): sum over cells of (cell feature x area of cell within the box) / area of
        the box within the image. A box narrower or lower than one cell reads the
        one-cell window around its centre (the map has nothing finer), so every box has a
        non-empty window and the result is finite.
    """
    if feats.dim() != 4 or boxes.dim() != 3 or boxes.shape[-1] != 4 \
            or boxes.shape[0] != feats.shape[0]:
        raise ValueError(f'box_average_pool: expected feats (B, C, h, w) and boxes '
                         f'(B, N, 4), got {tuple(feats.shape)} and {tuple(boxes.shape)}')
    h, w = feats.shape[-2:]
    boxes = boxes.to(feats.dtype)
    centre = boxes[..., :2].clamp(0, 1)
    half = torch.maximum(boxes[..., 2:] / 2,
                         boxes.new_tensor([0.5 / w, 0.5 / h]))
    lo, hi = centre - half, centre + half
    over_x = _cell_overlaps(lo[..., 0], hi[..., 0], w)  # (B, N, w)
    over_y = _cell_overlaps(lo[..., 1], hi[..., 1], h)  # (B, N, h)
    weights = (over_y[..., :, None] * over_x[..., None, :]).flatten(2)  # (B, N, h*w)
    weights = weights / weights.sum(-1, keepdim=True)
    return torch.bmm(weights, feats.flatten(2).transpose(1, 2))
