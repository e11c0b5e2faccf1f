from .adpd import ADPD, boxes_to_original

__all__ = ['ADPD', 'boxes_to_original']
from .cam_detector import CAMDetector  # noqa: F401,E402  (CAM-family baselines)
