"""Average precision of one class: greedy matching with a STRICT IoU threshold and the
101-point interpolated precision envelope (pure numpy).

Protocol (FACTS §6, the reference implementation of ADPD):
* detections of a class are visited by descending score; a detection matches the
  still-unmatched ground-truth box of its image with the highest IoU if that IoU is
  STRICTLY greater than the threshold (pycocotools uses ``>=``);
* precision/recall are taken after every detection of the score-sorted list;
* AP = mean over the 101 recall levels r in {0, 0.01, ..., 1} of the maximum precision at
  any recall >= r (0 where the recall is never reached).
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

#: The 101 recall levels (the same float values as pycocotools' ``params.recThrs``).
RECALL_THRS = np.linspace(0.0, 1.0, 101)


def match_detections(ious: np.ndarray, iou_thrs: Sequence[float]) -> np.ndarray:
    """Greedy one-to-one matching of one image's detections of one class.

    Args:
        ious: (D, G) IoU of each detection with each ground-truth box; rows must already
            be in descending score order.
        iou_thrs: (T,) thresholds; a match needs ``IoU > thr`` (strict).

    Returns:
        (T, D) bool, True where detection d is a true positive at threshold t.
    """
    ious = np.asarray(ious, dtype=np.float64)
    num_det, num_gt = ious.shape
    thrs = np.asarray(iou_thrs, dtype=np.float64).reshape(-1)
    tp = np.zeros((len(thrs), num_det), dtype=bool)
    if num_det == 0 or num_gt == 0:
        return tp
    for t, thr in enumerate(thrs):
        free = np.ones(num_gt, dtype=bool)
        for d in range(num_det):
            cand = np.where(free, ious[d], -1.0)
            g = int(np.argmax(cand))  # first of equal IoUs wins
            if cand[g] > thr:
                free[g] = False
                tp[t, d] = True
    return tp


def precision_recall(scores, is_tp, num_gt: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall after each detection of the score-sorted list.

    Args:
        scores: (D,) detection scores, pooled over all images, in image order.
        is_tp: (D,) bool true-positive flags (one threshold).
        num_gt: number of ground-truth boxes of the class (> 0).

    Returns:
        ``(sorted_scores, precision, recall)``, each (D,). The sort is STABLE (mergesort),
        so equal scores keep the input order: image order, then box order (as pycocotools).
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    is_tp = np.asarray(is_tp, dtype=bool).reshape(-1)
    if num_gt <= 0:
        raise ValueError('precision_recall needs at least one ground-truth box')
    order = np.argsort(-scores, kind='mergesort')
    tp_cum = np.cumsum(is_tp[order]).astype(np.float64)
    fp_cum = np.cumsum(~is_tp[order]).astype(np.float64)
    precision = tp_cum / np.maximum(tp_cum + fp_cum, 1.0)
    recall = tp_cum / float(num_gt)
    return scores[order], precision, recall


def precision_envelope(precision: np.ndarray) -> np.ndarray:
    """(D,) running maximum of precision from the right: max precision at recall >= r_i."""
    precision = np.asarray(precision, dtype=np.float64)
    if precision.size == 0:
        return precision
    return np.maximum.accumulate(precision[::-1])[::-1]


def interpolated_ap(precision, recall, recall_thrs=RECALL_THRS) -> float:
    """101-point interpolated AP (as a fraction in [0, 1]).

    Args:
        precision: (D,) precision after each detection (score order).
        recall: (D,) non-decreasing recall after each detection.
        recall_thrs: (R,) recall levels.

    Returns:
        mean over r of max{precision_i : recall_i >= r}, 0 for unreached levels.
    """
    precision = np.asarray(precision, dtype=np.float64)
    recall = np.asarray(recall, dtype=np.float64)
    if precision.size == 0:
        return 0.0
    env = precision_envelope(precision)
    idx = np.searchsorted(recall, np.asarray(recall_thrs, dtype=np.float64), side='left')
    reached = idx < len(recall)
    q = np.zeros(len(idx), dtype=np.float64)
    q[reached] = env[idx[reached]]
    return float(q.mean())
