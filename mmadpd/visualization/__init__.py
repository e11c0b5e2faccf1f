"""Drawing: detection overlays (predictions, ground truth, regions) and PR-curve figures."""
from .detections import draw_detections
from .palette import class_colors
from .pr_curves import plot_pr_curves

__all__ = ['draw_detections', 'class_colors', 'plot_pr_curves']
