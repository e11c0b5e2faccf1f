"""Phantom anatomy, lesion visibility and the region-label rule."""
import cv2
import numpy as np
import pytest

from mmadpd.anatomy import CXR8_MAPPING, PATHOLOGIES, REGIONS
from mmadpd.datasets.synthetic import (ELIGIBLE_REGIONS, LESION_CLASSES, LESION_CXR8,
                                       LESION_FRACTION, LESION_KINDS, REGION_FRACTION, Lesion,
                                       make_phantom, region_labels)


def _phantom(i, kinds, w=200, h=240, view='PA'):
    return make_phantom(np.random.default_rng([123, i]), w, h, view, kinds=kinds)


def _center(box):
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _inside(inner, outer, tol=3):
    return (inner[0] >= outer[0] - tol and inner[1] >= outer[1] - tol
            and inner[2] <= outer[2] + tol and inner[3] <= outer[3] + tol)


def test_lesion_vocabulary_matches_anatomy():
    for kind, classes in LESION_CLASSES.items():
        assert set(classes) <= set(PATHOLOGIES), kind
        cxr8 = LESION_CXR8[kind]
        if cxr8 is not None:  # a region positive for the kind maps onto its NIH class
            assert set(CXR8_MAPPING[cxr8]) & set(classes), kind


@pytest.mark.parametrize('i,view', [(0, 'PA'), (1, 'AP'), (2, 'PA'), (3, 'AP')])
def test_anatomy_is_clinically_laid_out(i, view):
    ph = _phantom(i, [], w=180 + 20 * i, h=240, view=view)
    b = ph.boxes
    assert all(b[r] is not None for r in REGIONS), [r for r in REGIONS if b[r] is None]
    # patient right = image left
    for a, c in [('right lung', 'left lung'), ('right clavicle', 'left clavicle'),
                 ('right hemidiaphragm', 'left hemidiaphragm'),
                 ('right costophrenic angle', 'left costophrenic angle')]:
        assert _center(b[a])[0] < _center(b[c])[0], (a, c)
    for side in ('right', 'left'):
        lung = b[f'{side} lung']
        zones = [b[f'{side} {z} lung zone'] for z in ('upper', 'mid', 'lower')]
        for z in zones + [b[f'{side} apical zone'], b[f'{side} costophrenic angle']]:
            assert _inside(z, lung)
        ys = [_center(z)[1] for z in zones]
        assert ys[0] < ys[1] < ys[2]
        assert _center(b[f'{side} apical zone'])[1] < ys[0]
        assert _center(b[f'{side} costophrenic angle'])[1] > ys[1]
        assert _center(b[f'{side} hemidiaphragm'])[1] > ys[2]
    mid_x = (_center(b['right lung'])[0] + _center(b['left lung'])[0]) / 2
    span = b['left lung'][2] - b['right lung'][0]
    for r in ('trachea', 'spine', 'carina', 'mediastinum'):
        assert abs(_center(b[r])[0] - mid_x) < 0.12 * span, r
    assert _center(b['trachea'])[1] < _center(b['carina'])[1] < _center(b['cardiac silhouette'])[1]
    assert _inside(b['cardiac silhouette'], b['mediastinum'], tol=6)
    assert _center(b['aortic arch'])[0] > mid_x  # aortic knob on the patient's left
    assert _center(b['svc'])[0] < mid_x          # svc on the patient's right
    assert _center(b['right atrium'])[0] < _center(b['cardiac silhouette'])[0]
    assert b['abdomen'][3] > b['right lung'][3]
    assert _center(b['abdomen'])[1] > _center(b['cardiac silhouette'])[1]
    # overlapping boxes, as in real data
    assert _inside(b['upper mediastinum'], b['mediastinum'])


