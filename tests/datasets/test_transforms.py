"""Unit tests of the registered transforms (small synthetic arrays)."""
import cv2
import numpy as np
import pytest
import torch
from mmdet.registry import TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes

import mmadpd  # noqa: F401
from mmadpd.datasets.transforms import box_ops
from mmadpd.datasets.transforms.geometric import similarity_matrix, warp_image


def build(cfg):
    return TRANSFORMS.build(cfg)


def sample(h=120, w=100, n=3, seed=0):
    rng = np.random.default_rng(seed)
    boxes = []
    for _ in range(n):
        x1, y1 = rng.uniform(5, w / 2), rng.uniform(5, h / 2)
        boxes.append([x1, y1, x1 + rng.uniform(10, w / 2 - 5), y1 + rng.uniform(10, h / 2 - 5)])
    return dict(img=rng.integers(0, 255, (h, w), dtype=np.uint8), img_shape=(h, w),
                ori_shape=(h, w), gt_bboxes=np.array(boxes, np.float32),
                gt_bboxes_labels=np.arange(n, dtype=np.int64),
                gt_ignore_flags=np.zeros(n, bool),
                gt_pathology_labels=(np.arange(n * 53).reshape(n, 53) % (n + 1) == 0)
                .astype(np.uint8))


# ----------------------------------------------------------------------------- loading
def test_load_grey_jpeg_png16_colour(tmp_path):
    load = build(dict(type='LoadGreyImageFromFile'))
    grey = (np.arange(40 * 30) % 200).astype(np.uint8).reshape(40, 30)
    cv2.imwrite(str(tmp_path / 'g.png'), grey)
    out = load(dict(img_path=str(tmp_path / 'g.png')))
    assert out['img'].dtype == np.uint8 and out['img'].shape == (40, 30)
    assert np.array_equal(out['img'], grey)
    assert out['ori_shape'] == out['img_shape'] == (40, 30)
    deep = grey.astype(np.uint16) * 20  # max 3980: 12-bit data in a 16-bit PNG
    cv2.imwrite(str(tmp_path / 'd.png'), deep)
    img = load(dict(img_path=str(tmp_path / 'd.png')))['img']
    assert img.dtype == np.uint8 and img.max() == 255 and img.min() == 0
    assert np.corrcoef(img.ravel(), grey.ravel())[0, 1] > 0.999
    colour = np.dstack([grey, grey, grey])
    cv2.imwrite(str(tmp_path / 'c.jpg'), colour)
    img = load(dict(img_path=str(tmp_path / 'c.jpg')))['img']
    assert img.ndim == 2 and np.abs(img.astype(int) - grey).mean() < 4


def test_load_grey_errors_name_the_file(tmp_path):
    load = build(dict(type='LoadGreyImageFromFile'))
    with pytest.raises(FileNotFoundError, match='missing.png'):
        load(dict(img_path=str(tmp_path / 'missing.png')))
    (tmp_path / 'bad.png').write_bytes(b'\x89PNG garbage')
    with pytest.raises(ValueError, match='bad.png'):
        load(dict(img_path=str(tmp_path / 'bad.png')))


def test_load_annotations_arrays():
    info = dict(instances=[dict(bbox=[1, 2, 3, 4], bbox_label=5, ignore_flag=0,
                                pathology_labels=[0, 1, 0]),
                           dict(bbox=[5, 6, 7, 8], bbox_label=2, ignore_flag=0,
                                pathology_labels=[1, 0, 0])],
                pathology_labels=[1, 1, 0])
    out = build(dict(type='LoadADPDAnnotations'))(info)
    assert out['gt_bboxes'].dtype == np.float32 and out['gt_bboxes'].shape == (2, 4)
    assert out['gt_bboxes_labels'].tolist() == [5, 2]
    assert out['gt_pathology_labels'].tolist() == [[0, 1, 0], [1, 0, 0]]
    assert out['gt_image_labels'].tolist() == [1, 1, 0]
    empty = build(dict(type='LoadADPDAnnotations'))(dict(instances=[]))
    assert empty['gt_bboxes'].shape == (0, 4) and 'gt_pathology_labels' not in empty


# ----------------------------------------------------------------------------- geometry
def test_eroded_union_and_affine_boxes():
    boxes = np.array([[0, 0, 10, 20], [50, 50, 60, 60]], np.float32)
    assert box_ops.eroded_union(boxes, 0.2).tolist() == [2, 4, 58, 58]
    assert box_ops.eroded_union(boxes[:0], 0.2) is None
    m = np.array([[1, 0, 5], [0, 1, -3]], np.float64)
    assert box_ops.affine_boxes(boxes, m).tolist() == [[5, -3, 15, 17], [55, 47, 65, 57]]
    rot = similarity_matrix(100, 100, 90.0, 1.0, 0, 0)  # 90 deg: a wide box becomes tall
    out = box_ops.affine_boxes(np.array([[30, 45, 70, 55]], np.float32), rot)
    assert out[0] == pytest.approx([45, 30, 55, 70], abs=1e-4)


