"""Load one input (PNG, JPEG, DICOM file or an in-memory array) as a grey uint8 image.

The project's input convention (checked here, at the boundary, once): a 2-D uint8 array,
0 = black, bone bright (MONOCHROME2), in the file's ORIGINAL pixel grid - nothing is
resized here, so predictions can be mapped back to exactly these pixels.

Rules per input kind (PNG/JPEG decode EXACTLY as the training/test loader
``LoadGreyImageFromFile`` does - same OpenCV flags, same :func:`to_grey_uint8` - so a file
gives the same network input through ``tools/infer.py`` as through ``tools/test.py``):

- JPEG: decoded straight to grey by libjpeg (``IMREAD_GRAYSCALE``), RGB included.
- PNG, 8-bit: kept as is; RGB(A) converted with OpenCV's BT.601 weights (alpha dropped).
- PNG, 16-bit (grey or RGB): scaled so the image's MAXIMUM becomes 255 and zero stays
  zero. A PNG has no *BitsStored*: 12-bit radiographs are commonly stored as 16-bit PNGs
  with values up to 4095, and dividing by the full 0..65535 range would make them nearly
  black. So a 16-bit PNG's absolute grey level is not preserved (an 8-bit image times 257
  loads exactly like the 8-bit image only because its maximum is 255).
- DICOM: see :mod:`mmadpd.apis.dicom_io` (modality LUT, VOI LUT/window, MONOCHROME1).
- arrays: 2-D or (H, W, 3) in BGR order (OpenCV's and mmdet's ``DetInferencer``
  convention), same rule as PNG (uint8 kept, wider types scaled by their maximum);
  negative or non-finite values are rejected (scale them to 0..255 first).

The file type is decided by the file's signature, not its extension (a ``.png`` that is
really a JPEG loads); DICOM files without the ``DICM`` preamble are read only when the
extension is ``.dcm``/``.dicom``. A PNG or JPEG must be complete by its own structure
(:mod:`.raster_structure`) before it is decoded, since OpenCV decodes a cut JPEG with grey
fill. Every failure raises :class:`ImageLoadError` naming the file and the problem.

Aspect ratio: up to ``MAX_ASPECT_RATIO`` (long side / short side) is supported; beyond it
the letterbox to the network input would leave the short side under one pixel, so such
an image is rejected here with that reason instead of failing inside preprocessing.
"""
from __future__ import annotations

import os
import os.path as osp
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np

from .dicom_header import DicomInfo, read_dicom_info
from .dicom_io import read_dicom_grey
from .errors import ImageLoadError
from .raster_structure import PNG_SIGNATURE, jpeg_structure_problem, png_structure_problem
JPEG_SIGNATURE = b'\xff\xd8\xff'
DICOM_MARKER_OFFSET = 128
DICOM_EXTENSIONS = ('.dcm', '.dicom')
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg') + DICOM_EXTENSIONS
#: long side / short side; 100:1 keeps the short side >= 1 px down to a 50-px input
MAX_ASPECT_RATIO = 100


@dataclass
class LoadedImage:
    """One decoded input.

    Attributes:
        image: (H, W) uint8 grey image in original pixels.
        path: the file path, or None for an array input.
        kind: how it was decoded, e.g. ``'png-16bit'``, ``'dicom-MONOCHROME1'``.
        dicom: the allow-listed header fields of a DICOM input (UIDs, view, spacing),
            None for other inputs.
        warnings: problems that did not stop the image (e.g. an unknown view).
    """
    image: np.ndarray
    path: Optional[str]
    kind: str
    dicom: Optional[DicomInfo] = None
    warnings: Tuple[str, ...] = ()

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


def is_dicom_bytes(head: bytes) -> bool:
    """True when ``head`` (the first >= 132 bytes) carries the DICOM file marker."""
    return head[DICOM_MARKER_OFFSET:DICOM_MARKER_OFFSET + 4] == b'DICM'


def read_file_bytes(path: str) -> bytes:
    """Read a whole file, turning every OS failure into an :class:`ImageLoadError`."""
    if osp.isdir(path):
        raise ImageLoadError(path, 'is a directory, not an image file')
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        raise ImageLoadError(path, 'no such file') from None
    except PermissionError:
        raise ImageLoadError(path, 'permission denied (file is not readable)') from None
    except OSError as exc:
        raise ImageLoadError(path, f'cannot be read ({exc.strerror or exc})') from None
    if not data:
        raise ImageLoadError(path, 'empty file (0 bytes)')
    return data