def test_enlarged_heart_exceeds_half_the_thorax():
    for i in range(4):
        normal = _phantom(10 + i, [])
        big = _phantom(10 + i, ['cardiomegaly'])
        assert normal.thorax.ctr < 0.5 < big.thorax.ctr
        hb = big.boxes['cardiac silhouette']
        thorax = big.boxes['left lung'][2] - big.boxes['right lung'][0]
        assert (hb[2] - hb[0]) > 0.5 * thorax
        assert 'enlarged cardiac silhouette' in big.labels['cardiac silhouette']
        assert not any(normal.labels.values())


def _grey_on_grid(ph):
    h, w = ph.grid.shape
    return cv2.resize(ph.image, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)


def _ring(mask, lung, width=6):
    k = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    grown = cv2.dilate(mask.astype(np.uint8), k).astype(bool)
    guard = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    return grown & ~guard & lung


@pytest.mark.parametrize('kind', ['pneumonia', 'infiltration', 'effusion', 'mass',
                                  'nodule', 'atelectasis'])
def test_dense_lesions_are_visible(kind):
    margins = []
    for i in range(4):
        ph = _phantom(20 + i, [kind], w=220, h=256)
        les = [x for x in ph.lesions if x.kind == kind]
        assert les, kind
        img = _grey_on_grid(ph)
        lung = ph.masks['right lung'] | ph.masks['left lung']
        for lesion in les:
            m = lesion.mask
            ring = _ring(m, lung)
            if kind == 'effusion':  # compare with the aerated lung just above the fluid
                ring = lung & ~cv2.dilate(m.astype(np.uint8), np.ones((3, 3),
                                                                       np.uint8)).astype(bool)
            margins.append(img[m].mean() - img[ring].mean())
    assert min(margins) > 20, margins  # grey levels out of 255


