"""Synthetic phantom chest X-rays written in the real Chest ImaGenome (silver scene
graphs + splits), MIMIC-CXR-JPG and NIH ChestX-ray8 (box) formats.

Public API:

* ``generate_dataset(out_dir, seed=0, num_train=..., num_val=..., num_test=...,
  num_cxr8=..., size=..., defect_rate=..., workers=1) -> dict``: the whole data set
  (the CLI ``tools/dataset_converters/make_synthetic_cxr.py`` wraps it).
* ``make_phantom(rng, width, height, view, ...) -> Phantom``: one image with its region
  masks/boxes, lesions and region labels (for tests and analysis).
* ``region_labels(region_masks, lesions)``: the geometric region-label rule.
* ``render_mosaic(out_path, ...)``: the README mosaic.
* ``DEFECTS``, ``LESION_KINDS``, ``LESION_CLASSES``, ``LESION_CXR8``,
  ``DEFAULT_PREVALENCE``.

The package never imports models (DESIGN.md); it needs numpy, OpenCV and (for the mosaic)
pillow.
"""
from .defects import DEFECTS
from .generate import generate_dataset
from .lesions import (DEFAULT_PREVALENCE, ELIGIBLE_REGIONS, LESION_CLASSES, LESION_CXR8,
                      LESION_FRACTION, LESION_KINDS, MIN_OVERLAP_PX, REGION_FRACTION, Lesion,
                      region_labels)
from .mosaic import render_mosaic
from .phantom import Phantom, make_phantom

__all__ = [
    'generate_dataset', 'make_phantom', 'Phantom', 'region_labels', 'render_mosaic',
    'Lesion', 'DEFECTS', 'LESION_KINDS', 'LESION_CLASSES', 'LESION_CXR8',
    'DEFAULT_PREVALENCE', 'ELIGIBLE_REGIONS', 'LESION_FRACTION', 'REGION_FRACTION',
    'MIN_OVERLAP_PX',
]
