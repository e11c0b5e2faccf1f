"""Batched ADPD post-processing: :func:`fuse_region_boxes` for a whole batch in one pass.

The per-image :func:`~.functional.fuse_region_boxes` (with :func:`~.wbf.weighted_box_clusters`)
stays the reference; this module returns exactly its outputs (same float operations in the
same order, same tie breaks), tested in ``tests/models/test_batched_postprocessing.py``.

How: every (image, target class) pair is one independent WBF problem of at most R
candidates. The greedy clustering visits candidates in descending score order, so step j
of the loop handles the j-th candidate of EVERY problem at once (at most R numpy steps per
batch instead of B x T Python loops). Problems are sorted by their number of candidates,
so the problems still active at step j are a prefix (slices, no gathers).

Tie order: the reference visits candidates in ``scores.argsort()[::-1]`` order, and numpy's
default sort is not stable (its order for equal scores depends on the array and on the
CPU's SIMD sort), so problems with tied candidate scores take their order from that very
call on the same 1-D array; all others from one batched sort, whose order is then unique.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from .functional import FUSIONS

Result = Tuple[np.ndarray, np.ndarray, np.ndarray, List[List[int]]]

# an unused cluster slot: a box right of and below [0, 1]^2 overlaps no candidate
_EMPTY = 2.0


def _validate_batch(boxes, present, probs, sizes, target_index):
    boxes = np.asarray(boxes, dtype=np.float64)
    present = np.asarray(present).astype(bool)
    probs = np.asarray(probs, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.float64)
    what = 'fuse_region_boxes_batched'
    if boxes.ndim != 3 or boxes.shape[2] != 4:
        raise ValueError(f'{what}: region_boxes must be (B, R, 4), got {boxes.shape}')
    num_b, num_r = boxes.shape[:2]
    if present.shape != (num_b, num_r):
        raise ValueError(f'{what}: region_present must be ({num_b}, {num_r}), '
                         f'got {present.shape}')
    if probs.ndim != 3 or probs.shape[:2] != (num_b, num_r):
        raise ValueError(f'{what}: region_probs must be ({num_b}, {num_r}, C), '
                         f'got {probs.shape}')
    if sizes.shape != (num_b, 2):
        raise ValueError(f'{what}: image_sizes must be ({num_b}, 2) (w, h), got {sizes.shape}')
    if not (np.isfinite(boxes).all() and np.isfinite(probs).all()):
        raise ValueError(f'{what}: region boxes/probabilities contain NaN or inf')
    if not (sizes > 0).all():
        raise ValueError(f'{what}: image sizes must be positive (w, h), got {sizes.tolist()}')
    num_c = probs.shape[2]
    for t, idx in enumerate(target_index):
        if len(idx) == 0 or min(idx) < 0 or max(idx) >= num_c:
            raise ValueError(f'{what}: target class {t} maps to training-class indices '
                             f'{list(idx)}, valid range is 0..{num_c - 1}')
    return boxes, present, probs, sizes


def candidate_scores(probs: np.ndarray, valid: np.ndarray, target_index, prob_thr: float
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """(B, R, C) probabilities, (B, R) valid -> candidate mask and score, both (B, T, R).

    Score = mean of the mapped probabilities (the reference's ``mean(axis=1)`` over the
    same contiguous values, hence the same sums)."""
    masks, scores = [], []
    for idx in target_index:
        mapped = np.ascontiguousarray(probs[:, :, list(idx)])
        masks.append((mapped > prob_thr).any(axis=2) & valid)
        scores.append(mapped.mean(axis=2))
    return np.stack(masks, axis=1), np.stack(scores, axis=1)


def visiting_order(cand: np.ndarray, score: np.ndarray) -> np.ndarray:
    """(P, R) candidate mask and scores -> (P, R) region indices in the reference's visiting
    order (candidates first, then padding)."""
    key = np.where(cand, score, -np.inf)
    order = np.argsort(-key, axis=1, kind='stable')
    ranked = np.take_along_axis(key, order, axis=1)
    tied = ((ranked[:, 1:] == ranked[:, :-1]) & np.isfinite(ranked[:, 1:])).any(axis=1)
    for p in np.flatnonzero(tied).tolist():
        regions = np.flatnonzero(cand[p])
        # the reference's exact call on the exact array (see the module docstring)
        ref = regions[np.ascontiguousarray(score[p, regions]).argsort()[::-1]]
        order[p, :len(ref)] = ref
    return order


def cluster_batch(boxes: np.ndarray, scores: np.ndarray, counts: np.ndarray, iou_thr: float
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Greedy WBF of P problems at once (:func:`~.wbf.weighted_box_clusters`, step by step).

    Args:
        boxes: (P, M, 4) float64 normalised xyxy in visiting order, counts[p] valid rows.
        scores: (P, M) float64 in visiting order.
        counts: (P,) candidates per problem, NON-INCREASING (active problems are a prefix).

    Returns:
        fused boxes (P, M, 4) float64, fused scores (P, M) float64 (-inf for unused
        slots; the reference's float32 rounding for clusters of > 1 box), cluster of every
        visited candidate (P, M) int (-1 = padding), clusters per problem (P,).
    """
    num_p, num_m = scores.shape
    # cluster state, one (P, M) array per quantity so that the active rows and the first
    # j clusters are contiguous slices; updates go through flat indices p * M + slot
    x1, y1, x2, y2 = (np.full((num_p, num_m), _EMPTY) for _ in range(4))
    area = np.zeros((num_p, num_m))
    acc = np.zeros((num_p * num_m, 4), np.float32)
    conf = np.zeros(num_p * num_m)
    top = np.full(num_p * num_m, -np.inf)
    size = np.zeros(num_p * num_m, np.int64)
    assign = np.full((num_p, num_m), -1, np.int64)
    num_clusters = np.zeros(num_p, np.int64)
    active = np.searchsorted(-counts, -np.arange(num_m), side='left')  # counts > j
    for j in range(num_m):
        a = int(active[j])
        if a == 0:
            break
        b, s = boxes[:a, j], scores[:a, j]
        b_area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        if j:
            iw = (np.minimum(x2[:a, :j], b[:, 2:3]) - np.maximum(x1[:a, :j], b[:, 0:1]))
            ih = (np.minimum(y2[:a, :j], b[:, 3:4]) - np.maximum(y1[:a, :j], b[:, 1:2]))
            inter = iw * ih
            with np.errstate(divide='ignore', invalid='ignore'):
                iou = inter / (area[:a, :j] + b_area[:, None] - inter)
            iou[(iw <= 0.0) | (ih <= 0.0)] = -np.inf
            best = iou.argmax(axis=1)  # first maximum: the reference's strict '>' scan
            join = iou[np.arange(a), best] > iou_thr
            slot = np.where(join, best, num_clusters[:a])
        else:
            join = np.zeros(a, bool)
            slot = np.zeros(a, np.int64)
        num_clusters[:a] += ~join
        assign[:a, j] = slot
        flat = np.arange(a) * num_m + slot
        # float64 product added into the float32 accumulator (0 for a new cluster)
        acc_new = (acc[flat].astype(np.float64) + s[:, None] * b).astype(np.float32)
        acc[flat] = acc_new
        conf[flat] += s
        top[flat] = np.maximum(top[flat], s)
        size[flat] += 1
        # a new cluster's box is its first member as given; a joined one the float32 mean
        # (the reference divides float32 by its float64 sum as a float32 scalar)
        mean = (acc_new / conf[flat].astype(np.float32)[:, None]).astype(np.float64)
        new_box = np.where(join[:, None], mean, b)
        for coord, values in zip((x1, y1, x2, y2), new_box.T):
            coord.reshape(-1)[flat] = values
        area.reshape(-1)[flat] = ((new_box[:, 2] - new_box[:, 0])
                                  * (new_box[:, 3] - new_box[:, 1]))
    top, size = top.reshape(num_p, num_m), size.reshape(num_p, num_m)
    fused = np.stack([x1, y1, x2, y2], axis=2)
    out_scores = np.where(size > 1, top.astype(np.float32).astype(np.float64), top)
    return fused, out_scores, assign, num_clusters