def load_image(path: str) -> LoadedImage:
    """Load a PNG, JPEG or DICOM file as a grey uint8 image (module docstring)."""
    path = os.fspath(path)
    data = read_file_bytes(path)
    ext = osp.splitext(path)[1].lower()
    if is_dicom_bytes(data[:DICOM_MARKER_OFFSET + 4]):
        # the header is parsed a second time, header-only, keeping the allow-listed
        # tags alone (dicom_header), so no other field can reach a result
        loaded = LoadedImage(read_dicom_grey(data, path), path, 'dicom',
                             dicom=read_dicom_info(data, path))
    elif data.startswith(PNG_SIGNATURE) or data.startswith(JPEG_SIGNATURE):
        kind = 'png' if data.startswith(PNG_SIGNATURE) else 'jpeg'
        check = png_structure_problem if kind == 'png' else jpeg_structure_problem
        problem = check(data)
        if problem:
            raise ImageLoadError(path, problem)
        loaded = _decode_raster(data, path, kind)
    elif ext in DICOM_EXTENSIONS:
        # DICOM written without the preamble (old ACR-NEMA style) is still DICOM
        loaded = LoadedImage(read_dicom_grey(data, path, force=True), path, 'dicom',
                             dicom=read_dicom_info(data, path, force=True))
    else:
        raise ImageLoadError(path, f'not an image: unrecognised file signature '
                                   f'{data[:8]!r} (expected PNG, JPEG or DICOM)')
    check_aspect_ratio(loaded.image.shape, path)
    return loaded


def check_aspect_ratio(shape, name: str) -> None:
    """Reject an image whose long side exceeds ``MAX_ASPECT_RATIO`` x its short side."""
    height, width = int(shape[0]), int(shape[1])
    if max(height, width) > MAX_ASPECT_RATIO * min(height, width):
        raise ImageLoadError(name, f'aspect ratio {width}x{height} is beyond the supported '
                                   f'{MAX_ASPECT_RATIO}:1 (the letterbox to the network '
                                   f'input would leave the short side under one pixel)')


def _decode_raster(data: bytes, path: str, kind: str) -> LoadedImage:
    import cv2

    # the flags of mmadpd.datasets.transforms.loading.read_grey (train/test loader)
    flag = cv2.IMREAD_GRAYSCALE if kind == 'jpeg' else cv2.IMREAD_UNCHANGED
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    if decoded is None or decoded.size == 0:
        raise ImageLoadError(path, f'corrupt {kind.upper()} file (cannot be decoded)')
    grey, depth = _to_grey(decoded, path)
    return LoadedImage(grey, path, f'{kind}-{depth}bit')


def _to_grey(pixels: np.ndarray, path: str) -> tuple[np.ndarray, int]:
    """Grey/BGR/BGRA pixels of any bit depth -> (grey uint8, bits per sample), by the
    training loader's :func:`to_grey_uint8` after checks that give clear errors."""
    from mmadpd.datasets.transforms.loading import to_grey_uint8

    if pixels.dtype == np.bool_ or not np.issubdtype(pixels.dtype, np.number) \
            or np.issubdtype(pixels.dtype, np.complexfloating):
        raise ImageLoadError(path, f'unsupported pixel type {pixels.dtype}')
    if pixels.ndim == 3 and pixels.shape[2] not in (1, 3, 4):
        raise ImageLoadError(path, f'unsupported channel count {pixels.shape[2]}')
    if pixels.ndim not in (2, 3):
        raise ImageLoadError(path, f'unsupported image shape {pixels.shape}')
    if pixels.dtype != np.uint8:
        if not np.isfinite(pixels).all():
            raise ImageLoadError(path, 'image contains NaN or infinite values')
        if pixels.min() < 0:
            raise ImageLoadError(path, 'image has negative values; scale it to 0..255 '
                                       '(or 0..max) first')
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 3 and pixels.dtype not in (np.uint8, np.uint16, np.float32):
        pixels = pixels.astype(np.float32)  # the dtypes cv2.cvtColor accepts
    grey = to_grey_uint8(pixels, path)
    return np.ascontiguousarray(grey), 8 * pixels.dtype.itemsize


def image_from_array(array: np.ndarray, name: str = '<array>') -> LoadedImage:
    """Wrap an in-memory image (2-D grey or (H, W, 3/4) BGR[A]) as a :class:`LoadedImage`."""
    array = np.asarray(array)
    if array.ndim not in (2, 3) or min(array.shape[:2]) < 1:
        raise ImageLoadError(name, f'unsupported array shape {array.shape}, expected '
                                   f'(H, W) or (H, W, 3)')
    grey, _ = _to_grey(array, name)
    check_aspect_ratio(grey.shape, name)
    return LoadedImage(grey, None, f'array-{array.dtype}')
