"""PNG/JPEG/array loading to grey uint8 and the error for every kind of bad file."""
import os

import cv2
import numpy as np
import pytest
from cxr_files import phantom_pixels, write_jpg, write_png

from mmadpd.apis import image_io
from mmadpd.apis.errors import ImageLoadError
from mmadpd.apis.image_io import image_from_array, load_image


@pytest.fixture
def grey8():
    return phantom_pixels(30, 50, seed=7).astype(np.uint8)


def test_8bit_grey_png_is_loaded_unchanged(tmp_path, grey8):
    write_png(tmp_path / 'a.png', grey8)
    loaded = load_image(str(tmp_path / 'a.png'))
    np.testing.assert_array_equal(loaded.image, grey8)
    assert (loaded.width, loaded.height, loaded.kind) == (50, 30, 'png-8bit')


def test_16bit_png_is_scaled_by_its_maximum(tmp_path, grey8):
    write_png(tmp_path / 'full.png', grey8.astype(np.uint16) * 257)
    twelve_bit = (grey8.astype(np.int64) * 4095 + 127) // 255
    write_png(tmp_path / 'twelve.png', twelve_bit.astype(np.uint16))
    full = load_image(str(tmp_path / 'full.png'))
    twelve = load_image(str(tmp_path / 'twelve.png'))
    assert full.kind == 'png-16bit'
    np.testing.assert_array_equal(full.image, grey8)
    # 12-bit values in a 16-bit container are not left nearly black
    assert twelve.image.max() == 255
    assert np.abs(twelve.image.astype(int) - grey8).max() <= 1
    # zero stays zero: a bright-only image is not stretched to black
    write_png(tmp_path / 'bright.png', (grey8.astype(np.uint16) + 1000) * 10)
    bright = load_image(str(tmp_path / 'bright.png')).image
    assert bright.max() == 255 and bright.min() == round(10000 / 12550 * 255)


def test_files_load_exactly_as_the_training_loader_reads_them(tmp_path, grey8):
    from mmadpd.datasets.transforms.loading import read_grey

    bgr = np.dstack([grey8, np.roll(grey8, 3, axis=1), 255 - grey8])
    write_jpg(tmp_path / 'c.jpg', bgr)
    write_png(tmp_path / 'c16.png', bgr.astype(np.uint16) * 200)
    write_png(tmp_path / 'g.png', grey8)
    for name in ('c.jpg', 'c16.png', 'g.png'):
        path = str(tmp_path / name)
        np.testing.assert_array_equal(load_image(path).image, read_grey(path))


def test_rgb_jpg_and_rgba_png_become_grey(tmp_path, grey8):
    bgr = np.dstack([grey8, np.roll(grey8, 3, axis=1), 255 - grey8])
    write_jpg(tmp_path / 'c.jpg', bgr)
    write_png(tmp_path / 'c.png', np.dstack([bgr, np.full_like(grey8, 9)]))
    expected = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(int)
    jpg = load_image(str(tmp_path / 'c.jpg'))  # libjpeg's own grey decode
    png = load_image(str(tmp_path / 'c.png'))
    assert jpg.image.shape == png.image.shape == grey8.shape
    np.testing.assert_array_equal(png.image, expected)  # alpha ignored
    assert np.abs(jpg.image.astype(int) - expected).mean() < 4  # JPEG loss only


def test_16bit_rgb_png(tmp_path, grey8):
    bgr16 = np.dstack([grey8] * 3).astype(np.uint16) * 257
    write_png(tmp_path / 'c16.png', bgr16)
    np.testing.assert_array_equal(load_image(str(tmp_path / 'c16.png')).image, grey8)


def test_file_type_comes_from_the_signature_not_the_extension(tmp_path, grey8):
    write_jpg(tmp_path / 'x.jpg', grey8)
    os.rename(tmp_path / 'x.jpg', tmp_path / 'really_a_jpeg.png')
    assert load_image(str(tmp_path / 'really_a_jpeg.png')).kind == 'jpeg-8bit'


def _bad_file(tmp_path, kind, grey8):
    path = tmp_path / (f'bad_{kind}.' + ('jpg' if kind.endswith('jpg') else 'png'))
    if kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'text':
        path.write_text('patient id, finding\n1, none\n')
    elif kind in ('truncated_png', 'truncated_jpg'):
        write_png(path, grey8) if kind == 'truncated_png' else write_jpg(path, grey8)
        data = path.read_bytes()
        path.write_bytes(data[:len(data) // 2])
    elif kind == 'corrupt_png':
        write_png(path, grey8)
        data = bytearray(path.read_bytes())
        data[40:80] = b'\x00' * 40  # header intact, compressed data destroyed
        path.write_bytes(bytes(data))
    elif kind == 'directory':
        path.mkdir()
    elif kind == 'missing':
        pass
    return str(path)


@pytest.mark.parametrize('kind, pattern', [
    ('empty', 'empty file'),
    ('text', 'not an image: unrecognised file signature'),
    ('truncated_png', 'truncated PNG'),
    ('truncated_jpg', 'truncated JPEG'),
    ('corrupt_png', 'corrupt PNG'),
    ('directory', 'is a directory'),
    ('missing', 'no such file'),
])
def test_bad_files_raise_with_path_and_reason(tmp_path, grey8, kind, pattern):
    path = _bad_file(tmp_path, kind, grey8)
    with pytest.raises(ImageLoadError, match=pattern) as info:
        load_image(path)
    assert str(info.value).startswith(path + ': ')
    assert info.value.path == path and pattern.split(':')[0] in info.value.reason


def test_unreadable_file_reports_permission(tmp_path, grey8, monkeypatch):
    path = tmp_path / 'locked.png'
    write_png(path, grey8)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):  # root reads mode-000 files: make open() refuse
            def refuse(*args, **kwargs):
                raise PermissionError(13, 'Permission denied')
            monkeypatch.setattr(image_io, 'open', refuse, raising=False)
        with pytest.raises(ImageLoadError, match='permission denied'):
            load_image(str(path))
    finally:
        path.chmod(0o644)


def test_arrays_follow_the_same_convention(grey8):
    bgr = np.dstack([grey8] * 3)
    np.testing.assert_array_equal(image_from_array(bgr).image, grey8)
    wide = grey8.astype(np.float32) * 10  # scaled by its maximum, as 16-bit PNGs
    np.testing.assert_array_equal(image_from_array(wide).image, grey8)
    with pytest.raises(ImageLoadError, match='negative values'):
        image_from_array(wide - 300)
    with pytest.raises(ImageLoadError, match='unsupported array shape'):
        image_from_array(np.zeros((2, 3, 4, 5)), 'array_0001')
    with pytest.raises(ImageLoadError, match='NaN'):
        image_from_array(np.full((4, 4), np.nan))