def test_bbox_safe_crop_keeps_eroded_cores_and_maps_back():
    crop = build(dict(type='RandomResizedBBoxSafeCrop', size=64, erosion_rate=0.2))
    for seed in range(20):
        np.random.seed(seed)
        res = sample(seed=seed)
        orig = res['gt_bboxes'].copy()
        union = box_ops.eroded_union(orig, 0.2)
        out = crop(res)
        assert out['img'].shape == (64, 64) and out['img_shape'] == (64, 64)
        sx, sy = out['scale_factor']
        ox, oy = out['crop_offset']
        # the crop window (original px) contains the eroded union
        assert ox <= union[0] + 1e-4 and oy <= union[1] + 1e-4
        assert ox + 64 / sx >= union[2] - 1e-4 and oy + 64 / sy >= union[3] - 1e-4
        assert len(out['gt_bboxes']) == len(orig)  # nothing lost (at most 20 % cut)
        back = out['gt_bboxes'] / np.array([sx, sy, sx, sy]) + np.array([ox, oy, ox, oy])
        window = np.array([ox, oy, ox + 64 / sx, oy + 64 / sy])
        expect = np.concatenate([np.maximum(orig[:, :2], window[:2]),
                                 np.minimum(orig[:, 2:], window[2:])], axis=1)
        assert back == pytest.approx(expect, abs=1e-3)
        assert (out['gt_bboxes'] >= 0).all() and (out['gt_bboxes'] <= 64).all()


def test_affine_drops_instances_in_sync():
    res = sample(h=100, w=100, n=3)
    res['gt_bboxes'] = np.array([[10, 10, 40, 40], [95, 10, 140, 40], [50, 50, 90, 90]],
                                np.float32)  # #1 is mostly outside the image
    labels = res['gt_pathology_labels'].copy()
    affine = build(dict(type='RandomSimilarityAffine', max_rotate_degree=0.0,
                        scaling_ratio_range=(1.0, 1.0), max_translate_ratio=0.0,
                        min_visible_ratio=0.5))
    out = affine(res)
    assert out['gt_bboxes_labels'].tolist() == [0, 2]
    assert np.array_equal(out['gt_pathology_labels'], labels[[0, 2]])
    assert out['gt_ignore_flags'].shape == (2,)
    assert out['gt_bboxes'].tolist() == [[10, 10, 40, 40], [50, 50, 90, 90]]


def test_affine_accepts_horizontal_boxes():
    res = sample()
    res['gt_bboxes'] = HorizontalBoxes(torch.from_numpy(res['gt_bboxes']))
    out = build(dict(type='RandomSimilarityAffine'))(res)
    assert isinstance(out['gt_bboxes'], np.ndarray) and out['gt_bboxes'].shape[1] == 4


def test_warp_image_matches_box_convention():
    # a single bright pixel moves where the matrix sends its centre
    img = np.zeros((50, 50), np.uint8)
    img[10, 20] = 255
    m = np.array([[1, 0, 7], [0, 1, 3]], np.float64)
    out = warp_image(img, m)
    assert np.unravel_index(out.argmax(), out.shape) == (13, 27)


# ----------------------------------------------------------------------------- photometric
def test_brightness_contrast_and_blur():
    img = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (20, 1))
    np.random.seed(0)
    bc = build(dict(type='RandomBrightnessContrast', brightness=(1.2, 1.2),
                    contrast=(1.0, 1.0)))
    out = bc(dict(img=img.copy()))['img']
    assert out.dtype == np.uint8
    assert out[0, 5] == round(50 * 1.2) and out[0, -1] == 255
    flat = build(dict(type='RandomBrightnessContrast', brightness=(1.0, 1.0),
                      contrast=(0.0, 0.0)))(dict(img=img.copy()))['img']
    assert np.ptp(flat) == 0 and abs(int(flat[0, 0]) - img.mean()) <= 1
    blur = build(dict(type='RandomGaussianBlur', kernel_size=3, sigma=(1.0, 1.0), prob=1.0))
    spike = np.zeros((9, 9), np.uint8)
    spike[4, 4] = 200
    b = blur(dict(img=spike))['img']
    assert b[4, 4] < 200 and b[4, 5] > 0 and b[0, 0] == 0
    never = build(dict(type='RandomGaussianBlur', prob=0.0))
    assert never(dict(img=spike))['img'] is spike


# ----------------------------------------------------------------------------- packing
def test_pack_contract():
    res = sample()
    res.update(img_id=3, img_path='x.png', gt_image_labels=np.ones(53, np.uint8))
    packed = build(dict(type='PackADPDInputs'))(res)
    inputs, ds = packed['inputs'], packed['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (1, 120, 100)
    assert ds.gt_instances.bboxes.dtype == torch.float32
    assert ds.gt_instances.bboxes.shape == (3, 4)
    assert ds.gt_instances.labels.dtype == torch.int64
    assert ds.gt_instances.pathology_labels.shape == (3, 53)
    assert ds.gt_instances.pathology_labels.dtype == torch.float32
    assert ds.gt_image_labels.shape == (53,) and ds.gt_image_labels.dtype == torch.float32
    meta = ds.metainfo
    assert meta['img_id'] == 3 and meta['img_path'] == 'x.png'
    assert meta['ori_shape'] == (120, 100) and meta['img_shape'] == (120, 100)
    assert meta['pad_shape'] == (120, 100) and meta['scale_factor'] == (1.0, 1.0)
    # CXR8-like sample: no pathology labels
    res = sample()
    del res['gt_pathology_labels']
    ds = build(dict(type='PackADPDInputs'))(res)['data_samples']
    assert 'pathology_labels' not in ds.gt_instances and 'gt_image_labels' not in ds
