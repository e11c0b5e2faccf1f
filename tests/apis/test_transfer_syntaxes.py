"""Every supported transfer syntax, decoded from a real file (pydicom's test files and the
pinned ``pydicom-data`` package: images from real devices), against a reference:

- the same image stored uncompressed (``*_UNCR``, ``MR_small``) where the test sets have one;
- otherwise an independent decoder of the same stream (OpenCV's libjpeg-turbo for JPEG
  lossless, zlib for Deflated) or, for lossy files, the lossless original.

Lossless files must give the same grey image and the same boxes as the reference; lossy
ones a grey image within a few levels and boxes within a small tolerance.
"""
import os.path as osp
import re
import zlib
from functools import lru_cache

import cv2
import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import JPEGBaseline8Bit

from mmadpd.apis import load_image
from mmadpd.apis.dicom_io import (SUPPORTED_TRANSFER_SYNTAXES, dicom_pixels_to_grey,
                                  transfer_syntax_support)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# lossy: mean / max grey difference to the reference (0..255; JPGExtended.dcm is
# compressed 76:1 and gives 2.3 / 44), box tolerance as a fraction of the long side
LOSSY_MEAN, LOSSY_MAX, BOX_TOL = 3.0, 48, 0.02


def _testfile(name):
    return get_testdata_file(name)  # found in pydicom or in the pydicom-data package


@lru_cache(maxsize=None)
def _reference_grey(name):
    return load_image(_testfile(name)).image


def _opencv_jpeg_reference(name):
    """Stored values decoded by OpenCV's libjpeg-turbo, not by the pydicom plugin."""
    ds = pydicom.dcmread(_testfile(name))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    stored = cv2.imdecode(np.frombuffer(frame, np.uint8), cv2.IMREAD_UNCHANGED)
    return dicom_pixels_to_grey(stored, ds)


def _zlib_reference(name):
    """A Deflated file inflated by zlib: the pixel data are the last Rows*Columns bytes of
    the inflated data set (8-bit image, Pixel Data is its last element)."""
    ds = pydicom.dcmread(_testfile(name))
    raw = open(_testfile(name), 'rb').read()
    meta_end = 132 + 12 + int(ds.file_meta.FileMetaInformationGroupLength)
    inflated = zlib.decompress(raw[meta_end:], -zlib.MAX_WBITS)
    size = ds.Rows * ds.Columns
    stored = np.frombuffer(inflated[-size:], np.uint8).reshape(ds.Rows, ds.Columns)
    return dicom_pixels_to_grey(stored, ds)


