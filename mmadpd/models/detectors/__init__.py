from .adpd import ADPD
from .cam_detector import CAMDetector
from .fast_adpd import FastADPD

__all__ = ['ADPD', 'CAMDetector', 'FastADPD']
