from .asymmetric_loss import AsymmetricLoss, asymmetric_loss
from .lse_pool_mil_loss import LSEPoolMILLoss, lse_pool

__all__ = ['AsymmetricLoss', 'asymmetric_loss', 'LSEPoolMILLoss', 'lse_pool']
