"""WBFPathologyPostProcessor: the configurable face of :func:`fuse_region_boxes`."""
from __future__ import annotations

from typing import List, Mapping, Sequence, Tuple

import numpy as np

from mmdet.registry import TASK_UTILS

from ...anatomy import mapping_indices
from ..vocabulary import resolve_vocabulary
from .batched import fuse_region_boxes_batched
from .functional import FUSIONS, fuse_region_boxes


@TASK_UTILS.register_module()
class WBFPathologyPostProcessor:
    """Region presence + pathology probabilities -> one box per target class.

    The class mapping is validated against the training-class names when the object is
    built: an unknown or mis-cased name (the reference code's 'Pneumothorax' defect)
    raises ``ValueError`` naming it, instead of silently giving a class no boxes.

    Args:
        class_names: the training classes (the pathology head's outputs, in order). The
            ADPD detector fills this in from its pathology head.
        target_classes: the evaluation classes, in label order.
        class_mapping: target class -> training classes whose probabilities are averaged.

        The three vocabularies may also be given by name (``'PATHOLOGIES'``,
        ``'CXR8_CLASSES'``, ``'CXR8_MAPPING'``), see :mod:`mmadpd.models.vocabulary`.
        presence_thr: a region is present if its presence LOGIT is > this (0.5 as the
            reference code, i.e. probability > 0.62).
        prob_thr: a region is positive for a class if a mapped probability is > this.
        fusion: ``'wbf'`` or ``'none'`` (the "w/o WBF" ablation).
        iou_thr: WBF clustering IoU (strict >).
        batched: :meth:`process_batch` fuses the whole batch in one vectorised pass
            (:func:`fuse_region_boxes_batched`, identical outputs) instead of image by
            image.
    """

    def __init__(self, class_names: Sequence[str], target_classes: Sequence[str],
                 class_mapping: Mapping[str, Sequence[str]], presence_thr: float = 0.5,
                 prob_thr: float = 0.5, fusion: str = 'wbf', iou_thr: float = 0.03,
                 batched: bool = False) -> None:
        if fusion not in FUSIONS:
            raise ValueError(f'WBFPathologyPostProcessor: fusion must be one of {FUSIONS}, '
                             f'got {fusion!r}')
        what = 'WBFPathologyPostProcessor'
        self.class_names = list(resolve_vocabulary(class_names, what + '.class_names'))
        self.target_classes = list(resolve_vocabulary(target_classes, what + '.target_classes'))
        class_mapping = resolve_vocabulary(class_mapping, what + '.class_mapping')
        # Raises ValueError naming the offending class (case-sensitive).
        self.target_index: List[List[int]] = mapping_indices(class_mapping, self.class_names,
                                                             self.target_classes)
        self.presence_thr = presence_thr
        self.prob_thr = prob_thr
        self.fusion = fusion
        self.iou_thr = iou_thr
        self.batched = batched

    def region_present(self, presence_logits: np.ndarray) -> np.ndarray:
        """(R,) logits -> (R,) bool."""
        return np.asarray(presence_logits) > self.presence_thr

    def __call__(self, region_boxes: np.ndarray, presence_logits: np.ndarray,
                 region_probs: np.ndarray, image_size: Tuple[float, float]
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, List[List[int]]]:
        """region_boxes (R, 4) xyxy original px; presence_logits (R,); region_probs (R, C);
        image_size (w, h). Returns (boxes (K, 4) xyxy original px, scores (K,), labels (K,)
        target-class indices, sources) as :func:`fuse_region_boxes`."""
        return fuse_region_boxes(region_boxes, self.region_present(presence_logits),
                                 region_probs, image_size, self.target_index,
                                 prob_thr=self.prob_thr, fusion=self.fusion,
                                 iou_thr=self.iou_thr)

    def process_batch(self, region_boxes: np.ndarray, presence_logits: np.ndarray,
                      region_probs: np.ndarray, image_sizes: np.ndarray) -> List[Tuple]:
        """region_boxes (B, R, 4) xyxy original px; presence_logits (B, R); region_probs
        (B, R, C); image_sizes (B, 2) (w, h). Returns B tuples as :meth:`__call__`."""
        # One image: the per-image function is faster (the vectorised pass has a fixed
        # cost of a few ms) and its output is the same (tests/models/test_batched_*).
        if not self.batched or len(region_boxes) == 1:
            return [self(*args) for args in zip(region_boxes, presence_logits, region_probs,
                                                image_sizes)]
        return fuse_region_boxes_batched(region_boxes, self.region_present(presence_logits),
                                         region_probs, image_sizes, self.target_index,
                                         prob_thr=self.prob_thr, fusion=self.fusion,
                                         iou_thr=self.iou_thr)
