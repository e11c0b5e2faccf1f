from .batched import fuse_region_boxes_batched
from .functional import fuse_region_boxes
from .wbf import weighted_box_clusters
from .wbf_postprocessor import WBFPathologyPostProcessor

__all__ = ['fuse_region_boxes', 'fuse_region_boxes_batched', 'weighted_box_clusters', 'WBFPathologyPostProcessor']
