"""Dataset converters: Chest ImaGenome scene graphs and NIH ChestX-ray8 boxes -> COCO JSON.

The command-line faces are ``tools/dataset_converters/imagenome_to_coco.py`` and
``tools/dataset_converters/cxr8_to_coco.py``. Nothing here imports torch or a registry.
"""
from .cxr8 import convert_cxr8
from .imagenome import convert_imagenome
from .skips import SkipReport, StrictModeError
from .split import split_images, split_patients

__all__ = ['convert_cxr8', 'convert_imagenome', 'SkipReport', 'StrictModeError',
           'split_images', 'split_patients']
