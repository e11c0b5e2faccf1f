"""ADPDReportHook in a real (tiny) mmengine Runner test loop with a fake model."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from mmengine.structures import InstanceData
from mmdet.structures import DetDataSample

import mmadpd  # noqa: F401  (registers the metric and the hook)
from mmadpd.anatomy import CXR8_CLASSES
from mmadpd.evaluation.functional import evaluate_detections, summarize
from mmadpd.evaluation.tables import format_table1

NUM_IMAGES = 10
H, W = 96, 128  # non-square on purpose


def make_case(seed=0):
    """Per image: GT boxes and the fake model's predictions (original pixels)."""
    rng = np.random.default_rng(seed)
    gts, preds = [], []
    for i in range(NUM_IMAGES):
        labels = rng.choice(len(CXR8_CLASSES), size=rng.integers(0, 3), replace=False)
        boxes = np.array([[x, y, x + 30, y + 25] for x, y in
                          zip(rng.uniform(0, 90, len(labels)), rng.uniform(0, 60, len(labels)))])
        gts.append(dict(bboxes=boxes.reshape(-1, 4), labels=labels.astype(np.int64)))
        p_labels = rng.choice(len(CXR8_CLASSES), size=3, replace=False)
        p_boxes = rng.uniform(0, 60, (3, 2))
        p_boxes = np.concatenate([p_boxes, p_boxes + 30], axis=1)
        for k, lab in enumerate(labels[:2]):  # some good hits
            p_labels[k] = lab
            p_boxes[k] = boxes[k] + rng.normal(0, 3, 4)
        preds.append(dict(bboxes=p_boxes, scores=rng.uniform(0.3, 1.0, 3),
                          labels=p_labels.astype(np.int64)))
    return gts, preds


class ToyCXR8(torch.utils.data.Dataset):
    metainfo = dict(classes=CXR8_CLASSES)

    def __init__(self, root, gts):
        self.items = []
        for i, g in enumerate(gts):
            path = osp.join(root, f'{i:08d}_000.png')
            cv2.imwrite(path, np.full((H, W), 60 + 10 * i, np.uint8))
            self.items.append((i, path, g))

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        i, path, g = self.items[idx]
        sample = DetDataSample(metainfo=dict(img_id=i, img_path=path, ori_shape=(H, W)))
        sample.gt_instances = InstanceData(bboxes=torch.as_tensor(g['bboxes'], dtype=torch.float32),
                                           labels=torch.as_tensor(g['labels']))
        return dict(inputs=torch.zeros(1, 8, 8, dtype=torch.uint8), data_samples=sample)


class FakeDetector(BaseModel):
    """Returns the fixed predictions of each image (looked up by img_id)."""

    def __init__(self, preds):
        super().__init__()
        self.preds = preds
        self.dummy = torch.nn.Linear(1, 1)

    def forward(self, inputs, data_samples=None, mode='predict'):
        for s in data_samples:
            p = self.preds[s.img_id]
            s.pred_instances = InstanceData(
                bboxes=torch.as_tensor(p['bboxes'], dtype=torch.float32),
                scores=torch.as_tensor(p['scores'], dtype=torch.float32),
                labels=torch.as_tensor(p['labels']))
        return data_samples


@pytest.fixture(scope='module')
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('report')
    img_dir = tmp / 'images'
    img_dir.mkdir()
    gts, preds = make_case()
    runner = Runner(
        model=FakeDetector(preds), work_dir=str(tmp / 'work'),
        test_dataloader=dict(dataset=ToyCXR8(str(img_dir), gts),
                             sampler=dict(type='DefaultSampler', shuffle=False),
                             collate_fn=dict(type='pseudo_collate'),
                             batch_size=3, num_workers=0),
        test_evaluator=dict(type='CXR8DetectionMetric'), test_cfg=dict(),
        custom_hooks=[dict(type='ADPDReportHook', num_overlays=3, method_name='fake')],
        default_scope='mmdet', default_hooks=dict(logger=dict(type='LoggerHook')))
    metrics = runner.test()
    return dict(metrics=metrics, gts=gts, preds=preds, dir=osp.join(tmp, 'work', 'report'),
                vis_data=osp.join(tmp, 'work', runner.timestamp, 'vis_data'))


def test_metrics_equal_direct_computation(report):
    expected = summarize(evaluate_detections(report['preds'], report['gts'], len(CXR8_CLASSES)),
                         CXR8_CLASSES, mmadpd.anatomy.CLASS_GROUPS)
    m = report['metrics']
    assert set(f'cxr8/{k}' for k in expected) <= set(m)
    for k, v in expected.items():
        assert m[f'cxr8/{k}'] == pytest.approx(v, abs=1e-9), k
    assert 0 < m['cxr8/mAP'] < 100  # a non-trivial case
    assert 'cxr8/nih8_cig/mAP' in m and 'cxr8/nih8/AP@0.5' in m


