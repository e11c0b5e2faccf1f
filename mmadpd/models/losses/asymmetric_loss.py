"""Asymmetric loss (ASL; Ridnik et al., ICCV 2021) for multi-label classification.

ADPD uses gamma_neg 4, gamma_pos 1, clip 0.05, eps 1e-8 and a total weight of 0.01.
Reduction is explicit because the paper and its released code disagree: the text says
"average over regions and pathologies" (``'mean'``), the released code used a timm ASL that
returned the SUM over all elements of the batch (``'sum'``), which produced the paper's
numbers and is the configs' default.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from mmdet.registry import MODELS

REDUCTIONS = ('sum', 'mean', 'none')


def asymmetric_loss(probs: Tensor, targets: Tensor, mask: Optional[Tensor] = None,
                    gamma_neg: float = 4.0, gamma_pos: float = 1.0, clip: float = 0.05,
                    eps: float = 1e-8, reduction: str = 'sum') -> Tensor:
    """ASL on probabilities (pure torch).

    With p = probability and y = target::

        L+ = (1 - p)^gamma_pos * log(max(p, eps))
        p_neg = min(1 - p + clip, 1)            # "probability shifting" of negatives
        L- = (1 - p_neg)^gamma_neg * log(max(p_neg, eps))
        loss = -(y * L+ + (1 - y) * L-)

    Args:
        probs: (..., C) probabilities in [0, 1].
        targets: same shape, 0/1 (soft values are accepted).
        mask: optional, broadcastable to ``probs``; 0 removes an element from the loss
            (and from the denominator of ``'mean'``).
        reduction: ``'sum'`` over kept elements, ``'mean'`` over kept elements (0 if none),
            or ``'none'`` (elementwise, masked elements are 0).
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f'asymmetric_loss: reduction must be one of {REDUCTIONS}, '
                         f'got {reduction!r}')
    if probs.shape != targets.shape:
        raise ValueError(f'asymmetric_loss: probs {tuple(probs.shape)} and targets '
                         f'{tuple(targets.shape)} differ in shape')
    # Written for few operators (each one a kernel launch per step): 1 - y once, the
    # focusing exponent and p_t as one multiply-add each, and the minus sign applied to
    # the reduced value (exact: negation commutes with rounding).
    targets = targets.to(probs.dtype)
    not_targets = 1 - targets
    p_neg = 1 - probs
    if clip is not None and clip > 0:
        p_neg = (p_neg + clip).clamp(max=1)
    log_pos = torch.log(probs.clamp(min=eps))
    log_neg = torch.log(p_neg.clamp(min=eps))
    p_t = p_neg + (probs - p_neg) * targets  # p for y = 1, p_neg for y = 0
    gamma = targets * (gamma_pos - gamma_neg) + gamma_neg
    focus = torch.pow(1 - p_t, gamma)
    gain = (targets * log_pos + not_targets * log_neg) * focus  # = -loss
    if mask is not None:
        mask = mask.to(gain.dtype).expand_as(gain)
        gain = gain * mask
    if reduction == 'none':
        return -gain
    if reduction == 'sum':
        return -gain.sum()
    if mask is None:
        # a Python count, not a tensor made from it: that would be a host->device copy
        # at every step, which a CUDA-graph capture refuses
        return -gain.sum() / max(gain.numel(), 1)
    return -gain.sum() / mask.sum().clamp(min=1)


@MODELS.register_module()
class AsymmetricLoss(nn.Module):
    """Registered ASL.

    Args:
        use_sigmoid: inputs are logits (True) or probabilities (False).
        gamma_neg, gamma_pos, clip, eps: ASL parameters (see :func:`asymmetric_loss`).
        reduction: ``'sum'`` (released code, default) or ``'mean'`` (paper text).
        loss_weight: multiplies the reduced loss.
    """

    def __init__(self, use_sigmoid: bool = True, gamma_neg: float = 4.0,
                 gamma_pos: float = 1.0, clip: float = 0.05, eps: float = 1e-8,
                 reduction: str = 'sum', loss_weight: float = 0.01) -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f'AsymmetricLoss: reduction must be one of {REDUCTIONS}, '
                             f'got {reduction!r}')
        self.use_sigmoid = use_sigmoid
        self.gamma_neg, self.gamma_pos = gamma_neg, gamma_pos
        self.clip, self.eps = clip, eps
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """pred: (..., C) logits or probabilities; target: same shape 0/1; mask: 0 = skip."""
        # Float32 for the logs: under AMP the probabilities of easy negatives underflow.
        pred = pred.float()
        probs = pred.sigmoid() if self.use_sigmoid else pred
        return self.loss_weight * asymmetric_loss(
            probs, target.float(), mask, gamma_neg=self.gamma_neg, gamma_pos=self.gamma_pos,
            clip=self.clip, eps=self.eps, reduction=self.reduction)
