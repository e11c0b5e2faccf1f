from .functional import fuse_region_boxes
from .wbf import weighted_box_clusters
from .wbf_postprocessor import WBFPathologyPostProcessor

__all__ = ['fuse_region_boxes', 'weighted_box_clusters', 'WBFPathologyPostProcessor']
from .cam_boxes import cam_box, cam_boxes  # noqa: F401,E402  (CAM-family baselines)
