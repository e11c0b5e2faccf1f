from .adpd import ADPD, boxes_to_original
from .fast_adpd import FastADPD

__all__ = ['ADPD', 'FastADPD', 'boxes_to_original']
