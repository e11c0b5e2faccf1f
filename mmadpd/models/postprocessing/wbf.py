"""Exact, fast weighted box fusion for ONE class of ONE model (pure numpy + python).

``ensemble_boxes.weighted_boxes_fusion`` (v1.0.9) is the reference algorithm; this module
reproduces its result bit for bit for the case ADPD needs (single model, weight 1,
``conf_type='max'``, boxes already validated and normalised to [0, 1]) for two reasons:

* ADPD keeps, for every fused box, the regions that formed it (``sources``), which the
  library does not report;
* the library takes 3-7 ms per image for 29 regions x 8 classes on this project's CPU
  (its per-box warnings and array re-stacking dominate), over the 2 ms budget of issue 8;
  this module takes 0.74 ms for the whole post-processing of such an image (benchmark
  part (c), all 29 regions present, uniform random probabilities). It keeps each
  cluster's running sums instead of re-summing its members after every join (the same
  float operations in the same order) and does the IoU scan in plain Python floats.

Equality with the library is tested in ``tests/models/test_postprocessing.py``.

Algorithm (the library's): boxes are visited in descending score order; a box joins the
existing cluster whose CURRENT fused box it overlaps with the highest IoU, provided that
IoU is strictly greater than ``iou_thr``; otherwise it starts a new cluster. The fused box
is the score-weighted mean of the members (accumulated in float32 like the library); the
fused score is the maximum member score.
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np


def weighted_box_clusters(boxes: np.ndarray, scores: np.ndarray, iou_thr: float = 0.03
                          ) -> Tuple[np.ndarray, np.ndarray, List[List[int]]]:
    """Fuse the boxes of one class.

    Args:
        boxes: (M, 4) float xyxy normalised to [0, 1], x1 < x2 and y1 < y2 (positive area).
        scores: (M,) float scores.
        iou_thr: a box joins a cluster only if IoU with its fused box is > ``iou_thr``.

    Returns:
        fused boxes (K, 4) float64, fused scores (K,) float64 (max member score) and, per
        fused box, the input indices of its members (in visiting order). Clusters are in
        creation order, i.e. cluster 0 holds the highest-scoring box.
    """
    if not 0.0 <= iou_thr <= 1.0:
        # (a negative threshold would let disjoint boxes join; the loop below relies on
        # IoU 0 never passing)
        raise ValueError(f'weighted_box_clusters: iou_thr must be in [0, 1], got {iou_thr}')
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f'weighted_box_clusters: {len(boxes)} boxes but {len(scores)} scores')
    # Same (unstable) sort call as the library so that equal scores are visited identically.
    order = scores.argsort()[::-1]
    box_list = boxes.tolist()
    # Per cluster: the fused box (x1, y1, x2, y2) and its area as Python floats (the IoU
    # loop below is the hot path: plain float arithmetic beats numpy at these sizes), the
    # library's float32 accumulator of score * box, the score sum and the max score.
    fused: List[List[float]] = []
    areas: List[float] = []
    accs: List[np.ndarray] = []
    confs: List[np.float64] = []
    best_scores: List[np.float64] = []
    members: List[List[int]] = []
    for j in order.tolist():
        bx1, by1, bx2, by2 = box_list[j]
        b_area = (bx2 - bx1) * (by2 - by1)
        best, best_iou = -1, iou_thr
        for k, (fx1, fy1, fx2, fy2) in enumerate(fused):
            # min/max as conditionals: the same values, without a call each
            iw = (fx2 if fx2 < bx2 else bx2) - (fx1 if fx1 > bx1 else bx1)
            ih = (fy2 if fy2 < by2 else by2) - (fy1 if fy1 > by1 else by1)
            if iw <= 0.0 or ih <= 0.0:
                continue  # IoU 0 is never > iou_thr >= 0
            inter = iw * ih
            iou = inter / (areas[k] + b_area - inter)
            if iou > best_iou:
                best, best_iou = k, iou
        score = scores[j]
        if best < 0:
            fused.append(box_list[j])
            areas.append(b_area)
            acc = np.zeros(4, dtype=np.float32)
            # float64 product added into a float32 accumulator, as ensemble_boxes does;
            # the library re-sums the members from scratch after every join, in member
            # order, which gives exactly this running sum.
            acc += score * boxes[j]
            accs.append(acc)
            confs.append(0.0 + score)
            best_scores.append(score)
            members.append([j])
        else:
            members[best].append(j)
            accs[best] += score * boxes[j]
            confs[best] = confs[best] + score
            best_scores[best] = max(best_scores[best], score)
            box = accs[best].copy()
            box /= confs[best]
            fused[best] = box.tolist()
            fx1, fy1, fx2, fy2 = fused[best]
            areas[best] = (fx2 - fx1) * (fy2 - fy1)
    # The library stores the max score in a float32 slot once a cluster has > 1 box.
    out_scores = [float(s) if len(m) == 1 else float(np.float32(s))
                  for s, m in zip(best_scores, members)]
    return (np.asarray(fused, dtype=np.float64).reshape(-1, 4),
            np.asarray(out_scores, dtype=np.float64), members)