def test_pneumothorax_is_darker_and_smoother_than_the_other_lung():
    ratios = []
    for i in range(4):
        ph = _phantom(40 + i, ['pneumothorax'], w=220, h=256)
        (les,) = [x for x in ph.lesions if x.kind == 'pneumothorax']
        img = _grey_on_grid(ph)
        other = 'left' if les.side == 'right' else 'right'
        # mirror the pneumothorax mask across the thorax midline into the other lung
        u, v = ph.grid.u, ph.grid.v
        mu = -u[les.mask]
        mv = v[les.mask]
        contra = np.zeros_like(les.mask)
        from mmadpd.datasets.synthetic.geometry import lung_mask
        other_lung = lung_mask(ph.thorax, other, u, v)
        # nearest working pixels of the mirrored points
        th = np.deg2rad(ph.thorax.angle_deg)
        t = ph.thorax
        du, dv = mu * t.half_width_px, (mv - 0.5) * t.lung_height_px
        x = (t.cx + np.cos(th) * du - np.sin(th) * dv) / ph.grid.step
        y = (t.cy + np.sin(th) * du + np.cos(th) * dv) / ph.grid.step
        ok = (x >= 0) & (y >= 0) & (x < contra.shape[1] - 1) & (y < contra.shape[0] - 1)
        contra[np.round(y[ok]).astype(int), np.round(x[ok]).astype(int)] = True
        contra &= other_lung
        inner = cv2.erode(les.mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert contra.sum() > 20 and inner.sum() > 20
        assert img[contra].mean() - img[inner].mean() > 10
        # local texture: 5x5 standard deviation of the vessel-scale band (blur 0.7 - blur
        # 2.5); the median ignores the rib edges, which a pneumothorax keeps
        band = cv2.GaussianBlur(img, (0, 0), 0.7) - cv2.GaussianBlur(img, (0, 0), 2.5)
        mean = cv2.blur(band, (5, 5))
        local_std = np.sqrt(np.clip(cv2.blur(band * band, (5, 5)) - mean * mean, 0, None))
        ratios.append(np.median(local_std[inner]) / np.median(local_std[contra]))
    assert max(ratios) < 0.8, ratios


def _square(shape, y0, y1, x0, x1):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def test_region_label_rule_thresholds():
    shape = (100, 100)
    masks = {r: np.zeros(shape, bool) for r in REGIONS}
    masks['right lung'] = _square(shape, 0, 100, 0, 50)
    masks['right upper lung zone'] = _square(shape, 0, 33, 0, 50)
    masks['right mid lung zone'] = _square(shape, 33, 66, 0, 50)
    masks['right lower lung zone'] = _square(shape, 66, 100, 0, 50)
    masks['spine'] = _square(shape, 0, 100, 40, 60)
    # lesion: 10 rows x 20 cols, 8 rows in the mid zone, 2 rows in the upper zone
    lesion = Lesion('nodule', 'right', [_square(shape, 31, 41, 10, 30)])
    labels = region_labels(masks, [lesion])
    cls = list(LESION_CLASSES['nodule'])
    assert labels['right lung'] == cls
    assert labels['right mid lung zone'] == cls            # 80 % of the lesion
    assert labels['right upper lung zone'] == []           # 20 % of lesion, 2.4 % of zone
    assert labels['right lower lung zone'] == []
    assert 'spine' not in ELIGIBLE_REGIONS['nodule']
    overlapping_spine = Lesion('nodule', 'right', [_square(shape, 50, 60, 35, 55)])
    assert region_labels(masks, [overlapping_spine])['spine'] == []  # not eligible
    # a large lesion covering 20 % of a region but < 25 % of itself still counts
    big = Lesion('pneumonia', 'right', [_square(shape, 0, 100, 0, 50)])
    masks2 = dict(masks, **{'right apical zone': _square(shape, 0, 10, 0, 50)})
    out = region_labels(masks2, [big])
    assert out['right apical zone'] == sorted(LESION_CLASSES['pneumonia'],
                                              key=PATHOLOGIES.index)
    # multiple nodules: each part judged on its own
    parts = [_square(shape, 5, 9, 5, 9), _square(shape, 70, 74, 5, 9),
             _square(shape, 45, 49, 5, 9), _square(shape, 50, 54, 20, 24)]
    multi = region_labels(masks, [Lesion('multi_nodules', 'both', parts)])
    assert multi['right upper lung zone'] and multi['right lower lung zone']


def test_region_labels_follow_geometry_on_phantoms():
    rng_kinds = [['pneumonia', 'effusion'], ['infiltration', 'nodule'], ['mass', 'atelectasis'],
                 ['pneumothorax', 'cardiomegaly'], ['multi_nodules']]
    for i, kinds in enumerate(rng_kinds):
        ph = _phantom(60 + i, kinds)
        expected = {r: set() for r in REGIONS}
        for les in ph.lesions:
            for part in les.parts:
                area = part.sum()
                for r in ELIGIBLE_REGIONS[les.kind]:
                    inter = (part & ph.masks[r]).sum()
                    if inter >= 4 and (inter >= LESION_FRACTION * area
                                       or inter >= REGION_FRACTION * ph.masks[r].sum()):
                        expected[r].update(les.classes)
            # the lung holding the lesion is always positive for it
            if les.kind not in ('cardiomegaly', 'multi_nodules'):
                assert set(les.classes) <= set(ph.labels[f'{les.side} lung'])
        assert {r: set(c) for r, c in ph.labels.items()} == expected
        for les in ph.lesions:  # no lesion leaks into the other lung's labels
            if les.side in ('right', 'left'):
                other = 'left' if les.side == 'right' else 'right'
                kinds_other = {x.kind for x in ph.lesions if x.side in (other, 'both')}
                if not kinds_other & {les.kind}:
                    assert not set(les.classes) & set(ph.labels[f'{other} lung'])


def test_phantom_is_deterministic_and_kinds_are_known():
    a = _phantom(7, ['pneumonia', 'mass'])
    b = _phantom(7, ['pneumonia', 'mass'])
    assert np.array_equal(a.image, b.image) and a.boxes == b.boxes and a.labels == b.labels
    assert a.image.dtype == np.uint8 and a.image.shape == (240, 200)
    assert set(LESION_KINDS) == set(LESION_CLASSES) == set(LESION_CXR8)