def fuse_region_boxes_batched(region_boxes: np.ndarray, region_present: np.ndarray,
                              region_probs: np.ndarray, image_sizes: np.ndarray,
                              target_index: Sequence[Sequence[int]], prob_thr: float = 0.5,
                              fusion: str = 'wbf', iou_thr: float = 0.03) -> List[Result]:
    """:func:`~.functional.fuse_region_boxes` for B images at once, identical outputs.

    Args:
        region_boxes: (B, R, 4) xyxy in ORIGINAL pixels of each image.
        region_present: (B, R) bool.
        region_probs: (B, R, C) probabilities over the training classes.
        image_sizes: (B, 2) original (w, h) per image.
        target_index, prob_thr, fusion, iou_thr: as :func:`~.functional.fuse_region_boxes`.

    Returns:
        B tuples ``(boxes (K, 4) float32 xyxy original px, scores (K,) float32,
        labels (K,) int64, sources)``, each equal to the per-image function's result.
    """
    if fusion not in FUSIONS:
        raise ValueError(f'fuse_region_boxes_batched: fusion must be one of {FUSIONS}, '
                         f'got {fusion!r}')
    if not 0.0 <= iou_thr <= 1.0:
        raise ValueError(f'fuse_region_boxes_batched: iou_thr must be in [0, 1], got {iou_thr}')
    boxes, present, probs, sizes = _validate_batch(region_boxes, region_present, region_probs,
                                                   image_sizes, target_index)
    num_b, num_r = present.shape
    num_t = len(target_index)
    scale = np.concatenate([sizes, sizes], axis=1)[:, None, :]  # (B, 1, 4): w, h, w, h
    norm = np.clip(boxes / scale, 0.0, 1.0)
    norm = np.concatenate([np.minimum(norm[..., :2], norm[..., 2:]),
                           np.maximum(norm[..., :2], norm[..., 2:])], axis=2)
    valid = present & ((norm[..., 2] - norm[..., 0]) * (norm[..., 3] - norm[..., 1]) > 0)
    cand, score = candidate_scores(probs, valid, target_index, prob_thr)
    cand, score = cand.reshape(-1, num_r), score.reshape(-1, num_r)  # (P = B * T, R)
    counts = cand.sum(axis=1)
    image_of = np.repeat(np.arange(num_b), num_t)

    out_box = np.zeros((num_b * num_t, 4))
    out_score = np.zeros(num_b * num_t)
    members: List[List[int]] = [[] for _ in range(num_b * num_t)]
    if fusion == 'none':
        # the top candidate, the first (lowest region index) on ties
        best = np.where(cand, score, -np.inf).argmax(axis=1)
        rows = np.arange(len(best))
        out_box = norm[image_of, best]
        out_score = score[rows, best]
        for p in np.flatnonzero(counts).tolist():
            members[p] = [int(best[p])]
    else:
        problems = np.argsort(-counts, kind='stable')
        problems = problems[counts[problems] > 0]
        order = visiting_order(cand[problems], score[problems])
        sorted_boxes = norm[image_of[problems][:, None], order]
        sorted_scores = np.take_along_axis(score[problems], order, axis=1)
        fused, fused_scores, assign, _ = cluster_batch(sorted_boxes, sorted_scores,
                                                       counts[problems], iou_thr)
        best = fused_scores.argmax(axis=1)  # the earliest cluster on ties
        rows = np.arange(len(problems))
        out_box[problems] = fused[rows, best]
        out_score[problems] = fused_scores[rows, best]
        # members of the kept cluster in visiting order (nonzero walks rows in order)
        rank_rows, rank_cols = np.nonzero(assign == best[:, None])
        regions = order[rank_rows, rank_cols].tolist()
        ends = np.cumsum(np.bincount(rank_rows, minlength=len(problems))).tolist()
        for p, start, end in zip(problems.tolist(), [0] + ends[:-1], ends):
            members[p] = regions[start:end]

    out_box = (out_box.reshape(num_b, num_t, 4) * scale).astype(np.float32)
    out_score = out_score.reshape(num_b, num_t).astype(np.float32)
    has = (counts > 0).reshape(num_b, num_t)
    results = []
    for i in range(num_b):
        labels = np.flatnonzero(has[i])
        results.append((out_box[i, labels].reshape(-1, 4), out_score[i, labels],
                        labels.astype(np.int64), [members[i * num_t + t] for t in labels]))
    return results
