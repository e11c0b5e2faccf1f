"""DICOM radiograph -> grey uint8, with pydicom doing all the DICOM maths.

The order is the DICOM display pipeline (PS3.3 C.11, PS3.4 N.2):

1. stored values: ``pixel_array`` (pydicom masks the bits above *BitsStored* and sign-
   extends signed data, so a 15-bit image never shows overlay bits in bit 15);
2. modality LUT: *RescaleSlope* / *RescaleIntercept* or a Modality LUT Sequence
   (``apply_modality_lut``);
3. VOI: a VOI LUT Sequence, else *WindowCenter* / *WindowWidth* (``apply_voi_lut``,
   first view). Its output range is known (pydicom maps a window to the full modality
   range of the *BitsStored* values, a LUT to its own entries), and that range - not the
   image's - becomes 0..255, so a window means the same grey on every image. We find the
   range by pushing the extremes of the input domain through the same pydicom call, so
   pydicom stays the only place with the DICOM formulas.
   Without VOI data the image's actual min..max becomes 0..255.
4. *PhotometricInterpretation* MONOCHROME1 (high values dark) is inverted last, so the
   result always follows MONOCHROME2 (bone bright). *PresentationLUTShape* INVERSE on a
   MONOCHROME1 image means the same single inversion (PS3.3 C.8.11.6), not a second one.

Colour (RGB, YBR_*, PALETTE COLOR) and multi-frame objects are rejected: chest X-ray
models are trained on single grey frames and silently picking one plane or frame would
hide a wrong input.
"""
from __future__ import annotations

import io
from typing import Union

import numpy as np

from .errors import ImageLoadError
from .intensity import min_max_range, scale_to_uint8

GREY_INTERPRETATIONS = ('MONOCHROME1', 'MONOCHROME2')


