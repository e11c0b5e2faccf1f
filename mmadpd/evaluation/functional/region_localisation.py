"""Does a region classifier localise, or only classify? Within-image region ranking.

For one image and one pathology that is positive in some of its regions and negative in
others, the AUROC of the predicted region probabilities for the region labels says whether
the positive regions rank above the negative ones *in the same image* (1.0: always, 0.5:
no better than chance). An image-level classifier that fires in every region scores 0.5
however well it classifies images; Table 1's box metrics cannot tell the two apart.
"""
from __future__ import annotations

from typing import Dict

import numpy as np


def pairwise_auroc(pos: np.ndarray, neg: np.ndarray) -> float:
    """AUROC of scores ``pos`` (P,) vs ``neg`` (N,): P(pos > neg) + 0.5 P(tie)."""
    pos, neg = np.asarray(pos, float)[:, None], np.asarray(neg, float)[None]
    return float((pos > neg).mean() + 0.5 * (pos == neg).mean())


def region_localisation(probs: np.ndarray, labels: np.ndarray, thr: float = 0.5) -> Dict:
    """Within-image localisation numbers of one image.

    Args:
        probs: (R, C) predicted region probabilities.
        labels: (R, C) bool region labels (ground truth).
        thr: probability above which a region counts as predicted positive.

    Returns:
        ``{"auroc": [..], "pred_positive": [..], "gt_positive": [..], "p_pos": [..],
        "p_neg": [..]}``, one entry per class that has both positive and negative regions
        in this image (mean probability of its positive / negative regions in p_pos/p_neg).
    """
    probs, labels = np.asarray(probs, float), np.asarray(labels, bool)
    if probs.shape != labels.shape or probs.ndim != 2:
        raise ValueError(f'region_localisation: probs and labels must both be (R, C), got '
                         f'{probs.shape} and {labels.shape}')
    out = dict(auroc=[], pred_positive=[], gt_positive=[], p_pos=[], p_neg=[])
    for c in range(probs.shape[1]):
        pos = labels[:, c]
        if not pos.any() or pos.all():
            continue
        out['auroc'].append(pairwise_auroc(probs[pos, c], probs[~pos, c]))
        out['pred_positive'].append(int((probs[:, c] > thr).sum()))
        out['gt_positive'].append(int(pos.sum()))
        out['p_pos'].append(float(probs[pos, c].mean()))
        out['p_neg'].append(float(probs[~pos, c].mean()))
    return out
