"""Localisation accuracy ("loc-acc") of the ADPD reference implementation (pure numpy).

Per class and image, with only predictions of score > ``score_thr`` (strict):
* no ground truth and no prediction -> one true negative;
* otherwise TP = number of ground-truth boxes whose BEST IoU with any prediction is
  > t (strict), FP = n_pred - TP, FN = n_gt - TP (nothing when one side is empty but the
  counts n_pred / n_gt still go into FP / FN).
Counts are summed over images; per-class accuracy = (TP+TN) / (TP+TN+FP+FN); loc-acc at t
is the mean over classes. Note: TP is not one-to-one (one prediction may cover two GT
boxes, then FP can go negative), exactly as the reference; with top-1 per class and CXR8
(never two boxes of a class per image) this cannot happen.
"""
from __future__ import annotations

from typing import Dict, Sequence

import numpy as np


def loc_counts_one(ious: np.ndarray, iou_thrs: Sequence[float]) -> Dict[str, np.ndarray]:
    """Counts of one image and class.

    Args:
        ious: (P, G) IoU of the kept predictions with the ground-truth boxes.
        iou_thrs: (T,) thresholds.

    Returns:
        dict with ``tp`` (T,), ``n_pred``, ``n_gt``, ``tn`` (ints).
    """
    ious = np.asarray(ious, dtype=np.float64)
    n_pred, n_gt = ious.shape
    thrs = np.asarray(iou_thrs, dtype=np.float64).reshape(-1)
    tp = np.zeros(len(thrs), dtype=np.int64)
    tn = int(n_pred == 0 and n_gt == 0)
    if n_pred and n_gt:
        best = ious.max(axis=0)  # (G,) best prediction for each GT box
        tp = (best[:, None] > thrs[None, :]).sum(axis=0).astype(np.int64)
    return dict(tp=tp, n_pred=n_pred, n_gt=n_gt, tn=tn)


def loc_accuracy(tp: np.ndarray, tn: np.ndarray, n_pred: np.ndarray,
                 n_gt: np.ndarray) -> Dict[str, np.ndarray]:
    """Per-class accuracy from summed counts.

    Args:
        tp: (C, T) summed true positives.
        tn: (C,) summed true negatives.
        n_pred: (C,) summed number of kept predictions.
        n_gt: (C,) summed number of ground-truth boxes.

    Returns:
        dict with ``acc`` (C, T) (NaN only for a class seen on no image), ``fp`` (C, T),
        ``fn`` (C, T) and ``tn`` (C, T) (broadcast).
    """
    tp = np.asarray(tp, dtype=np.float64)
    tn = np.broadcast_to(np.asarray(tn, dtype=np.float64)[:, None], tp.shape)
    fp = np.asarray(n_pred, dtype=np.float64)[:, None] - tp
    fn = np.asarray(n_gt, dtype=np.float64)[:, None] - tp
    denom = tp + tn + fp + fn
    acc = np.full(tp.shape, np.nan)
    np.divide(tp + tn, denom, out=acc, where=denom > 0)
    return dict(acc=acc, fp=fp, fn=fn, tn=np.array(tn))
