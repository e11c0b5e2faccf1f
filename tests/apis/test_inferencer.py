"""ADPDInferencer end to end on a random-init Loc-ADPD (synthetic config): DICOM
photometric handling, 16-bit PNG / RGB JPG, exact mapping back of non-square images.

All images go through ONE batched call (module fixture) to keep the CPU time small.
"""
import json
import os

import numpy as np
import pytest
from cxr_files import phantom_pixels, write_dicom, write_jpg, write_png

MAX15 = 2 ** 15 - 1


def _pad_value(inferencer):
    """The letterbox padding grey level of the config's test pipeline."""
    for t in inferencer.pipeline.transforms:
        pad_val = getattr(t, 'pad_val', None)
        if pad_val is not None:
            return pad_val.get('img', 0) if isinstance(pad_val, dict) else pad_val
    return 0


@pytest.fixture(scope='module')
def run(inferencer, tmp_path_factory):
    """Write every test image, run the inferencer once, return {name: result}."""
    d = tmp_path_factory.mktemp('inputs')
    # letterbox side of the config (the first transform with a scale: the Resize)
    size = next(t.scale for t in inferencer.pipeline.transforms if hasattr(t, 'scale'))[0]
    files = {}
    # MONOCHROME1 15-bit with rescale and window, and the same picture as MONOCHROME2
    stored = phantom_pixels(2 * size, size + 16, seed=11, max_value=MAX15)
    slope, intercept, center, width = 2, -1000, 20000, 40000
    write_dicom(d / 'm1.dcm', stored, 'MONOCHROME1', bits_stored=15, slope=slope,
                intercept=intercept, window=(center, width))
    write_dicom(d / 'm2.dcm', MAX15 - stored, 'MONOCHROME2', bits_stored=15, slope=slope,
                intercept=intercept, window=(slope * MAX15 + 2 * intercept - center, width))
    files.update(m1=d / 'm1.dcm', m2=d / 'm2.dcm')
    grey = phantom_pixels(300, 260, seed=12).astype(np.uint8)
    write_png(d / 'g8.png', grey)
    write_png(d / 'g16.png', grey.astype(np.uint16) * 257)
    write_jpg(d / 'rgb.jpg', np.dstack([grey, np.roll(grey, 5, 1), grey // 2]))
    files.update(g8=d / 'g8.png', g16=d / 'g16.png', rgb=d / 'rgb.jpg')
    # non-square images whose long side is exactly 2x the input size, and the same
    # content padded to a square as the letterbox pads (bottom/right, same grey): with
    # 'area' resizing the network sees identical pixels in both cases
    pad = _pad_value(inferencer)
    for name, (h, w) in {'wide': (size, 2 * size), 'tall': (2 * size, size)}.items():
        content = phantom_pixels(h, w, seed=13).astype(np.uint8)
        square = np.full((2 * size, 2 * size), pad, np.uint8)
        square[:h, :w] = content
        write_png(d / f'{name}.png', content)
        write_png(d / f'{name}_square.png', square)
        files.update({name: d / f'{name}.png', f'{name}_square': d / f'{name}_square.png'})
    names = list(files) + ['array_0000']
    inputs = [str(files[n]) for n in files] + [np.dstack([grey] * 3)]  # BGR array
    out = inferencer(inputs, batch_size=len(names), out_dir=str(d / 'out'))
    assert out['failures'] == []
    return {'results': dict(zip(names, out['predictions'])), 'out_dir': d / 'out',
            'size': size}


def _boxes(result, key='pathologies'):
    return np.array([p['box'] for p in result[key]], np.float64).reshape(-1, 4)


def test_monochrome1_and_mirrored_monochrome2_dicom_give_the_same_boxes(run):
    from mmadpd.anatomy import CXR8_CLASSES

    m1, m2 = run['results']['m1'], run['results']['m2']
    assert m1['pathologies'], 'the biased random model must predict boxes'
    assert {p['class'] for p in m1['pathologies']} <= set(CXR8_CLASSES)
    assert (m1['width'], m1['height']) == (run['size'] + 16, 2 * run['size'])
    assert [p['class'] for p in m1['pathologies']] == [p['class'] for p in m2['pathologies']]
    # the loaders agree up to +-1 grey level at rounding ties (test_dicom_io), hence
    # a sub-pixel tolerance rather than bit equality
    np.testing.assert_allclose(_boxes(m1), _boxes(m2), atol=0.5)
    np.testing.assert_allclose(_boxes(m1, 'regions'), _boxes(m2, 'regions'), atol=0.5)


def test_16bit_png_and_array_equal_8bit_png_and_rgb_jpg_works(run):
    g8, g16, rgb, array = (run['results'][k] for k in ('g8', 'g16', 'rgb', 'array_0000'))
    assert g8['pathologies']
    for other in (g16, array):
        assert json.dumps(g8['pathologies']) == json.dumps(other['pathologies'])
        assert json.dumps(g8['regions']) == json.dumps(other['regions'])
    assert array['image'] == 'array_0000'
    assert (rgb['width'], rgb['height']) == (260, 300)
    boxes = _boxes(rgb, 'regions')
    assert (boxes >= 0).all() and (boxes[:, 2] <= 260).all() and (boxes[:, 3] <= 300).all()
    assert all(0 <= r['presence_score'] <= 1 for r in rgb['regions'])


@pytest.mark.parametrize('name', ['wide', 'tall'])
def test_non_square_boxes_map_back_exactly(run, name):
    """The padded square and the original see the same network input; their boxes in
    original pixels must agree wherever the original image extends (the square's boxes
    may reach into the padding, the original's are clamped to its border)."""
    plain, square = run['results'][name], run['results'][f'{name}_square']
    w, h = plain['width'], plain['height']
    assert max(w, h) == 2 * run['size'] and w != h
    assert [r['name'] for r in plain['regions']] == [r['name'] for r in square['regions']]
    expected = _boxes(square, 'regions').copy()
    expected[:, 0::2] = expected[:, 0::2].clip(0, w)
    expected[:, 1::2] = expected[:, 1::2].clip(0, h)
    got = _boxes(plain, 'regions')
    np.testing.assert_allclose(got, expected, atol=2e-3)  # JSON rounds to 1/1000 px
    # both axes are really tested: boxes are not all clamped to the border
    inside = (got[:, 2] < w - 1) | (got[:, 3] < h - 1)
    assert inside.any() and (got[:, 0] > 0).any() and (got[:, 1] > 0).any()
    # same network input -> identical probabilities
    assert [r['probabilities'] for r in plain['regions']] == \
        [r['probabilities'] for r in square['regions']]


def test_outputs_are_written_per_input_with_a_summary(run):
    out = run['out_dir']
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['num_inputs'] == summary['num_ok'] == len(run['results'])
    for name, result in run['results'].items():
        saved = json.loads((out / f'{name}.json').read_text())
        assert saved == result
        assert (out / f'{name}.png').stat().st_size > 0
    assert not [f for f in os.listdir(out) if f.endswith('.tmp')]


def test_loaders_are_replaced_and_bad_inputs_raise_by_default(inferencer, tmp_path):
    from mmadpd.apis import ImageLoadError
    from mmadpd.apis.inferencer import in_memory_pipeline

    pipeline = [dict(type='LoadGreyImageFromFile'), dict(type='Resize', scale=(8, 8)),
                dict(type='LoadADPDAnnotations'), dict(type='PackADPDInputs')]
    assert [t['type'] for t in in_memory_pipeline(pipeline)] == ['Resize', 'PackADPDInputs']
    with pytest.raises(ValueError, match='no Load'):
        in_memory_pipeline(pipeline[1:2])
    (tmp_path / 'empty.dcm').write_bytes(b'')
    with pytest.raises(ImageLoadError, match='empty file'):
        inferencer(str(tmp_path / 'empty.dcm'))
    skipped = inferencer([str(tmp_path / 'empty.dcm')], on_error='skip')
    assert skipped['predictions'] == [] and 'empty file' in skipped['failures'][0]['reason']
