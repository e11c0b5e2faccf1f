"""The configured pipelines end to end (acceptance 4) and the browse_dataset tool."""
import importlib.util
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.dataset import Compose

from mmadpd.anatomy import PATHOLOGIES, REGIONS
from mmadpd.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
REAL_CFG = osp.join(REPO, 'configs', '_base_', 'datasets', 'imagenome_cxr8.py')
SYN_CFG = osp.join(REPO, 'configs', '_base_', 'datasets', 'synthetic.py')

register_all_modules(init_default_scope=True)


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def blob_box(img, thr):
    ys, xs = np.nonzero(img > thr)
    return [xs.min(), ys.min(), xs.max() + 1.0, ys.max() + 1.0]


def instance(box, label):
    return dict(bbox=list(map(float, box)), bbox_label=label, ignore_flag=0,
                pathology_labels=[0] * 53)


def test_pipelines_never_flip():
    for path in (REAL_CFG, SYN_CFG):
        cfg = Config.fromfile(path)
        for pipe in (cfg.train_pipeline, cfg.test_pipeline):
            assert not any('flip' in t['type'].lower() for t in pipe)


def test_crop_free_affine_keeps_box_on_anatomy():
    cfg = Config.fromfile(REAL_CFG)
    steps = [t for t in cfg.train_pipeline
             if t['type'] not in ('LoadGreyImageFromFile', 'RandomResizedBBoxSafeCrop')]
    pipe = Compose(steps)
    img = np.zeros((160, 160), np.uint8)
    box = [40, 50, 110, 120]
    img[50:120, 40:110] = 255
    for seed in range(25):
        np.random.seed(seed)
        out = pipe(dict(img=img.copy(), img_shape=img.shape, ori_shape=img.shape,
                        instances=[instance(box, 0)], pathology_labels=[0] * 53))
        net = out['inputs'][0].numpy()
        gt = out['data_samples'].gt_instances.bboxes[0].tolist()
        assert 0 <= gt[0] < gt[2] <= 160 and 0 <= gt[1] < gt[3] <= 160
        assert iou(gt, blob_box(net, 90)) > 0.9, seed


def test_train_pipeline_no_flip_boxes_inside(tmp_path):
    cfg = Config.fromfile(REAL_CFG)
    pipe = Compose(cfg.train_pipeline)
    h, w = 300, 256
    img = np.full((h, w), 60, np.uint8)
    img[40:100, 20:70] = 250    # marker on the image's LEFT half (patient's right)
    path = str(tmp_path / 'marker.jpg')
    cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, 98])
    instances = [instance([20, 40, 70, 100], 0), instance([150, 150, 240, 280], 8)]
    for seed in range(25):
        np.random.seed(seed)
        out = pipe(dict(img_path=path, img_id=1, instances=instances,
                        pathology_labels=[0] * 53))
        net = out['inputs'][0].numpy()
        assert net.shape == (224, 224)
        ds = out['data_samples']
        boxes = ds.gt_instances.bboxes.numpy()
        assert (boxes >= 0).all() and (boxes <= 224).all()
        assert ds.gt_instances.labels.tolist() == [0, 8]
        # brightness/contrast move the grey levels: threshold halfway marker/background
        marker = blob_box(net, (float(np.median(net)) + float(net.max())) / 2)
        assert (marker[0] + marker[2]) / 2 < 112, f'sample {seed} flipped'
        assert iou(boxes[0].tolist(), marker) > 0.8, seed
        assert boxes[0][2] < boxes[1][0]  # left/right order of the regions is kept


