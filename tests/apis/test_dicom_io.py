"""DICOM loading: modality LUT, window / VOI LUT, MONOCHROME1, BitsStored, rejections."""
import numpy as np
import pytest
from cxr_files import phantom_pixels, write_dicom

from mmadpd.apis.errors import ImageLoadError
from mmadpd.apis.image_io import load_image

MAX15 = 2 ** 15 - 1


def _linear_window_reference(modality, center, width):
    """DICOM PS3.3 C.11.2.1.2.1 'LINEAR' window to [0, 1], written out independently."""
    out = (modality - (center - 0.5)) / (width - 1) + 0.5
    return np.clip(out, 0.0, 1.0)


def test_monochrome1_15bit_window_matches_reference_and_mirrored_monochrome2(tmp_path):
    stored = phantom_pixels(30, 44, seed=1, max_value=MAX15)
    slope, intercept, center, width = 2, -1000, 20000, 40000
    write_dicom(tmp_path / 'm1.dcm', stored, 'MONOCHROME1', bits_stored=15, slope=slope,
                intercept=intercept, window=(center, width))
    # the same picture as MONOCHROME2: mirrored stored values and a mirrored window
    mirror = slope * MAX15 + 2 * intercept
    write_dicom(tmp_path / 'm2.dcm', MAX15 - stored, 'MONOCHROME2', bits_stored=15,
                slope=slope, intercept=intercept, window=(mirror - center, width))
    grey1 = load_image(str(tmp_path / 'm1.dcm')).image
    grey2 = load_image(str(tmp_path / 'm2.dcm')).image
    assert grey1.shape == (30, 44) and grey1.dtype == np.uint8
    # equal up to rounding ties: u and 1 - u round to complementary grey levels except
    # where 255 * u lies within float error of k + 0.5
    diff = np.abs(grey1.astype(int) - grey2.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01
    # pydicom maps the window to [y_min, y_max]; the loader maps that range to 0..255,
    # so the result is the reference window in [0, 1], inverted (MONOCHROME1)
    unit = _linear_window_reference(slope * stored + intercept, center, width)
    expected = np.rint((1.0 - unit) * 255).astype(np.uint8)
    assert np.abs(grey1.astype(int) - expected).max() <= 1
    # the window clips: some pixels saturate, so a min-max rule would have given another image
    assert (unit == 1.0).any() or (unit == 0.0).any()


def test_bits_above_bits_stored_are_ignored(tmp_path):
    stored = phantom_pixels(20, 24, seed=2, max_value=4095)
    noisy = stored | (np.random.default_rng(0).integers(0, 2, stored.shape) << 15)
    write_dicom(tmp_path / 'clean.dcm', stored, bits_stored=12)
    write_dicom(tmp_path / 'overlay.dcm', noisy, bits_stored=12)
    np.testing.assert_array_equal(load_image(str(tmp_path / 'clean.dcm')).image,
                                  load_image(str(tmp_path / 'overlay.dcm')).image)


def test_without_voi_the_actual_range_is_stretched(tmp_path):
    stored = 1000 + phantom_pixels(20, 24, seed=3, max_value=600)
    write_dicom(tmp_path / 'plain.dcm', stored, bits_stored=12, slope=1.5, intercept=7)
    grey = load_image(str(tmp_path / 'plain.dcm')).image
    assert grey.min() == 0 and grey.max() == 255
    expected = np.rint((stored - stored.min()) / (stored.max() - stored.min()) * 255)
    np.testing.assert_array_equal(grey, expected.astype(np.uint8))


def test_voi_lut_sequence_is_applied(tmp_path):
    stored = phantom_pixels(16, 16, seed=4, max_value=255)
    lut = np.where(np.arange(256) < 128, 0, 4095)  # a hard threshold LUT
    write_dicom(tmp_path / 'lut.dcm', stored, bits_stored=8, voi_lut=(0, lut))
    grey = load_image(str(tmp_path / 'lut.dcm')).image
    np.testing.assert_array_equal(grey, np.where(stored < 128, 0, 255))


def test_dicom_without_preamble_needs_dicom_extension(tmp_path):
    stored = phantom_pixels(12, 10, seed=5, max_value=1000)
    write_dicom(tmp_path / 'raw.dcm', stored, bits_stored=12, preamble=False)
    assert load_image(str(tmp_path / 'raw.dcm')).image.shape == (12, 10)
    (tmp_path / 'raw').write_bytes((tmp_path / 'raw.dcm').read_bytes())
    with pytest.raises(ImageLoadError, match='not an image'):
        load_image(str(tmp_path / 'raw'))


@pytest.mark.parametrize('kind, pattern', [
    ('rgb', 'colour image .*RGB'),
    ('ybr', 'colour image .*YBR_FULL'),
    ('frames', 'multi-frame object \\(3 frames\\)'),
    ('truncated', 'truncated'),
    ('no_pixels', 'no pixel data'),
])
def test_unsupported_dicom_is_rejected_with_its_reason(tmp_path, kind, pattern):
    path = tmp_path / f'{kind}.dcm'
    if kind in ('rgb', 'ybr'):
        write_dicom(path, np.zeros((8, 8, 3), np.uint16), 'RGB' if kind == 'rgb' else
                    'YBR_FULL', bits_stored=8, samples_per_pixel=3)
    elif kind == 'frames':
        write_dicom(path, np.zeros((3, 8, 8), np.uint16), bits_stored=12, frames=3)
    else:
        write_dicom(path, phantom_pixels(8, 8), bits_stored=8)
        data = path.read_bytes()
        # cut inside the pixel data, or before it (header only)
        path.write_bytes(data[:-10] if kind == 'truncated' else data[:300])
    with pytest.raises(ImageLoadError, match=pattern) as info:
        load_image(str(path))
    assert str(path) in str(info.value) and info.value.path == str(path)
