"""``CXR8DetectionMetric``: the CXR8 pathology-detection protocol as an mmengine metric.

Thin wrapper: the math is in :mod:`mmadpd.evaluation.functional`. Works in distributed
evaluation (``BaseMetric.collect_results`` gathers the per-rank results; only rank 0 runs
``compute_metrics``).
"""
from __future__ import annotations

import logging
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmdet.registry import METRICS

from mmadpd.anatomy import CLASS_GROUPS

from ..details import make_details
from ..functional import (DEFAULT_IOU_THRS, DEFAULT_LOC_ACC_SCORE_THR, evaluate_detections,
                          summarize, top1_per_class)
from ..tables import format_class_table, format_table1


def _np(x, dtype=np.float64) -> np.ndarray:
    if hasattr(x, 'detach'):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=dtype)


def _get(obj, key, default=None):
    """Field of a data sample given as a dict (inside the Evaluator) or a DataSample."""
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    return getattr(obj, key, default)


def _image_id_key(img_id):
    # sort ids of mixed types deterministically (numbers numerically, then strings)
    return (0, float(img_id), '') if isinstance(img_id, (int, float, np.integer)) \
        else (1, 0.0, str(img_id))


@METRICS.register_module()
class CXR8DetectionMetric(BaseMetric):
    """AP / mAP at IoU 0.1..0.7 (strict ``>``, 101-point), loc-acc, per-class and group AP.

    Reads ``pred_instances`` (bboxes xyxy ORIGINAL px, scores, labels = target class index)
    and ``gt_instances`` (bboxes xyxy ORIGINAL px, labels) of every data sample; class names
    come from ``dataset_meta['classes']``.

    Args:
        iou_thrs: IoU thresholds of the mAP.
        loc_acc_score_thr: loc-acc keeps predictions with score > this.
        enforce_top1: keep only the top-scoring box per class per image.
        class_groups: name -> class names; a group is reported only when all its classes
            are in ``dataset_meta['classes']``. Default: ``anatomy.CLASS_GROUPS``.
        classwise: also return ``AP_<class>`` (mean over thresholds).
        keep_details: keep ``self.last_details`` (per-class rows, PR curves, the evaluated
            per-image boxes and image paths) after each ``compute_metrics`` on rank 0 for
            the report hook; ``None`` on other ranks.
        collect_device, prefix: see ``mmengine.evaluator.BaseMetric``.

    Metric keys (prefix ``cxr8/``): ``mAP``, ``AP@0.1`` .. ``AP@0.7`` (percent),
    ``loc_acc@0.1`` .. ``loc_acc@0.7`` (fraction), ``AP_<class>``, ``<group>/mAP``, ...
    """
    default_prefix: Optional[str] = 'cxr8'

    def __init__(self,
                 iou_thrs: Sequence[float] = DEFAULT_IOU_THRS,
                 loc_acc_score_thr: float = DEFAULT_LOC_ACC_SCORE_THR,
                 enforce_top1: bool = True,
                 class_groups: Optional[Mapping[str, Sequence[str]]] = None,
                 classwise: bool = True,
                 keep_details: bool = True,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.iou_thrs = tuple(float(t) for t in iou_thrs)
        if not self.iou_thrs or any(not 0 <= t < 1 for t in self.iou_thrs):
            raise ValueError(f'iou_thrs must be non-empty values in [0, 1), got {iou_thrs}')
        self.loc_acc_score_thr = float(loc_acc_score_thr)
        self.enforce_top1 = enforce_top1
        self.class_groups = dict(CLASS_GROUPS if class_groups is None else class_groups)
        self.classwise = classwise
        self.keep_details = keep_details
        self.last_details: Optional[Dict] = None

    def process(self, data_batch, data_samples: Sequence) -> None:
        """Keep, per image, the (top-1) predictions and the ground truth as numpy arrays."""
        for sample in data_samples:
            pred = _get(sample, 'pred_instances')
            gt = _get(sample, 'gt_instances')
            img_path = _get(sample, 'img_path')
            if pred is None:
                raise ValueError(f'data sample of {img_path!r} has no pred_instances')
            if gt is None:
                raise ValueError(f'data sample of {img_path!r} has no gt_instances: the test '
                                 'pipeline must load the CXR8 annotations')
            boxes = _np(_get(pred, 'bboxes')).reshape(-1, 4)
            scores = _np(_get(pred, 'scores')).reshape(-1)
            labels = _np(_get(pred, 'labels'), np.int64).reshape(-1)
            if self.enforce_top1 and len(scores):
                keep = top1_per_class(scores, labels)
                boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
            self.results.append(dict(
                img_id=_get(sample, 'img_id'), img_path=img_path,
                ori_shape=tuple(_get(sample, 'ori_shape') or ()),
                pred_bboxes=boxes, pred_scores=scores, pred_labels=labels,
                gt_bboxes=_np(_get(gt, 'bboxes')).reshape(-1, 4),
                gt_labels=_np(_get(gt, 'labels'), np.int64).reshape(-1)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Evaluate the gathered results (rank 0 only)."""
        meta = self.dataset_meta or {}
        classes = meta.get('classes')
        if not classes:
            raise ValueError("CXR8DetectionMetric needs dataset_meta['classes'] (the target "
                             'class names); the dataset did not provide them')
        classes = [str(c) for c in classes]
        # a fixed image order makes tie-breaking of equal scores independent of the
        # number of GPUs and of the dataloader order
        results = sorted(results, key=lambda r: _image_id_key(r['img_id']))
        preds = [dict(bboxes=r['pred_bboxes'], scores=r['pred_scores'],
                      labels=r['pred_labels']) for r in results]
        gts = [dict(bboxes=r['gt_bboxes'], labels=r['gt_labels']) for r in results]
        result = evaluate_detections(preds, gts, len(classes), self.iou_thrs,
                                     self.loc_acc_score_thr, self.enforce_top1)
        metrics = summarize(result, classes, self.class_groups, self.classwise)
        details = make_details(result, classes, self.class_groups, with_pr=self.keep_details)

        if details['classes_without_gt']:
            print_log(f'CXR8DetectionMetric: classes without ground-truth boxes (AP counted '
                      f'as 0 in every mean): {details["classes_without_gt"]}',
                      logger='current', level=logging.WARNING)
        print_log('\n' + format_class_table(details) + '\n'
                  + format_table1(metrics, 'this run', prefix=None), logger='current')

        if self.keep_details:
            details['metrics'] = {f'{self.prefix}/{k}' if self.prefix else k: v
                                  for k, v in metrics.items()}
            details['images'] = results
            self.last_details = details
        return metrics
