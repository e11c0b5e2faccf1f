"""Writers of small test inputs (DICOM, 8/16-bit PNG, JPEG) for the apis tests."""
from __future__ import annotations

import cv2
import numpy as np


def phantom_pixels(height: int = 40, width: int = 56, seed: int = 0,
                   max_value: int = 255) -> np.ndarray:
    """A smooth grey image with two dark 'lungs' and noise, values in [0, max_value]."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    image = 0.6 + 0.1 * rng.standard_normal((height, width))
    for cx in (0.3, 0.7):
        lung = ((xx / width - cx) / 0.15) ** 2 + ((yy / height - 0.5) / 0.3) ** 2 < 1
        image[lung] -= 0.4
    image = np.clip(image, 0, 1)
    image[0, 0], image[-1, -1] = 0.0, 1.0  # both ends of the range are present
    return np.rint(image * max_value).astype(np.int64)


def write_dicom(path, stored: np.ndarray, photometric: str = 'MONOCHROME2',
                bits_stored: int = 16, slope: float | None = None,
                intercept: float | None = None, window: tuple | None = None,
                samples_per_pixel: int = 1, frames: int = 1,
                voi_lut: tuple | None = None, preamble: bool = True,
                header: dict | None = None) -> None:
    """Write a minimal uncompressed DICOM image with pydicom.

    Args:
        stored: (H, W) stored values (or (H, W, 3) for a colour file, (F, H, W) for frames).
        window: (center, width) or None.
        voi_lut: (first_mapped, lut_values) for a VOI LUT Sequence, or None.
        preamble: False writes a dataset without the 128-byte preamble + DICM.
        header: more data elements by keyword, e.g. ``{'ViewPosition': 'LL'}``.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = 'DX'
    ds.Rows, ds.Columns = stored.shape[-3:-1] if samples_per_pixel == 3 else stored.shape[-2:]
    ds.SamplesPerPixel = samples_per_pixel
    ds.PhotometricInterpretation = photometric
    if samples_per_pixel == 3:
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    if slope is not None:
        ds.RescaleSlope = slope
        ds.RescaleIntercept = intercept
        ds.RescaleType = 'US'
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if voi_lut is not None:
        first, values = voi_lut
        item = Dataset()
        # both tags have ambiguous VRs (US/SS, US/OW): name them explicitly
        item.add_new(0x00283002, 'US', [len(values), first, 16])  # LUTDescriptor
        item.add_new(0x00283006, 'US', [int(v) for v in values])  # LUTData
        ds.VOILUTSequence = Sequence([item])
    for keyword, value in (header or {}).items():
        setattr(ds, keyword, value)
    ds.PixelData = np.ascontiguousarray(stored, dtype='<u2').tobytes()
    if preamble:
        ds.save_as(path, enforce_file_format=True)
    else:
        ds.save_as(path, implicit_vr=False, little_endian=True)


def write_png(path, pixels: np.ndarray) -> None:
    """Write grey or BGR pixels (uint8 or uint16) as PNG."""
    assert cv2.imwrite(str(path), pixels)


def write_jpg(path, pixels: np.ndarray, quality: int = 95) -> None:
    assert cv2.imwrite(str(path), pixels, [cv2.IMWRITE_JPEG_QUALITY, quality])


def phantom_png(path, seed: int, width: int, height: int) -> str:
    """Write the project's synthetic chest X-ray (8-bit) as a PNG; returns the path."""
    from mmadpd.datasets.synthetic.phantom import make_phantom

    image = make_phantom(np.random.default_rng(seed), width, height).image
    if image.dtype != np.uint8:
        image = np.rint(image.astype(np.float64) / image.max() * 255).astype(np.uint8)
    write_png(path, image)
    return str(path)
