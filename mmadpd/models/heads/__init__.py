from .anatomy_detr_head import AnatomyDETRHead
from .region_pathology_head import RegionPathologyHead

__all__ = ['AnatomyDETRHead', 'RegionPathologyHead']
from .cam_head import CAMClassifierHead  # noqa: F401,E402  (CAM-family baselines)
