"""Pure numpy math of the CXR8 detection protocol (no registry, no mmengine)."""
from .average_precision import (RECALL_THRS, interpolated_ap, match_detections,
                                precision_envelope, precision_recall)
from .box_iou import iou_matrix
from .class_groups import group_indices
from .detection_eval import DEFAULT_IOU_THRS, DEFAULT_LOC_ACC_SCORE_THR, evaluate_detections
from .loc_acc import loc_accuracy, loc_counts_one
from .region_localisation import pairwise_auroc, region_localisation
from .summary import class_key, summarize, thr_key
from .top1 import top1_per_class

__all__ = [
    'RECALL_THRS', 'DEFAULT_IOU_THRS', 'DEFAULT_LOC_ACC_SCORE_THR', 'iou_matrix',
    'top1_per_class', 'match_detections', 'precision_recall', 'precision_envelope',
    'interpolated_ap', 'loc_counts_one', 'loc_accuracy', 'group_indices',
    'evaluate_detections', 'summarize', 'thr_key', 'class_key', 'pairwise_auroc',
    'region_localisation',
]