def test_report_files_and_json_match_printed(report):
    d, m = report['dir'], report['metrics']
    with open(osp.join(d, 'metrics.json')) as f:
        saved = json.load(f)
    assert saved['method'] == 'fake' and saved['mode'] == 'test'
    for k, v in m.items():
        assert saved['metrics'][k] == pytest.approx(v, abs=1e-12)
    assert saved['table1']['mAP'] == pytest.approx(m['cxr8/mAP'])
    assert saved['table1']['loc_acc@0.5'] == pytest.approx(m['cxr8/loc_acc@0.5'])
    # the printed table (tools/test.py) is in table.md verbatim
    table = open(osp.join(d, 'table.md')).read()
    assert format_table1(m, 'fake') in table
    assert f'{m["cxr8/mAP"]:.2f}' in table
    # per-class rows and flags
    assert [r['class'] for r in saved['per_class']] == list(CXR8_CLASSES)
    no_gt = [r['class'] for r in saved['per_class'] if r['num_gt'] == 0]
    assert saved['classes_without_gt'] == no_gt
    # figures
    assert len(saved['files']['pr_curves']) == len(CXR8_CLASSES)
    for path in saved['files']['pr_curves'] + saved['files']['overlays']:
        assert osp.isfile(path) and cv2.imread(path) is not None
    assert len(saved['files']['overlays']) == 3
    overlay = cv2.imread(saved['files']['overlays'][0])
    assert min(overlay.shape[:2]) == 512  # enlarged for legibility, aspect kept
    assert overlay.shape[1] / overlay.shape[0] == pytest.approx(W / H, rel=0.01)
    pr = json.load(open(osp.join(d, 'pr_curves.json')))
    assert set(pr[CXR8_CLASSES[0]]) == {'0.1', '0.3', '0.5'}


def test_background_validation_report_equals_the_synchronous_one(tmp_path):
    """background=True: the validation report is written by a worker process; when
    runner.val() returns it is on disk, with the files and numbers the synchronous hook
    writes. Two validations in a row: the second report replaces the first."""
    img_dir = tmp_path / 'images'
    img_dir.mkdir()
    gts, preds = make_case(seed=1)
    dataset = ToyCXR8(str(img_dir), gts)
    written = {}
    for background in (False, True):
        work = tmp_path / f'work_{background}'
        runner = Runner(
            model=FakeDetector(preds), work_dir=str(work),
            val_dataloader=dict(dataset=dataset,
                                sampler=dict(type='DefaultSampler', shuffle=False),
                                collate_fn=dict(type='pseudo_collate'),
                                batch_size=3, num_workers=0),
            val_evaluator=dict(type='CXR8DetectionMetric'), val_cfg=dict(),
            custom_hooks=[dict(type='ADPDReportHook', num_overlays=2, method_name='fake',
                               background=background)],
            default_scope='mmdet', default_hooks=dict(logger=dict(type='LoggerHook')),
            experiment_name=f'bg_{background}')
        hook = next(h for h in runner.hooks if type(h).__name__ == 'ADPDReportHook')
        metrics = runner.val()
        runner.val()  # a second report over the first (waits for it in background mode)
        assert hook._pending is None and hook._executor is None  # after_run waited
        assert hook.last_files is not None
        saved = json.load(open(work / 'report' / 'metrics.json'))
        assert saved['mode'] == 'val'
        for k, v in metrics.items():
            assert saved['metrics'][k] == pytest.approx(v, abs=1e-12)
        files = sorted(p.relative_to(work / 'report').as_posix()
                       for p in (work / 'report').rglob('*') if p.is_file())
        written[background] = (files, open(work / 'report' / 'table.md').read(),
                                saved['per_class'])
        # in both modes the figures reach the runner's vis backends
        vis_images = os.listdir(work / runner.timestamp / 'vis_data' / 'vis_image')
        assert any(n.startswith('val_pr_curve_') for n in vis_images), vis_images
        assert any(n.startswith('val_overlay_') for n in vis_images), vis_images
        log = ''.join(p.read_text() for p in work.rglob('*.log'))
        assert ('in the background' in log) == background, log[-2000:]
    assert written[True] == written[False]
    assert any(f.startswith('overlays/') for f in written[True][0])
    assert any(f.startswith('pr_curves/') for f in written[True][0])


def test_report_reaches_the_vis_backends(report):
    """PR curves, overlays and the Table-1 numbers go through the runner's visualizer
    (here mmengine's LocalVisBackend: vis_image/<name>_<step>.png and scalars.json)."""
    vis = report['vis_data']
    images = sorted(os.listdir(osp.join(vis, 'vis_image')))
    assert sum(n.startswith('test_pr_curve_') for n in images) == len(CXR8_CLASSES)
    assert sum(n.startswith('test_overlay_') for n in images) == 3
    with open(osp.join(vis, 'scalars.json')) as f:
        records = [json.loads(line) for line in f]
    table1 = [r for r in records if 'cxr8_test/mAP' in r]
    assert len(table1) == 1
    assert table1[0]['cxr8_test/mAP'] == pytest.approx(report['metrics']['cxr8/mAP'])
    assert table1[0]['cxr8_test/loc_acc@0.5'] == pytest.approx(
        report['metrics']['cxr8/loc_acc@0.5'])
