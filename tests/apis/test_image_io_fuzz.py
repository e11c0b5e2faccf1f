"""Hostile image files for the loaders: the regression tests of issue 21 (a truncated
JPEG with an EXIF thumbnail, extreme aspect ratios, a malformed DICOM header value) and a
property test over mutated PNG/JPEG/DICOM bytes (a file loads or fails with one
:class:`ImageLoadError` line naming it; nothing else escapes)."""
import struct
import tempfile

import cv2
import numpy as np
import pytest
from cxr_files import phantom_pixels, write_dicom
from fuzz_settings import fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from mmadpd.apis import image_io
from mmadpd.apis.errors import ImageLoadError
from mmadpd.apis.image_io import image_from_array, load_image
from mmadpd.apis.raster_structure import jpeg_structure_problem, png_structure_problem


def jpeg_bytes(height=96, width=80, seed=0):
    pixels = phantom_pixels(height, width, seed=seed).astype(np.uint8)
    return cv2.imencode('.jpg', pixels, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def png_bytes(height=40, width=56):
    return cv2.imencode('.png', phantom_pixels(height, width).astype(np.uint8))[1].tobytes()


def with_exif_thumbnail(jpeg: bytes) -> bytes:
    """``jpeg`` with an APP1 (EXIF) segment holding a complete 8x8 JPEG thumbnail."""
    thumb = jpeg_bytes(8, 8, seed=1)
    payload = b'Exif\x00\x00' + thumb
    return jpeg[:2] + b'\xff\xe1' + struct.pack('>H', len(payload) + 2) + payload + jpeg[2:]


def test_truncated_jpeg_with_exif_thumbnail_is_detected(tmp_path):
    data = with_exif_thumbnail(jpeg_bytes(48, 40))
    full = tmp_path / 'full.jpg'
    full.write_bytes(data)
    assert load_image(str(full)).image.shape == (48, 40)
    cut = tmp_path / 'cut.jpg'
    cut.write_bytes(data[:len(data) * 2 // 3])
    assert len(data) < 4096  # the thumbnail's end marker is among the last 4 kB
    with pytest.raises(ImageLoadError, match='truncated JPEG file') as info:
        load_image(str(cut))
    assert str(info.value).startswith(f'{cut}: ')


def test_structure_walk_accepts_complete_files_and_trailing_padding():
    jpeg, png = jpeg_bytes(), png_bytes()
    assert jpeg_structure_problem(jpeg) == '' == png_structure_problem(png)
    assert jpeg_structure_problem(jpeg + b'\x00' * 100) == ''
    progressive = cv2.imencode('.jpg', phantom_pixels(64, 64).astype(np.uint8),
                               [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])[1].tobytes()
    assert jpeg_structure_problem(progressive) == ''
    for cut in (3, 20, len(jpeg) // 2, len(jpeg) - 2):
        assert jpeg_structure_problem(jpeg[:cut]).startswith('truncated JPEG')
    for cut in (10, len(png) // 2, len(png) - 4):
        assert png_structure_problem(png[:cut]).startswith('truncated PNG')


@pytest.mark.parametrize('shape', [(10, 10000), (10000, 10), (2, 700)])
def test_extreme_aspect_ratio_is_rejected_early_with_the_reason(tmp_path, shape):
    path = tmp_path / 'strip.png'
    cv2.imwrite(str(path), np.full(shape, 90, np.uint8))
    for load in (lambda: load_image(str(path)), lambda: image_from_array(
            np.full(shape, 90, np.uint8), 'strip')):
        with pytest.raises(ImageLoadError, match='aspect ratio .* beyond the supported'):
            load()
    wide = np.full((10, 10 * image_io.MAX_ASPECT_RATIO), 90, np.uint8)
    assert image_from_array(wide).width == 10 * image_io.MAX_ASPECT_RATIO


def test_malformed_dicom_header_value_is_a_one_line_reason(tmp_path):
    path = tmp_path / 'bad_is.dcm'
    write_dicom(path, phantom_pixels(16, 16, max_value=4095), bits_stored=12)
    data = path.read_bytes()
    # NumberOfFrames (0028,0008) IS 'abc': insert it, explicit VR little endian
    element = struct.pack('<HH', 0x0028, 0x0008) + b'IS' + struct.pack('<H', 4) + b'abc '
    anchor = data.index(struct.pack('<HH', 0x0028, 0x0010))  # Rows
    path.write_bytes(data[:anchor] + element + data[anchor:])
    with pytest.raises(ImageLoadError) as info:
        load_image(str(path))
    reason = info.value.reason
    assert '\n' not in reason and ' at 0x' not in reason
    assert str(info.value).startswith(f'{path}: ')


def _dicom_bytes():
    with tempfile.TemporaryDirectory() as folder:
        path = f'{folder}/x.dcm'
        write_dicom(path, phantom_pixels(12, 10, max_value=4095), 'MONOCHROME1',
                    bits_stored=12, window=(2000, 3000))
        with open(path, 'rb') as f:
            return f.read()


SEEDS = {'png': png_bytes(), 'jpeg': with_exif_thumbnail(jpeg_bytes(24, 20)),
         'dicom': _dicom_bytes()}
EXT = {'png': '.png', 'jpeg': '.jpg', 'dicom': '.dcm'}


@st.composite
def mutated_file(draw):
    kind = draw(st.sampled_from(sorted(SEEDS)))
    data = bytearray(SEEDS[kind])
    for _ in range(draw(st.integers(0, 4))):
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        op = draw(st.sampled_from(['flip', 'insert', 'delete', 'truncate']))
        if op == 'flip' and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == 'insert':
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == 'delete':
            del data[pos:pos + draw(st.integers(1, 16))]
        elif op == 'truncate':
            del data[pos:]
    return kind, bytes(data)


@fuzz_settings(120)
@given(mutated_file())
def test_fuzz_mutated_files_load_or_fail_with_one_clear_line(case):
    kind, data = case
    with tempfile.TemporaryDirectory() as folder:
        path = f'{folder}/input{EXT[kind]}'
        with open(path, 'wb') as f:
            f.write(data)
        try:
            loaded = load_image(path)
        except ImageLoadError as exc:
            assert str(exc).startswith(f'{path}: ') and '\n' not in str(exc)
            assert ' at 0x' not in str(exc)
            return
        assert loaded.image.dtype == np.uint8 and loaded.image.ndim == 2
        assert min(loaded.image.shape) >= 1
