"""The CXR8 pathology-detection protocol on a whole split (pure numpy).

Inputs are one entry per image, all boxes xyxy in ORIGINAL image pixels:

* ``preds[i]`` = ``{'bboxes': (K, 4), 'scores': (K,), 'labels': (K,)}``
* ``gts[i]``   = ``{'bboxes': (N, 4), 'labels': (N,)}``

The order of the images fixes how equal scores are broken (stable sort: earlier image
first), so callers should pass images in a fixed order (the metric sorts by image id).
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

import numpy as np

from .average_precision import (RECALL_THRS, interpolated_ap, match_detections,
                                precision_recall)
from .box_iou import as_boxes, iou_matrix
from .loc_acc import loc_accuracy, loc_counts_one
from .top1 import top1_per_class

#: IoU thresholds of the mAP (paper Table 1: mAP over 0.1..0.7).
DEFAULT_IOU_THRS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
#: loc-acc keeps predictions with score > 0.7 (reference implementation).
DEFAULT_LOC_ACC_SCORE_THR = 0.7


def _prep_image(pred: Mapping, gt: Mapping, num_classes: int, i: int, enforce_top1: bool):
    boxes = as_boxes(pred.get('bboxes', ()), f'image {i}: pred bboxes')
    scores = np.asarray(pred.get('scores', ()), dtype=np.float64).reshape(-1)
    labels = np.asarray(pred.get('labels', ()), dtype=np.int64).reshape(-1)
    gt_boxes = as_boxes(gt.get('bboxes', ()), f'image {i}: gt bboxes')
    gt_labels = np.asarray(gt.get('labels', ()), dtype=np.int64).reshape(-1)
    if not len(boxes) == len(scores) == len(labels):
        raise ValueError(f'image {i}: {len(boxes)} pred boxes, {len(scores)} scores and '
                         f'{len(labels)} labels differ in number')
    if len(gt_boxes) != len(gt_labels):
        raise ValueError(f'image {i}: {len(gt_boxes)} gt boxes but {len(gt_labels)} labels')
    for name, lab in (('pred', labels), ('gt', gt_labels)):
        if len(lab) and (lab.min() < 0 or lab.max() >= num_classes):
            raise ValueError(f'image {i}: {name} label out of range [0, {num_classes}): '
                             f'{lab.tolist()}')
    if enforce_top1 and len(scores):
        keep = top1_per_class(scores, labels)
        boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    return boxes, scores, labels, gt_boxes, gt_labels


def evaluate_detections(preds: Sequence[Mapping], gts: Sequence[Mapping], num_classes: int,
                        iou_thrs: Sequence[float] = DEFAULT_IOU_THRS,
                        loc_acc_score_thr: float = DEFAULT_LOC_ACC_SCORE_THR,
                        enforce_top1: bool = True,
                        recall_thrs: np.ndarray = RECALL_THRS) -> Dict:
    """AP per class and threshold, PR curves and loc-acc counts of a split.

    Args:
        preds: per-image predictions (see module docstring).
        gts: per-image ground truth, same length and order as ``preds``.
        num_classes: C, labels are in [0, C).
        iou_thrs: (T,) IoU thresholds (strict ``>``).
        loc_acc_score_thr: loc-acc keeps predictions with score STRICTLY above this.
        enforce_top1: keep only the top-scoring box per class per image first.
        recall_thrs: recall levels of the interpolated AP.

    Returns:
        dict with
        ``iou_thrs`` (T,), ``ap`` (C, T) fractions (0 for a class without GT),
        ``num_gt`` / ``num_pred`` (C,) (``num_pred`` after top-1),
        ``has_gt`` (C,) bool, ``pr`` = list over classes of lists over thresholds of
        ``{'scores', 'precision', 'recall'}`` arrays (empty for classes without GT),
        ``loc`` = dict(tp (C,T), fp (C,T), fn (C,T), tn (C,T), acc (C,T), n_pred (C,),
        n_gt (C,), score_thr).
    """
    if len(preds) != len(gts):
        raise ValueError(f'{len(preds)} prediction entries but {len(gts)} ground-truth '
                         'entries; they must be one per image in the same order')
    thrs = np.asarray(iou_thrs, dtype=np.float64).reshape(-1)
    C, T = int(num_classes), len(thrs)
    scores_c: List[List[np.ndarray]] = [[] for _ in range(C)]
    tp_c: List[List[np.ndarray]] = [[] for _ in range(C)]
    num_gt = np.zeros(C, dtype=np.int64)
    loc_tp = np.zeros((C, T), dtype=np.int64)
    loc_tn = np.zeros(C, dtype=np.int64)
    loc_np = np.zeros(C, dtype=np.int64)
    loc_ng = np.zeros(C, dtype=np.int64)

    for i, (pred, gt) in enumerate(zip(preds, gts)):
        boxes, scores, labels, gt_boxes, gt_labels = _prep_image(pred, gt, C, i, enforce_top1)
        for c in range(C):
            d_idx = np.flatnonzero(labels == c)
            g = gt_boxes[gt_labels == c]
            num_gt[c] += len(g)
            # AP: visit this image's detections by descending score (stable, as pycocotools)
            d_idx = d_idx[np.argsort(-scores[d_idx], kind='mergesort')]
            ious = iou_matrix(boxes[d_idx], g)
            scores_c[c].append(scores[d_idx])
            tp_c[c].append(match_detections(ious, thrs))
            # loc-acc: only confident predictions
            conf = scores[d_idx] > loc_acc_score_thr
            counts = loc_counts_one(ious[conf], thrs)
            loc_tp[c] += counts['tp']
            loc_tn[c] += counts['tn']
            loc_np[c] += counts['n_pred']
            loc_ng[c] += counts['n_gt']

    ap = np.zeros((C, T), dtype=np.float64)
    pr: List[List[Dict[str, np.ndarray]]] = []
    num_pred = np.zeros(C, dtype=np.int64)
    for c in range(C):
        s = np.concatenate(scores_c[c]) if scores_c[c] else np.zeros(0)
        tps = np.concatenate(tp_c[c], axis=1) if tp_c[c] else np.zeros((T, 0), bool)
        num_pred[c] = len(s)
        curves = []
        for t in range(T):
            if num_gt[c] == 0:  # AP 0 as the reference; flagged by the caller
                curves.append(dict(scores=np.zeros(0), precision=np.zeros(0),
                                   recall=np.zeros(0)))
                continue
            ss, prec, rec = precision_recall(s, tps[t], int(num_gt[c]))
            ap[c, t] = interpolated_ap(prec, rec, recall_thrs)
            curves.append(dict(scores=ss, precision=prec, recall=rec))
        pr.append(curves)

    loc = loc_accuracy(loc_tp, loc_tn, loc_np, loc_ng)
    loc.update(tp=loc_tp, n_pred=loc_np, n_gt=loc_ng, score_thr=float(loc_acc_score_thr))
    return dict(iou_thrs=thrs, ap=ap, num_gt=num_gt, num_pred=num_pred, has_gt=num_gt > 0,
                pr=pr, loc=loc, num_images=len(preds))