def test_letterbox_test_pipeline_maps_back_exactly(tmp_path):
    cfg = Config.fromfile(REAL_CFG)
    pipe = Compose(cfg.test_pipeline)
    h, w = 200, 300  # non-square
    img = np.zeros((h, w), np.uint8)
    img[60:140, 90:240] = 255
    path = str(tmp_path / 'wide.png')
    cv2.imwrite(path, img)
    box = [90, 60, 240, 140]
    out = pipe(dict(img_path=path, img_id=5, instances=[dict(bbox=box, bbox_label=3,
                                                               ignore_flag=0)]))
    net = out['inputs'][0].numpy()
    ds = out['data_samples']
    assert net.shape == (224, 224)
    assert ds.gt_instances.bboxes[0].tolist() == box  # ORIGINAL pixels
    sx, sy = ds.metainfo['scale_factor']
    assert ds.metainfo['ori_shape'] == (200, 300)
    assert ds.metainfo['pad_shape'][:2] == (224, 224)
    assert sx == pytest.approx(224 / 300) and sy == pytest.approx(round(200 * 224 / 300) / 200)
    assert net[round(200 * sy) + 1:].max() == 0  # padded at the bottom only
    mapped = [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]
    assert blob_box(net, 128) == pytest.approx(mapped, abs=1.0)
    # and back: orig = net / scale_factor
    back = np.array(blob_box(net, 128)) / np.array([sx, sy, sx, sy])
    assert back == pytest.approx(box, abs=1.5)


def make_tiny_converted_set(root):
    """A 2-image ImaGenome and CXR8 converter output with real image files."""
    (root / 'ig' / 'images').mkdir(parents=True)
    (root / 'cx' / 'images').mkdir(parents=True)
    rng = np.random.default_rng(0)
    images, anns = [], []
    for i in range(2):
        cv2.imwrite(str(root / 'ig' / 'images' / f'{i}.jpg'),
                    rng.integers(0, 255, (140, 120), dtype=np.uint8))
        images.append(dict(id=i + 1, file_name=f'{i}.jpg', width=120, height=140,
                           patient_id=1, study_id=1, dicom_id=str(i), view='PA',
                           pathology_labels=[0] * 53))
        for r in range(6):
            anns.append(dict(id=len(anns) + 1, image_id=i + 1, category_id=r + 1,
                             bbox=[5 + 10 * r, 10, 30, 40], area=1200, iscrowd=0,
                             pathology_labels=[0] * 53))
    (root / 'ig' / 'imagenome_train.json').write_text(json.dumps(dict(
        images=images, annotations=anns,
        categories=[dict(id=i + 1, name=n) for i, n in enumerate(REGIONS)],
        pathologies=list(PATHOLOGIES))))
    cv2.imwrite(str(root / 'cx' / 'images' / 'a.png'), np.zeros((90, 90), np.uint8))
    for split in ('val', 'test'):
        (root / 'cx' / f'cxr8_{split}.json').write_text(json.dumps(dict(
            images=[dict(id=1, file_name='a.png', width=90, height=90, patient_id=1,
                         view='PA')],
            annotations=[dict(id=1, image_id=1, category_id=1, bbox=[10, 10, 30, 30],
                              area=900, iscrowd=0)],
            categories=[dict(id=1, name='Atelectasis')])))


@pytest.mark.parametrize('phase', ['train', 'test'])
def test_browse_dataset_writes_images(tmp_path, phase):
    make_tiny_converted_set(tmp_path)
    spec = importlib.util.spec_from_file_location(
        'browse_dataset_tool', osp.join(REPO, 'tools', 'analysis_tools', 'browse_dataset.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = tmp_path / 'vis'
    rc = tool.main([SYN_CFG, '--phase', phase, '--num', '2', '--output-dir', str(out),
                    '--display-size', '0', '--cfg-options',
                    f'train_dataloader.dataset.data_root={tmp_path}/ig/',
                    f'test_dataloader.dataset.data_root={tmp_path}/cx/'])
    assert rc == 0
    files = sorted(out.iterdir())
    assert len(files) == (2 if phase == 'train' else 1)
    drawn = cv2.imread(str(files[0]))
    assert drawn.shape[:2] == (128, 128) and drawn.std(axis=2).max() > 0  # coloured boxes
