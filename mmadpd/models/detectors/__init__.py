from .adpd import ADPD
from .fast_adpd import FastADPD

__all__ = ['ADPD', 'FastADPD']
