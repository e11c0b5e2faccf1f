"""Drawing: detection overlays (predictions, ground truth, regions), PR-curve figures and
the registered ``ADPDLocalVisualizer`` that sends them to mmengine's vis backends."""
from .adpd_visualizer import ADPDLocalVisualizer
from .detections import draw_detections
from .palette import class_colors
from .pr_curves import plot_pr_curves

__all__ = ['ADPDLocalVisualizer', 'draw_detections', 'class_colors', 'plot_pr_curves']
