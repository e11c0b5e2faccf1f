from .adpd import ADPD, boxes_to_original

__all__ = ['ADPD', 'boxes_to_original']
