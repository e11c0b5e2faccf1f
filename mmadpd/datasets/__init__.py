"""Datasets and transforms of mmadpd (registered into mmdet's DATASETS / TRANSFORMS).

The converters (``mmadpd.datasets.converters``) and the phantom generator
(``mmadpd.datasets.synthetic``) are imported on demand by their tools, not here.
"""
from . import transforms  # noqa: F401  (registers the transforms)
from .collate import adpd_collate
from .cxr8 import CXR8Dataset
from .imagenome import ImaGenomeDataset

__all__ = ['ImaGenomeDataset', 'CXR8Dataset', 'adpd_collate']
from .cxr8_cls import CXR8ClassificationDataset  # noqa: F401,E402  (CAM-family training)