def read_dicom_grey(data: Union[bytes, str], path: str, force: bool = False) -> np.ndarray:
    """Decode one DICOM file to the project's grey uint8 convention.

    Args:
        data: the file's bytes (or a path pydicom can open).
        path: the name used in error messages.
        force: read a file without the 128-byte preamble + ``DICM`` marker (only done
            for files whose extension says DICOM).

    Returns:
        (Rows, Columns) uint8 array, 0 = black, MONOCHROME2 orientation.

    Raises:
        ImageLoadError: not DICOM, truncated, no pixel data, colour or multi-frame,
            undecodable transfer syntax.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    try:
        ds = pydicom.dcmread(source, force=force)
    except InvalidDicomError as exc:
        raise ImageLoadError(path, f'not a valid DICOM file ({exc})') from None
    except Exception as exc:  # pydicom raises EOFError/OSError/ValueError on cut files
        raise ImageLoadError(
            path, f'DICOM file cannot be parsed, it is probably truncated or '
            f'corrupt ({type(exc).__name__}: {exc})') from None

    try:
        _check_supported(ds, path)
    except ImageLoadError:
        raise
    except Exception as exc:  # pydicom converts values lazily: IS 'abc' raises here
        raise ImageLoadError(path, f'malformed DICOM header value '
                                   f'({type(exc).__name__}: {exc})') from None
    stored = _decode_pixels(ds, path)
    return dicom_pixels_to_grey(stored, ds, path)


def _check_supported(ds, path: str) -> None:
    if 'PixelData' not in ds:
        missing = [k for k in ('Rows', 'Columns', 'BitsAllocated') if k not in ds]
        hint = (' and misses ' + ', '.join(missing) + ': the file is probably truncated'
                if missing else ' (not an image object, e.g. a report or SR)')
        raise ImageLoadError(path, 'DICOM file has no pixel data' + hint)
    photometric = str(ds.get('PhotometricInterpretation', '')).strip().upper()
    samples = int(ds.get('SamplesPerPixel', 1) or 1)
    if samples != 1 or photometric not in GREY_INTERPRETATIONS:
        raise ImageLoadError(
            path, f'unsupported DICOM: colour image (PhotometricInterpretation='
            f'{photometric or "missing"}, SamplesPerPixel={samples}); only grey '
            f'MONOCHROME1/MONOCHROME2 radiographs are supported')
    frames = int(ds.get('NumberOfFrames', 1) or 1)
    if frames > 1:
        raise ImageLoadError(
            path, f'unsupported DICOM: multi-frame object ({frames} frames); '
            f'save the frontal view as a single-frame file')


def _decode_pixels(ds, path: str) -> np.ndarray:
    try:
        stored = ds.pixel_array
    except Exception as exc:
        tsyntax = getattr(getattr(ds, 'file_meta', None), 'TransferSyntaxUID', None)
        name = getattr(tsyntax, 'name', tsyntax) or 'unknown transfer syntax'
        message = str(exc)
        if 'less than expected' in message or 'truncated' in message.lower():
            reason = f'truncated DICOM pixel data ({message})'
        else:
            reason = (f'unsupported DICOM: pixel data cannot be decoded ({name}: '
                      f'{type(exc).__name__}: {message})')
        raise ImageLoadError(path, reason) from None
    if stored.ndim != 2:
        raise ImageLoadError(path, f'unsupported DICOM: pixel array has shape '
                                   f'{stored.shape}, expected (rows, columns)')
    return stored


def dicom_pixels_to_grey(stored: np.ndarray, ds, path: str = '<dicom>') -> np.ndarray:
    """Modality LUT -> VOI -> range -> MONOCHROME1 inversion (see module docstring).

    Args:
        stored: (H, W) stored pixel values as ``ds.pixel_array`` returns them.
        ds: the dataset holding the Modality LUT, VOI LUT and Image Pixel modules.
        path: the name used in error messages.

    Returns:
        (H, W) uint8 array.
    """
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        values = apply_modality_lut(stored, ds)
        if _has_voi(ds):
            if _voi_lut_item(ds) is not None:
                # LUT indices are integers; a rescale turns them into floats
                values = np.rint(values).astype(np.int64)
            lo, hi = _voi_output_range(ds, apply_voi_lut)
            values = apply_voi_lut(values, ds)
        else:
            lo, hi = min_max_range(values)
    except (ValueError, NotImplementedError, AttributeError, TypeError) as exc:
        raise ImageLoadError(path, f'unsupported DICOM grey-scale transform '
                                   f'({type(exc).__name__}: {exc})') from None
    invert = str(ds.PhotometricInterpretation).strip().upper() == 'MONOCHROME1'
    return scale_to_uint8(values, lo, hi, invert=invert)


def _voi_lut_item(ds):
    """The VOI LUT that ``apply_voi_lut`` will use (same validity test), or None."""
    sequence = ds.get('VOILUTSequence')
    if sequence and sequence[0].get('LUTDescriptor') is not None \
            and sequence[0].get('LUTData') is not None:
        return sequence[0]
    return None


def _has_voi(ds) -> bool:
    if _voi_lut_item(ds) is not None:
        return True
    return ds.get('WindowCenter') is not None and ds.get('WindowWidth') is not None


def _voi_output_range(ds, apply_voi_lut) -> tuple[float, float]:
    """Output values of the VOI transform at both ends of its input domain."""
    item = _voi_lut_item(ds)
    if item is not None:
        entries, first, _ = (int(v) for v in item.LUTDescriptor)
        entries = entries or 2 ** 16
        # in-range probes: pydicom's LUT indexing wraps values beyond uint16
        probe = np.array([first, first + entries - 1], dtype=np.int64)
    else:
        probe = np.array([-1e300, 1e300])
    with np.errstate(over='ignore', invalid='ignore'):
        ends = np.asarray(apply_voi_lut(probe, ds), dtype=np.float64)
    return float(ends.min()), float(ends.max())


# Transfer syntaxes decoded and tested on real files (tests/apis/test_transfer_syntaxes.py;
# README "Supported DICOM"), with the package that decodes each: pydicom itself for the
# uncompressed, deflated and RLE ones, the pinned pylibjpeg plugins (requirements/
# runtime.txt) for JPEG, JPEG-LS and JPEG 2000. pydicom picks the decoder by the file's UID.
SUPPORTED_TRANSFER_SYNTAXES = {
    '1.2.840.10008.1.2': 'pydicom',                  # Implicit VR Little Endian
    '1.2.840.10008.1.2.1': 'pydicom',                # Explicit VR Little Endian
    '1.2.840.10008.1.2.2': 'pydicom',                # Explicit VR Big Endian (retired)
    '1.2.840.10008.1.2.1.99': 'pydicom',             # Deflated Explicit VR Little Endian
    '1.2.840.10008.1.2.5': 'pydicom',                # RLE Lossless
    '1.2.840.10008.1.2.4.50': 'pylibjpeg-libjpeg',   # JPEG Baseline (Process 1)
    '1.2.840.10008.1.2.4.51': 'pylibjpeg-libjpeg',   # JPEG Extended (Process 2 and 4)
    '1.2.840.10008.1.2.4.70': 'pylibjpeg-libjpeg',   # JPEG Lossless, Process 14 SV1
    '1.2.840.10008.1.2.4.80': 'pylibjpeg-libjpeg',   # JPEG-LS Lossless
    '1.2.840.10008.1.2.4.81': 'pylibjpeg-libjpeg',   # JPEG-LS Near-Lossless
    '1.2.840.10008.1.2.4.90': 'pylibjpeg-openjpeg',  # JPEG 2000 (Lossless Only)
    '1.2.840.10008.1.2.4.91': 'pylibjpeg-openjpeg',  # JPEG 2000 (lossless or lossy)
}


def transfer_syntax_support() -> list:
    """``[(uid, name, decoder package, decoder available here)]`` for
    :data:`SUPPORTED_TRANSFER_SYNTAXES`, as pydicom's decoder registry reports them."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import UID

    return [(uid, UID(uid).name, package, get_decoder(uid).is_available)
            for uid, package in SUPPORTED_TRANSFER_SYNTAXES.items()]
