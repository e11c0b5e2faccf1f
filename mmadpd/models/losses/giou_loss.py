"""Generalised IoU loss of aligned box pairs, free of host-device synchronisation.

mmdet's ``GIoULoss`` computes the same value, but its ``bbox_overlaps`` builds the epsilon
with ``union.new_tensor([eps])``, a blocking host->device copy on a GPU at every step;
here the epsilon is a plain ``clamp``.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor, nn

from mmdet.registry import MODELS

from ...box_ops import box_cxcywh_to_xyxy


def aligned_giou(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-6) -> Tensor:
    """GIoU of row-aligned box pairs (Rezatofighi et al., CVPR 2019).

    Args:
        boxes1, boxes2: (..., 4) boxes as (x1, y1, x2, y2), any one coordinate unit.
        eps: lower bound of the union and the enclosing area (no division by zero for
            degenerate boxes).

    Returns:
        (...) GIoU in [-1, 1].
    """
    area1 = (boxes1[..., 2:] - boxes1[..., :2]).prod(-1)
    area2 = (boxes2[..., 2:] - boxes2[..., :2]).prod(-1)
    top_left = torch.maximum(boxes1[..., :2], boxes2[..., :2])
    bottom_right = torch.minimum(boxes1[..., 2:], boxes2[..., 2:])
    overlap = (bottom_right - top_left).clamp(min=0).prod(-1)
    union = (area1 + area2 - overlap).clamp(min=eps)
    enclose_top_left = torch.minimum(boxes1[..., :2], boxes2[..., :2])
    enclose_bottom_right = torch.maximum(boxes1[..., 2:], boxes2[..., 2:])
    enclose = (enclose_bottom_right - enclose_top_left).clamp(min=0).prod(-1)
    enclose = enclose.clamp(min=eps)
    return overlap / union - (enclose - union) / enclose


def aligned_giou_fused(boxes1: Tensor, boxes2: Tensor, eps: float = 1e-6) -> Tensor:
    """:func:`aligned_giou` in fewer operators (each a kernel launch per eager step), the
    same forward numbers: the element-wise min and max of the two boxes hold both the
    intersection's and the enclosure's corners, and the four areas are one product of a
    stacked (4, ..., 2) width/height tensor, written ``w * h`` because ``prod``'s backward
    handles zeros in general (~15 kernels per call on a GPU). The fast config's choice."""
    low, high = boxes1.minimum(boxes2), boxes1.maximum(boxes2)
    overlap_wh = (low[..., 2:] - high[..., :2]).clamp(min=0)
    enclose_wh = (high[..., 2:] - low[..., :2]).clamp(min=0)
    wh = torch.stack([overlap_wh, enclose_wh, boxes1[..., 2:] - boxes1[..., :2],
                      boxes2[..., 2:] - boxes2[..., :2]])
    overlap, enclose, area1, area2 = (wh[..., 0] * wh[..., 1]).unbind(0)
    union = (area1 + area2 - overlap).clamp(min=eps)
    enclose = enclose.clamp(min=eps)
    return overlap / union - (enclose - union) / enclose


# deprecated name (one release): the box conversions live in mmadpd.box_ops
cxcywh_to_xyxy = box_cxcywh_to_xyxy


@MODELS.register_module()
class AlignedGIoULoss(nn.Module):
    """``loss_weight * sum(1 - GIoU) / avg_factor`` over row-aligned box pairs.

    The numbers of mmdet's ``GIoULoss`` (same eps, same reduction with ``avg_factor``:
    the sum divided by ``avg_factor + finfo(float32).eps``; mean without it), without its
    host synchronisation. ``weight`` (n,) multiplies each pair's loss (ADPD: 1 for a
    present region, 0 for an absent one; mmdet's ``GIoULoss`` checks its weights on the
    host, a synchronisation); ``avg_factor`` may be a tensor. ``fused=True`` computes
    with :func:`aligned_giou_fused` (the fast config's choice).
    """

    def __init__(self, eps: float = 1e-6, loss_weight: float = 1.0,
                 fused: bool = False) -> None:
        super().__init__()
        self.eps = float(eps)
        self.loss_weight = float(loss_weight)
        self.giou = aligned_giou_fused if fused else aligned_giou

    def forward(self, pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[float, Tensor]] = None) -> Tensor:
        """pred, target: (n, 4) xyxy; weight: (n,) or None -> scalar loss."""
        if pred.shape != target.shape or pred.shape[-1:] != (4,):
            raise ValueError(f'AlignedGIoULoss: pred and target must both be (n, 4), got '
                             f'{tuple(pred.shape)} and {tuple(target.shape)}')
        if weight is not None and weight.shape != pred.shape[:-1]:
            raise ValueError(f'AlignedGIoULoss: weight must be {tuple(pred.shape[:-1])}, '
                             f'got {tuple(weight.shape)}')
        loss = 1 - self.giou(pred, target, self.eps)
        if weight is not None:
            loss = loss * weight
        if avg_factor is None:
            reduced = loss.mean()
        else:  # mmdet's weight_reduce_loss: sum / (avg_factor + float32 eps)
            reduced = loss.sum() / (avg_factor + torch.finfo(torch.float32).eps)
        return self.loss_weight * reduced
