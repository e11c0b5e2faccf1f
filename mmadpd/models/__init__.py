"""ADPD model components, registered in mmdet's registries on import."""
from . import backbones, data_preprocessors, detectors, heads, layers, losses  # noqa: F401
from . import postprocessing  # noqa: F401
from .backbones import TorchvisionDenseNet
from .data_preprocessors import ADPDDataPreprocessor
from .detectors import ADPD
from .heads import AnatomyDETRHead, RegionPathologyHead
from .layers import PreLNDecoderLayer
from .losses import AsymmetricLoss, LSEPoolMILLoss
from .postprocessing import WBFPathologyPostProcessor, fuse_region_boxes

__all__ = ['TorchvisionDenseNet', 'ADPDDataPreprocessor', 'ADPD', 'AnatomyDETRHead',
           'RegionPathologyHead', 'PreLNDecoderLayer', 'AsymmetricLoss', 'LSEPoolMILLoss',
           'WBFPathologyPostProcessor', 'fuse_region_boxes']
