"""Log-sum-exp pooling of region probabilities to image level, and the MIL loss on it.

MIL-ADPD has no region-level pathology labels: the region probabilities of an image are
pooled with LSE (r = 5) and the image probability is trained with ASL against the image
labels (OR over regions). Its summed ASL grows with the batch as the region ASL's does;
the configs scale it the same way (``loss_cls.batch_normalize_to=128``, B = images).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor, nn

from mmdet.registry import MODELS

ABSENT_MODES = ('exclude', 'all_regions')


def lse_pool(probs: Tensor, present: Tensor, r: float = 5.0, absent: str = 'exclude'
             ) -> Tensor:
    """LSE pooling over regions (pure torch).

    ``pool = (1/r) * log( (1/n) * sum_{present i} exp(r * p_i) )``; it tends to the max of
    the present regions as r -> inf and to their mean as r -> 0 (``absent='exclude'``).

    Args:
        probs: (B, R, C) region probabilities.
        present: (B, R) bool, the regions that take part.
        r: sharpness, > 0.
        absent: ``'exclude'`` divides by the number of present regions (a proper mean,
            default); ``'all_regions'`` divides by R as the reference code did, which
            lowers the pooled value of images with few visible regions.

    Returns:
        (B, C) pooled probabilities clamped to [0, 1]; rows of images without any present
        region are 0 (callers must mask them out of the loss).
    """
    if absent not in ABSENT_MODES:
        raise ValueError(f'lse_pool: absent must be one of {ABSENT_MODES}, got {absent!r}')
    if r <= 0:
        raise ValueError(f'lse_pool: r must be > 0, got {r}')
    if probs.dim() != 3 or present.shape != probs.shape[:2]:
        raise ValueError(f'lse_pool: expected probs (B, R, C) and present (B, R), got '
                         f'{tuple(probs.shape)} and {tuple(present.shape)}')
    present = present.bool()
    has_any = present.any(dim=1, keepdim=True)
    # Images without any present region pool over all regions (finite, so no NaN
    # gradient) and are zeroed below.
    take = present | ~has_any
    logits = (r * probs).masked_fill(~take[..., None], float('-inf'))
    if absent == 'exclude':
        count = present.sum(dim=1, keepdim=True).clamp(min=1).to(probs.dtype)
        log_n = torch.log(count)
    else:
        # a Python float, not a tensor made from it (a host->device copy each step,
        # which a CUDA-graph capture also refuses)
        log_n = math.log(probs.shape[1])
    pooled = (torch.logsumexp(logits, dim=1) - log_n) / r
    pooled = torch.where(has_any, pooled, torch.zeros_like(pooled))
    return pooled.clamp(0.0, 1.0)


@MODELS.register_module()
class LSEPoolMILLoss(nn.Module):
    """Image-level ASL on LSE-pooled region probabilities.

    Args:
        r: LSE sharpness (5 in ADPD).
        absent: how absent regions enter the mean, see :func:`lse_pool`.
        loss_cls: config of the image-level loss on probabilities (an ASL with
            ``use_sigmoid=False``).
    """

    def __init__(self, r: float = 5.0, absent: str = 'exclude',
                 loss_cls: Optional[dict] = None) -> None:
        super().__init__()
        if absent not in ABSENT_MODES:
            raise ValueError(f'LSEPoolMILLoss: absent must be one of {ABSENT_MODES}, '
                             f'got {absent!r}')
        self.r, self.absent = r, absent
        loss_cls = loss_cls or dict(type='AsymmetricLoss', use_sigmoid=False)
        self.loss_cls = MODELS.build(loss_cls)

    def forward(self, region_logits: Tensor, present: Tensor, image_labels: Tensor) -> Tensor:
        """region_logits (B, R, C); present (B, R) bool; image_labels (B, C) 0/1."""
        probs = region_logits.float().sigmoid()
        pooled = lse_pool(probs, present, self.r, self.absent)
        # Images without any present region carry no evidence: left out of the loss.
        mask = present.any(dim=1, keepdim=True).expand_as(pooled)
        return self.loss_cls(pooled, image_labels.to(pooled.dtype), mask)
