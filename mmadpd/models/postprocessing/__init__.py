from .batched import fuse_region_boxes_batched
from .cam_boxes import cam_box, cam_boxes
from .functional import fuse_region_boxes
from .wbf import weighted_box_clusters
from .wbf_postprocessor import WBFPathologyPostProcessor

__all__ = ['cam_box', 'cam_boxes', 'fuse_region_boxes', 'fuse_region_boxes_batched',
           'weighted_box_clusters', 'WBFPathologyPostProcessor']
