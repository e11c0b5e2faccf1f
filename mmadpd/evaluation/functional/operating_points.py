"""Per-class operating thresholds: the score above which a pathology box counts as a
finding, chosen where the F1 of localisation is best (pure numpy).

A box is a *hit* when its class matches a ground-truth box of its image with IoU > t
(strict, as the AP protocol; t = 0.1 by default). Matching is the protocol's greedy one:
an image's boxes of a class are visited by descending score and each takes the still-free
GT box with the highest IoU, so every GT box counts once. Because a higher threshold only
drops the lowest-scoring boxes of each image, a box's hit/miss does not depend on the
threshold and one pass over the score-sorted boxes gives precision, recall and F1 at every
possible threshold.

Convention: a box is *positive* when ``score >= threshold``. A chosen threshold lies
halfway between the lowest kept score and the highest dropped one, so rounding scores in
an output file cannot flip a box; when every box is kept it is the ``floor`` (the
post-processor's ``prob_thr``: no box of the model scores below it).

Inputs are per-image dicts as :func:`evaluate_detections`: ``preds[i] = {'bboxes' (K, 4),
'scores' (K,), 'labels' (K,)}``, ``gts[i] = {'bboxes' (N, 4), 'labels' (N,)}``, boxes
xyxy in the same pixel frame (original pixels).
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .average_precision import match_detections
from .box_iou import as_boxes, iou_matrix
from .top1 import top1_per_class

#: IoU a box must exceed to count as a hit (the loosest threshold of the AP protocol).
DEFAULT_HIT_IOU = 0.1
#: a class with fewer val GT boxes keeps the fallback threshold (flagged).
DEFAULT_MIN_GT_BOXES = 10


def class_hits(preds: Sequence[Mapping], gts: Sequence[Mapping], label: int,
               iou_thr: float = DEFAULT_HIT_IOU, enforce_top1: bool = True
               ) -> Tuple[np.ndarray, np.ndarray, int]:
    """Scores and hit flags of all boxes of one class over a split.

    Returns:
        ``(scores (D,), is_hit (D,) bool, num_gt)``, boxes in image order, within an image
        by descending score (the order later tie-breaking keeps).
    """
    if len(preds) != len(gts):
        raise ValueError(f'{len(preds)} prediction entries but {len(gts)} ground-truth '
                         'entries; they must be one per image in the same order')
    scores, hits, num_gt = [], [], 0
    for pred, gt in zip(preds, gts):
        boxes = as_boxes(pred.get('bboxes', ()), 'pred bboxes')
        s = np.asarray(pred.get('scores', ()), np.float64).reshape(-1)
        lab = np.asarray(pred.get('labels', ()), np.int64).reshape(-1)
        if enforce_top1 and len(s):
            keep = top1_per_class(s, lab)
            boxes, s, lab = boxes[keep], s[keep], lab[keep]
        g_lab = np.asarray(gt.get('labels', ()), np.int64).reshape(-1)
        g = as_boxes(gt.get('bboxes', ()), 'gt bboxes')[g_lab == label]
        num_gt += len(g)
        idx = np.flatnonzero(lab == label)
        idx = idx[np.argsort(-s[idx], kind='mergesort')]
        scores.append(s[idx])
        hits.append(match_detections(iou_matrix(boxes[idx], g), [iou_thr])[0])
    if not scores:
        return np.zeros(0), np.zeros(0, bool), 0
    return np.concatenate(scores), np.concatenate(hits), num_gt


def counts_at(scores: np.ndarray, is_hit: np.ndarray, num_gt: int, threshold: float
              ) -> Dict[str, float]:
    """Precision, recall and F1 when the boxes with ``score >= threshold`` are positive.

    Precision is 0 when nothing is positive, recall 0 when there is no GT box.
    """
    pos = np.asarray(scores, np.float64) >= threshold
    tp = int(np.count_nonzero(np.asarray(is_hit, bool) & pos))
    n_pos = int(np.count_nonzero(pos))
    return dict(threshold=float(threshold), precision=tp / n_pos if n_pos else 0.0,
                recall=tp / num_gt if num_gt else 0.0,
                f1=2.0 * tp / (n_pos + num_gt) if n_pos + num_gt else 0.0,
                tp=tp, num_positive=n_pos, num_gt=int(num_gt))


def best_f1_threshold(scores, is_hit, num_gt: int, floor: float = 0.0) -> Dict[str, float]:
    """The threshold with the highest F1 (:func:`counts_at` fields).

    Candidate cuts are the ends of runs of equal scores (a threshold cannot split equal
    scores). Of equal F1s the highest threshold wins (fewer positives for the same F1).
    The threshold is the midpoint between the last kept and the first dropped score, or
    ``floor`` when every box is kept (the lowest score if that is below ``floor``); with
    no box at all it is ``floor`` (F1 0).
    """
    scores = np.asarray(scores, np.float64).reshape(-1)
    is_hit = np.asarray(is_hit, bool).reshape(-1)
    if not len(scores):
        return counts_at(scores, is_hit, num_gt, floor)
    order = np.argsort(-scores, kind='mergesort')
    s, h = scores[order], is_hit[order]
    tp = np.cumsum(h)
    n_pos = np.arange(1, len(s) + 1)
    ends = np.flatnonzero(np.append(s[1:] != s[:-1], True))  # last index of each run
    f1 = 2.0 * tp[ends] / (n_pos[ends] + num_gt)
    best = ends[int(np.argmax(f1))]  # argmax: first maximum = highest threshold
    threshold = min(floor, s[-1]) if best == len(s) - 1 else 0.5 * (s[best] + s[best + 1])
    return counts_at(scores, is_hit, num_gt, threshold)


def calibrate_thresholds(preds: Sequence[Mapping], gts: Sequence[Mapping],
                         class_names: Sequence[str], iou_thr: float = DEFAULT_HIT_IOU,
                         min_gt_boxes: int = DEFAULT_MIN_GT_BOXES, fallback: float = 0.5,
                         enforce_top1: bool = True) -> List[Dict]:
    """Per class, the F1-best threshold on a split (the CXR8 val half, never the test half).

    Args:
        preds, gts: per-image dicts (module docstring), one per image, same order.
        class_names: C names; labels index them.
        iou_thr: a box is a hit when IoU > this with a free GT box of its class.
        min_gt_boxes: classes with fewer GT boxes keep ``fallback`` (``fallback=True``).
        fallback: the threshold of classes that cannot be calibrated (the config's
            ``prob_thr``), also the floor of every calibrated threshold.
        enforce_top1: keep the top-scoring box per class and image first (the protocol).

    Returns:
        One dict per class: ``class``, ``threshold``, ``precision``, ``recall``, ``f1``,
        ``tp``, ``num_positive``, ``num_gt``, ``fallback`` (bool) and ``reason`` (why it
        fell back, else None). The numbers are measured at the returned threshold.
    """
    rows = []
    for c, name in enumerate(class_names):
        scores, hits, num_gt = class_hits(preds, gts, c, iou_thr, enforce_top1)
        reason: Optional[str] = None
        if num_gt < min_gt_boxes:
            reason = f'{num_gt} GT boxes < {min_gt_boxes}'
        else:
            row = best_f1_threshold(scores, hits, num_gt, floor=fallback)
            if row['tp'] == 0:
                reason = 'no box hits a GT box at any threshold'
        if reason is not None:
            row = counts_at(scores, hits, num_gt, fallback)
        rows.append(dict(row, **{'class': str(name), 'fallback': reason is not None,
                                 'reason': reason}))
    return rows


def operating_points_at(preds: Sequence[Mapping], gts: Sequence[Mapping],
                        class_names: Sequence[str], thresholds: Mapping[str, float],
                        iou_thr: float = DEFAULT_HIT_IOU, enforce_top1: bool = True
                        ) -> List[Dict]:
    """Precision / recall / F1 of every class at given thresholds (e.g. the calibrated
    points on the test half). Classes missing from ``thresholds`` are left out."""
    rows = []
    for c, name in enumerate(class_names):
        if name not in thresholds:
            continue
        scores, hits, num_gt = class_hits(preds, gts, c, iou_thr, enforce_top1)
        rows.append(dict(counts_at(scores, hits, num_gt, float(thresholds[name])),
                         **{'class': str(name)}))
    return rows
