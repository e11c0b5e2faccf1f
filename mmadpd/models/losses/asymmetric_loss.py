"""Asymmetric loss (ASL; Ridnik et al., ICCV 2021) for multi-label classification.

ADPD uses gamma_neg 4, gamma_pos 1, clip 0.05, eps 1e-8 and a total weight of 0.01.
Reduction is explicit because the paper and its released code disagree: the text says
"average over regions and pathologies" (``'mean'``), the released code used a timm ASL that
returned the SUM over all elements of the batch (``'sum'``), which produced the paper's
numbers and is the configs' default.

Deviation from the reference: with ``batch_normalize_to`` (the configs: 128, the paper's
batch) the summed loss is divided by the LOCAL batch size and multiplied by 128, so that
1 x 128, 2 x 64 (DDP averages the ranks' gradients) and 1 x 16 train with the same
per-sample gradient scale; the reference's sum grew with the batch (at 128 on one GPU
both are the same number).
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
    _check(probs, targets, reduction)
    targets = targets.to(probs.dtype)
    p_neg = 1 - probs
    if clip is not None and clip > 0:
        p_neg = (p_neg + clip).clamp(max=1)
    loss_pos = (1 - probs) ** gamma_pos * torch.log(probs.clamp(min=eps))
    loss_neg = (1 - p_neg) ** gamma_neg * torch.log(p_neg.clamp(min=eps))
    loss = -(targets * loss_pos + (1 - targets) * loss_neg)
    return _reduce(loss, mask, reduction)


def asymmetric_loss_fused(probs: Tensor, targets: Tensor, mask: Optional[Tensor] = None,
                          gamma_neg: float = 4.0, gamma_pos: float = 1.0,
                          clip: float = 0.05, eps: float = 1e-8,
                          reduction: str = 'sum') -> Tensor:
    """:func:`asymmetric_loss` in fewer operators (each a kernel launch per eager step),
    equal up to float rounding: 1 - y once, the focusing exponent and p_t as one
    multiply-add each, and the minus sign applied to the reduced value (exact: negation
    commutes with rounding). The fast config's choice (``fused=True``)."""
    _check(probs, targets, reduction)
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
    return -_reduce(gain, mask, reduction)


def _check(probs: Tensor, targets: Tensor, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f'asymmetric_loss: reduction must be one of {REDUCTIONS}, '
                         f'got {reduction!r}')
    if probs.shape != targets.shape:
        raise ValueError(f'asymmetric_loss: probs {tuple(probs.shape)} and targets '
                         f'{tuple(targets.shape)} differ in shape')


def _reduce(loss: Tensor, mask: Optional[Tensor], reduction: str) -> Tensor:
    """Elementwise ``loss`` masked (0 = left out) and reduced (see :func:`asymmetric_loss`)."""
    if mask is not None:
        mask = mask.to(loss.dtype).expand_as(loss)
        loss = loss * mask
    if reduction == 'none':
        return loss
    if reduction == 'sum':
        return loss.sum()
    if mask is None:
        # a Python count, not a tensor made from it: that would be a host->device copy
        # at every step, which a CUDA-graph capture refuses
        return loss.sum() / max(loss.numel(), 1)
    return loss.sum() / mask.sum().clamp(min=1)


@MODELS.register_module()
class AsymmetricLoss(nn.Module):
    """Registered ASL.

    Args:
        use_sigmoid: inputs are logits (True) or probabilities (False).
        gamma_neg, gamma_pos, clip, eps: ASL parameters (see :func:`asymmetric_loss`).
        reduction: ``'sum'`` (released code, default) or ``'mean'`` (paper text).
        loss_weight: multiplies the reduced loss.
        batch_normalize_to: None, or the batch size B0 the summed loss is scaled to:
            ``loss * B0 / B`` with B the local batch (``pred.shape[0]``); see the module
            docstring. Only with ``reduction='sum'``.
        fused: compute with :func:`asymmetric_loss_fused` (same numbers up to float
            rounding, fewer operators; the fast config's choice).
    """

    def __init__(self, use_sigmoid: bool = True, gamma_neg: float = 4.0,
                 gamma_pos: float = 1.0, clip: float = 0.05, eps: float = 1e-8,
                 reduction: str = 'sum', loss_weight: float = 0.01,
                 batch_normalize_to: Optional[int] = None, fused: bool = False) -> None:
        super().__init__()
        if reduction not in REDUCTIONS:
            raise ValueError(f'AsymmetricLoss: reduction must be one of {REDUCTIONS}, '
                             f'got {reduction!r}')
        if batch_normalize_to is not None and (reduction != 'sum'
                                               or int(batch_normalize_to) < 1):
            raise ValueError('AsymmetricLoss: batch_normalize_to needs reduction=\'sum\' '
                             f'and a positive batch size, got {batch_normalize_to!r} with '
                             f'reduction={reduction!r}')
        self.use_sigmoid = use_sigmoid
        self.gamma_neg, self.gamma_pos = gamma_neg, gamma_pos
        self.clip, self.eps = clip, eps
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.batch_normalize_to = batch_normalize_to
        self.loss_fn = asymmetric_loss_fused if fused else asymmetric_loss

    def forward(self, pred: Tensor, target: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """pred: (B, ..., C) logits or probabilities; target: same shape 0/1; mask: 0 =
        skip."""
        weight = self.loss_weight
        if self.batch_normalize_to is not None:  # folded into the weight: no extra op
            weight = weight * self.batch_normalize_to / pred.shape[0]
        # Float32 for the logs: under AMP the probabilities of easy negatives underflow.
        pred = pred.float()
        probs = pred.sigmoid() if self.use_sigmoid else pred
        return weight * self.loss_fn(
            probs, target.float(), mask, gamma_neg=self.gamma_neg, gamma_pos=self.gamma_pos,
            clip=self.clip, eps=self.eps, reduction=self.reduction)
