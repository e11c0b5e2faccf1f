"""Generalised IoU loss of aligned box pairs, free of host-device synchronisation.

mmdet's ``GIoULoss`` computes the same value, but its ``bbox_overlaps`` builds the epsilon
with ``union.new_tensor([eps])``: a tensor made from a Python list on the GPU is a
blocking host->device copy, so every training step waited there for the GPU to finish the
forward pass (found by ``torch.cuda.set_sync_debug_mode``; the one synchronisation of the
ADPD train step). Here the epsilon is a plain ``clamp``.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor, nn

from mmdet.registry import MODELS


def aligned_giou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-6) -> Tensor:
    """GIoU of row-aligned box pairs (Rezatofighi et al., CVPR 2019).

    Args:
        boxes1, boxes2: (..., 4) boxes as (x1, y1, x2, y2), any one coordinate unit.
        eps: lower bound of the union and the enclosing area (no division by zero for
            degenerate boxes).

    Returns:
        (...) GIoU in [-1, 1].
    """
    # Few operators (each a kernel launch per training step): the element-wise min and
    # max of the two boxes hold both the intersection's and the enclosure's corners, and
    # the four areas are one product of a stacked (4, ..., 2) width/height tensor.
    low, high = boxes1.minimum(boxes2), boxes1.maximum(boxes2)
    overlap_wh = (low[..., 2:] - high[..., :2]).clamp(min=0)
    enclose_wh = (high[..., 2:] - low[..., :2]).clamp(min=0)
    wh = torch.stack([overlap_wh, enclose_wh, boxes1[..., 2:] - boxes1[..., :2],
                      boxes2[..., 2:] - boxes2[..., :2]])
    overlap, enclose, area1, area2 = _area(wh).unbind(0)
    union = (area1 + area2 - overlap).clamp(min=eps)
    enclose = enclose.clamp(min=eps)
    return overlap / union - (enclose - union) / enclose


def cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """(..., 4) boxes (cx, cy, w, h) -> (x1, y1, x2, y2): the numbers of mmdet's
    ``bbox_cxcywh_to_xyxy`` (``cx - 0.5 * w`` ...) in 4 operators instead of 9 (it splits
    into four columns and scales ``w`` and ``h`` twice each); the backward shrinks alike."""
    centre, half = boxes[..., :2], 0.5 * boxes[..., 2:]
    return torch.cat([centre - half, centre + half], -1)


def _area(wh: Tensor) -> Tensor:
    """(..., 2) widths and heights -> (...) areas. The same numbers as ``wh.prod(-1)``,
    but ``prod``'s backward handles zeros in general (cumprod, flip, where: ~15 kernels
    per call on a GPU); a product of two has a two-multiply backward."""
    return wh[..., 0] * wh[..., 1]


@MODELS.register_module()
class AlignedGIoULoss(nn.Module):
    """``loss_weight * sum(1 - GIoU) / avg_factor`` over row-aligned box pairs.

    The numbers of mmdet's ``GIoULoss`` (same eps, same reduction with ``avg_factor``:
    the sum divided by ``avg_factor + finfo(float32).eps``; mean without it), without its
    host synchronisation. ``weight`` (n,) multiplies each pair's loss (ADPD: 1 for a
    present region, 0 for an absent one; mmdet's ``GIoULoss`` checks its weights on the
    host, a synchronisation); ``avg_factor`` may be a tensor.
    """

    def __init__(self, eps: float = 1e-6, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.eps = float(eps)
        self.loss_weight = float(loss_weight)

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
        """pred, target: (n, 4) xyxy; weight: (n,) or None -> scalar loss."""
        if pred.shape != target.shape or pred.shape[-1:] != (4,):
            raise ValueError(f'AlignedGIoULoss: pred and target must both be (n, 4), got '
                             f'{tuple(pred.shape)} and {tuple(target.shape)}')
        if weight is not None and weight.shape != pred.shape[:-1]:
            raise ValueError(f'AlignedGIoULoss: weight must be {tuple(pred.shape[:-1])}, '
                             f'got {tuple(weight.shape)}')
        loss = 1 - aligned_giou(pred, target, self.eps)
        if weight is not None:
            loss = loss * weight
        if avg_factor is None:
            reduced = loss.mean()
        else:  # mmdet's weight_reduce_loss: sum / (avg_factor + float32 eps)
            reduced = loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)
        return self.loss_weight * reduced
