"""Registered data transforms of mmadpd (grey loading, box-safe augmentation, packing).

Use mmdet's ``Resize`` and ``Pad`` for the test-time letterbox; everything here exists
because no mmdet/mmcv transform does the job on uint8 grey images with per-region extras.
"""
from .formatting import PackADPDInputs
from .grey import ConvertToGrey
from .geometric import RandomResizedBBoxSafeCrop, RandomSimilarityAffine
from .loading import LoadADPDAnnotations, LoadGreyImageFromFile
from .photometric import RandomBrightnessContrast, RandomGaussianBlur

__all__ = ['LoadGreyImageFromFile', 'LoadADPDAnnotations', 'RandomResizedBBoxSafeCrop',
           'RandomSimilarityAffine', 'RandomBrightnessContrast', 'RandomGaussianBlur',
           'PackADPDInputs', 'ConvertToGrey']