def _jpeg_baseline_file(tmp_path):
    """The test sets hold no grey JPEG Baseline file: encode a real CR chest radiograph
    (RG1, 8-bit after windowing, half size) with libjpeg at quality 90 and store it as
    JPEG Baseline DICOM. Returns (path, the 8-bit pixels it was encoded from)."""
    grey = _reference_grey('RG1_UNCR.dcm')
    grey = cv2.resize(grey, (grey.shape[1] // 2, grey.shape[0] // 2),
                      interpolation=cv2.INTER_AREA)
    ok, stream = cv2.imencode('.jpg', grey, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    ds = pydicom.dcmread(_testfile('RG1_UNCR.dcm'))
    ds.Rows, ds.Columns = grey.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.WindowCenter, ds.WindowWidth = 128, 256  # the identity window on 0..255
    ds.PixelData = encapsulate([stream.tobytes()])
    ds['PixelData'].VR = 'OB'
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    path = tmp_path / 'rg1_jpeg_baseline.dcm'
    ds.save_as(path, enforce_file_format=True)
    return str(path), grey


# (transfer syntax UID, file, reference, lossless?)
CASES = [
    ('1.2.840.10008.1.2', 'MR_small_implicit.dcm', 'MR_small.dcm', True),
    ('1.2.840.10008.1.2.1', 'RG1_UNCR.dcm', None, True),  # the others' reference
    ('1.2.840.10008.1.2.2', 'MR_small_bigendian.dcm', 'MR_small.dcm', True),
    ('1.2.840.10008.1.2.1.99', 'image_dfl.dcm', _zlib_reference, True),
    ('1.2.840.10008.1.2.5', 'MR_small_RLE.dcm', 'MR_small.dcm', True),
    ('1.2.840.10008.1.2.4.50', None, None, False),  # built by _jpeg_baseline_file
    ('1.2.840.10008.1.2.4.51', 'JPGExtended.dcm', 'JPEG-LL.dcm', False),
    ('1.2.840.10008.1.2.4.70', 'JPGLosslessP14SV1_1s_1f_8b.dcm', _opencv_jpeg_reference,
     True),
    ('1.2.840.10008.1.2.4.80', 'MR_small_jpeg_ls_lossless.dcm', 'MR_small.dcm', True),
    ('1.2.840.10008.1.2.4.81', 'JPEGLSNearLossless_16.dcm', None, False),
    ('1.2.840.10008.1.2.4.90', 'RG1_J2KR.dcm', 'RG1_UNCR.dcm', True),
    ('1.2.840.10008.1.2.4.91', 'RG1_J2KI.dcm', 'RG1_UNCR.dcm', False),
]


def test_every_supported_syntax_has_a_case_and_an_installed_decoder():
    assert sorted(c[0] for c in CASES) == sorted(SUPPORTED_TRANSFER_SYNTAXES)
    missing = [(uid, name, pkg) for uid, name, pkg, ok in transfer_syntax_support() if not ok]
    assert not missing, f'decoder plugins not installed: {missing}'


def test_readme_table_lists_exactly_the_supported_syntaxes():
    readme = open(osp.join(REPO, 'README.md'), encoding='utf-8').read()
    section = readme.split('## Supported DICOM', 1)[1].split('\n## ', 1)[0]
    rows = re.findall(r'^\|[^|]+\| (1\.2\.840\.10008\.[0-9.]+) \|', section, re.M)
    assert sorted(rows) == sorted(SUPPORTED_TRANSFER_SYNTAXES)


def test_real_files_decode_like_their_reference_and_give_the_same_boxes(
        tmp_path, inferencer):
    images, references, lossless, syntaxes = [], [], [], []
    for uid, name, reference, exact in CASES:
        if name is None:
            path, ref = _jpeg_baseline_file(tmp_path)
        else:
            path = _testfile(name)
            if reference is None:  # no reference exists: decoding alone is checked
                ref = None
            elif callable(reference):
                ref = reference(name)
            else:
                ref = _reference_grey(reference)
        assert str(pydicom.dcmread(path, stop_before_pixels=True)
                   .file_meta.TransferSyntaxUID) == uid, name
        loaded = load_image(path)
        assert loaded.kind == 'dicom' and loaded.image.dtype == np.uint8
        assert loaded.image.max() > loaded.image.min(), f'{name}: flat image'
        syntaxes.append(uid)
        if ref is None:
            continue
        assert loaded.image.shape == ref.shape, name
        diff = np.abs(loaded.image.astype(int) - ref.astype(int))
        if exact:
            assert diff.max() == 0, f'{name}: lossless decode differs from its reference'
        else:
            assert diff.mean() < LOSSY_MEAN and diff.max() <= LOSSY_MAX, \
                (name, diff.mean(), diff.max())
        images.append(path)
        references.append(ref)
        lossless.append(exact)
    assert sorted(syntaxes) == sorted(SUPPORTED_TRANSFER_SYNTAXES)

    # one inferencer call: every file, then every reference (as a grey array)
    out = inferencer(images + references)['predictions']
    files, refs = out[:len(images)], out[len(images):]
    for path, exact, got, want in zip(images, lossless, files, refs):
        got_boxes = np.array([p['box'] for p in got['pathologies']]).reshape(-1, 4)
        want_boxes = np.array([p['box'] for p in want['pathologies']]).reshape(-1, 4)
        if exact:
            # (a file with pixel spacing also has box_mm, its array reference has not)
            keys = ('class', 'score', 'box', 'regions')
            assert [[p[k] for k in keys] for p in got['pathologies']] == \
                [[p[k] for k in keys] for p in want['pathologies']], path
            assert [r['box'] for r in got['regions']] == [r['box'] for r in want['regions']]
        else:
            tol = BOX_TOL * max(got['width'], got['height'])
            assert [p['class'] for p in got['pathologies']] == \
                [p['class'] for p in want['pathologies']], path
            assert np.abs(got_boxes - want_boxes).max(initial=0) <= tol, path


def test_real_colour_jpeg_file_is_refused_with_the_colour_reason():
    from mmadpd.apis.errors import ImageLoadError

    with pytest.raises(ImageLoadError, match='colour image .*YBR_FULL'):
        load_image(_testfile('SC_rgb_jpeg_dcmtk.dcm'))
