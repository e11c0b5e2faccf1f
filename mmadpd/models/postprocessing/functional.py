"""Region boxes + region pathology probabilities -> one box per target class (pure numpy).

This is ADPD's inference rule (paper Fig. 2, FACTS.md §5), kept free of registries so the
evaluation code and reference predictors can call it directly.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np

from .wbf import weighted_box_clusters

FUSIONS = ('wbf', 'none')


def _validate(region_boxes: np.ndarray, region_present: np.ndarray, region_probs: np.ndarray,
              image_size: Sequence[float], target_index: Sequence[Sequence[int]]):
    boxes = np.asarray(region_boxes, dtype=np.float64)
    present = np.asarray(region_present).astype(bool)
    probs = np.asarray(region_probs, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f'fuse_region_boxes: region_boxes must be (R, 4), got {boxes.shape}')
    num_regions = boxes.shape[0]
    if present.shape != (num_regions,):
        raise ValueError(f'fuse_region_boxes: region_present must be ({num_regions},), '
                         f'got {present.shape}')
    if probs.ndim != 2 or probs.shape[0] != num_regions:
        raise ValueError(f'fuse_region_boxes: region_probs must be ({num_regions}, C), '
                         f'got {probs.shape}')
    if not (np.isfinite(boxes).all() and np.isfinite(probs).all()):
        raise ValueError('fuse_region_boxes: region boxes/probabilities contain NaN or inf')
    width, height = (float(v) for v in image_size)
    if not (width > 0 and height > 0):
        raise ValueError(f'fuse_region_boxes: image_size must be positive (w, h), '
                         f'got {tuple(image_size)}')
    num_classes = probs.shape[1]
    for t, idx in enumerate(target_index):
        if len(idx) == 0 or min(idx) < 0 or max(idx) >= num_classes:
            raise ValueError(f'fuse_region_boxes: target class {t} maps to training-class '
                             f'indices {list(idx)}, valid range is 0..{num_classes - 1}')
    return boxes, present, probs, width, height


def fuse_region_boxes(region_boxes: np.ndarray, region_present: np.ndarray,
                      region_probs: np.ndarray, image_size: Sequence[float],
                      target_index: Sequence[Sequence[int]], prob_thr: float = 0.5,
                      fusion: str = 'wbf', iou_thr: float = 0.03
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, List[List[int]]]:
    """Turn per-region predictions of one image into at most one box per target class.

    Args:
        region_boxes: (R, 4) xyxy in ORIGINAL image pixels (clamped here to the image).
        region_present: (R,) bool, region predicted present.
        region_probs: (R, C) probabilities over the C TRAINING classes.
        image_size: (w, h) of the original image.
        target_index: per target class, the training-class indices whose probabilities
            are averaged (``mmadpd.anatomy.mapping_indices``).
        prob_thr: a region is a candidate for target class t if it is present and ANY
            mapped training class has probability > ``prob_thr``.
        fusion: ``'wbf'`` = weighted box fusion of the candidates per class (result
            identical to ``ensemble_boxes.weighted_boxes_fusion(iou_thr=iou_thr,
            skip_box_thr=0, conf_type='max')`` on [0, 1]-normalised boxes), then the
            top-scoring fused box; ``'none'`` = the top candidate box ("w/o WBF").
        iou_thr: WBF clustering threshold (strict ``>``).

    Returns:
        boxes (K, 4) float32 xyxy original pixels, scores (K,) float32 (candidate score =
        mean of the mapped probabilities; fused score = max over the cluster), labels (K,)
        int64 target-class indices in increasing order, and ``sources``: per box the
        region indices that formed it (highest score first). Candidates whose clamped box
        has zero area are dropped (they cannot localise anything, and the library would
        drop them too).
    """
    if fusion not in FUSIONS:
        raise ValueError(f'fuse_region_boxes: fusion must be one of {FUSIONS}, got {fusion!r}')
    boxes, present, probs, width, height = _validate(region_boxes, region_present,
                                                     region_probs, image_size, target_index)
    scale = np.array([width, height, width, height])
    # Normalise + clamp to [0, 1]: the WBF contract, and never outside the image.
    norm = np.clip(boxes / scale, 0.0, 1.0)
    norm = np.concatenate([np.minimum(norm[:, :2], norm[:, 2:]),
                           np.maximum(norm[:, :2], norm[:, 2:])], axis=1)
    valid = present & ((norm[:, 2] - norm[:, 0]) * (norm[:, 3] - norm[:, 1]) > 0)

    out_boxes, out_scores, out_labels, sources = [], [], [], []
    for label, idx in enumerate(target_index):
        idx = list(idx)
        positive = (probs[:, idx] > prob_thr).any(axis=1) & valid
        cand = np.flatnonzero(positive)
        if cand.size == 0:
            continue
        cand_scores = probs[cand][:, idx].mean(axis=1)
        if fusion == 'none':
            best = int(np.argmax(cand_scores))  # first (lowest region index) on ties
            box, score, members = norm[cand[best]], cand_scores[best], [int(cand[best])]
        else:
            fused, fused_scores, clusters = weighted_box_clusters(norm[cand], cand_scores,
                                                                  iou_thr)
            best = int(np.argmax(fused_scores))  # first = earliest cluster on ties
            box, score = fused[best], fused_scores[best]
            members = [int(cand[m]) for m in clusters[best]]
        out_boxes.append(box * scale)
        out_scores.append(score)
        out_labels.append(label)
        sources.append(members)
    return (np.asarray(out_boxes, dtype=np.float32).reshape(-1, 4),
            np.asarray(out_scores, dtype=np.float32),
            np.asarray(out_labels, dtype=np.int64), sources)
