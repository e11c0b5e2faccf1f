"""Spatial pooling of class score maps to image-level logits (CAM-family baselines).

Pure torch. Every function takes class score maps ``maps`` (B, K, h, w) (a 1x1
convolution of the backbone features, one map per class) and returns logits (B, K).

* :func:`gap_pool`: the mean over positions (CheXNet: global average pooling, then a
  linear classifier, which equals the mean of the 1x1-conv maps; the maps are the CAMs).
* :func:`lse_pool_maps`: log-sum-exp pooling (the CXR8 paper's "LSE model"):
  ``(1/r) log(mean exp(r s))``, the mean as r -> 0, the max as r -> inf.
* :func:`weldon_pool`: max-min pooling (WELDON, Durand et al. CVPR 2016; with alpha as in
  WILDCAT): the mean of the k+ highest scores plus alpha times the mean of the k- lowest.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

POOLINGS = ('gap', 'lse', 'weldon')


def _flat(maps: Tensor) -> Tensor:
    if maps.dim() != 4:
        raise ValueError(f'pooling expects class maps (B, K, h, w), got {tuple(maps.shape)}')
    return maps.flatten(2)


def gap_pool(maps: Tensor) -> Tensor:
    """(B, K, h, w) -> (B, K) mean over positions."""
    return _flat(maps).mean(-1)


def lse_pool_maps(maps: Tensor, r: float = 10.0) -> Tensor:
    """(B, K, h, w) -> (B, K) ``(1/r) * log(mean_ij exp(r * s_ij))`` (r > 0)."""
    if r <= 0:
        raise ValueError(f'lse pooling: r must be > 0, got {r}')
    flat = _flat(maps)
    return (torch.logsumexp(r * flat, dim=-1) - math.log(flat.shape[-1])) / r


def weldon_pool(maps: Tensor, k_pos: int = 3, k_neg: int = 3, alpha: float = 1.0
                ) -> Tensor:
    """(B, K, h, w) -> (B, K) ``mean(top k_pos) + alpha * mean(bottom k_neg)``.

    k values larger than the number of positions are capped at it; ``k_neg=0`` or
    ``alpha=0`` gives top-k pooling alone.
    """
    if k_pos < 1 or k_neg < 0:
        raise ValueError(f'weldon pooling: need k_pos >= 1 and k_neg >= 0, got {k_pos}, '
                         f'{k_neg}')
    flat = _flat(maps)
    n = flat.shape[-1]
    pooled = flat.topk(min(k_pos, n), dim=-1).values.mean(-1)
    if k_neg and alpha:
        pooled = pooled + alpha * flat.topk(min(k_neg, n), dim=-1,
                                            largest=False).values.mean(-1)
    return pooled


def pool_class_maps(maps: Tensor, type: str = 'gap', **kwargs) -> Tensor:  # noqa: A002
    """Dispatch on a pooling config ``dict(type='gap' | 'lse' | 'weldon', **params)``."""
    if type == 'gap':
        return gap_pool(maps, **kwargs)
    if type == 'lse':
        return lse_pool_maps(maps, **kwargs)
    if type == 'weldon':
        return weldon_pool(maps, **kwargs)
    raise ValueError(f'unknown pooling {type!r}; choose one of {POOLINGS}')
