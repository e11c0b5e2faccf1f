from .asymmetric_loss import AsymmetricLoss, asymmetric_loss
from .giou_loss import AlignedGIoULoss, aligned_giou, cxcywh_to_xyxy
from .lse_pool_mil_loss import LSEPoolMILLoss, lse_pool

__all__ = ['AsymmetricLoss', 'asymmetric_loss', 'AlignedGIoULoss', 'aligned_giou',
           'cxcywh_to_xyxy', 'LSEPoolMILLoss', 'lse_pool']
