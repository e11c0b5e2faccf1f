"""CXR8 pathology-detection evaluation: pure numpy protocol (``functional``), the registered
``CXR8DetectionMetric``, report tables and the reference predictors."""
from .details import make_details
from .functional import evaluate_detections, summarize
from .metrics import CXR8DetectionMetric
from .reference_predictors import (evaluate_predictions, oracle_region_predictions,
                                   whole_lung_predictions)
from .tables import format_class_table, format_table1, format_table1_rows

__all__ = ['CXR8DetectionMetric', 'evaluate_detections', 'summarize', 'make_details',
           'format_table1', 'format_table1_rows', 'format_class_table', 'evaluate_predictions',
           'oracle_region_predictions', 'whole_lung_predictions']
