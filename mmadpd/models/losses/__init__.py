from .asymmetric_loss import AsymmetricLoss, asymmetric_loss, asymmetric_loss_fused
from .giou_loss import AlignedGIoULoss, aligned_giou, aligned_giou_fused, cxcywh_to_xyxy
from .lse_pool_mil_loss import LSEPoolMILLoss, lse_pool

__all__ = ['AsymmetricLoss', 'asymmetric_loss', 'asymmetric_loss_fused', 'AlignedGIoULoss',
           'aligned_giou', 'aligned_giou_fused', 'cxcywh_to_xyxy', 'LSEPoolMILLoss',
           'lse_pool']
