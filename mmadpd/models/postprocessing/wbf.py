"""Exact, fast weighted box fusion for ONE class of ONE model (pure numpy + python).

``ensemble_boxes.weighted_boxes_fusion`` (v1.0.9) is the reference algorithm; this module
reproduces its result bit for bit for the case ADPD needs (single model, weight 1,
``conf_type='max'``, boxes already validated and normalised to [0, 1]) for two reasons:

* ADPD keeps, for every fused box, the regions that formed it (``sources``), which the
  library does not report;
* the library takes 3-7 ms per image for 29 regions x 8 classes on this project's CPU
  (its per-box warnings and array re-stacking dominate), over the 2 ms budget of issue 8.

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


def _fused_box(members: List[int], boxes: np.ndarray, scores: np.ndarray) -> Tuple[float, ...]:
    """Score-weighted mean box with the library's float32 accumulation."""
    acc = np.zeros(4, dtype=np.float32)
    conf = 0.0
    for m in members:
        # float64 product added into a float32 accumulator, as ensemble_boxes does.
        acc += scores[m] * boxes[m]
        conf += scores[m]
    acc /= conf
    return tuple(float(v) for v in acc)


def _iou(a: Tuple[float, ...], b: Tuple[float, ...]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(iw, 0.0) * max(ih, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


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
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) != len(scores):
        raise ValueError(f'weighted_box_clusters: {len(boxes)} boxes but {len(scores)} scores')
    # Same (unstable) sort call as the library so that equal scores are visited identically.
    order = scores.argsort()[::-1]
    fused: List[Tuple[float, ...]] = []
    fused_scores: List[float] = []
    members: List[List[int]] = []
    box_list = [tuple(float(v) for v in b) for b in boxes]
    for j in order:
        box = box_list[j]
        best, best_iou = -1, iou_thr
        for k, f in enumerate(fused):
            iou = _iou(f, box)
            if iou > best_iou:
                best, best_iou = k, iou
        if best < 0:
            fused.append(box)
            fused_scores.append(float(scores[j]))
            members.append([int(j)])
        else:
            members[best].append(int(j))
            fused[best] = _fused_box(members[best], boxes, scores)
            # The library stores the max score in a float32 slot once a cluster has >1 box.
            fused_scores[best] = float(np.float32(max(scores[m] for m in members[best])))
    return (np.asarray(fused, dtype=np.float64).reshape(-1, 4),
            np.asarray(fused_scores, dtype=np.float64), members)
