"""Inference on your own images: loaders (PNG/JPG/DICOM), folder expansion, the
:class:`ADPDInferencer` and crash-safe result writing."""
from .errors import ImageLoadError
from .image_io import LoadedImage, image_from_array, load_image
from .inferencer import ADPDInferencer
from .input_discovery import expand_inputs
from .results import unique_stems, write_summary

__all__ = ['ADPDInferencer', 'ImageLoadError', 'LoadedImage', 'load_image',
           'image_from_array', 'expand_inputs', 'unique_stems', 'write_summary']
