"""CXR8DetectionMetric: the thin mmengine wrapper around the functional protocol."""
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmdet.registry import METRICS
from mmdet.structures import DetDataSample

import mmadpd  # noqa: F401
from mmadpd.anatomy import CLASS_GROUPS, CXR8_CLASSES
from mmadpd.evaluation.functional import evaluate_detections, summarize


def make_samples(n=12, num_classes=8, seed=0):
    rng = np.random.default_rng(seed)
    samples, preds, gts = [], [], []
    for i in range(n):
        g_lab = rng.choice(num_classes, size=rng.integers(0, 3), replace=False)
        g_box = np.array([[10, 10, 60, 50]] * len(g_lab), float).reshape(-1, 4) \
            + rng.uniform(0, 20, (len(g_lab), 4))
        p_lab = np.concatenate([g_lab, rng.integers(0, num_classes, 2)])
        p_box = np.concatenate([g_box + rng.normal(0, 4, g_box.shape),
                                rng.uniform(0, 40, (2, 2)).repeat(2, 1) + [0, 0, 30, 30]])
        p_sc = rng.uniform(0.2, 1.0, len(p_lab))
        s = DetDataSample(metainfo=dict(img_id=i, img_path=f'/x/{i}.png', ori_shape=(100, 120)))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor(g_box, dtype=torch.float32).reshape(-1, 4),
            labels=torch.tensor(g_lab))
        s.pred_instances = InstanceData(bboxes=torch.tensor(p_box, dtype=torch.float32),
                                        scores=torch.tensor(p_sc, dtype=torch.float32),
                                        labels=torch.tensor(p_lab))
        samples.append(s)
        preds.append(dict(bboxes=p_box.astype(np.float32), scores=p_sc.astype(np.float32),
                          labels=p_lab))
        gts.append(dict(bboxes=g_box.astype(np.float32).reshape(-1, 4), labels=g_lab))
    return samples, preds, gts


def build(classes=CXR8_CLASSES, **kw):
    metric = METRICS.build(dict(type='CXR8DetectionMetric', **kw))
    metric.dataset_meta = dict(classes=classes)
    return metric


def test_metric_equals_functional_and_is_order_independent():
    samples, preds, gts = make_samples()
    metric = build()
    # dict form (what mmengine's Evaluator passes) in a shuffled order, e.g. as gathered
    # from two ranks
    order = list(range(1, len(samples), 2)) + list(range(0, len(samples), 2))
    metric.process({}, [samples[i].to_dict() for i in order[:5]])
    metric.process({}, [samples[i] for i in order[5:]])  # DataSample form works too
    out = metric.evaluate(len(samples))
    expected = summarize(evaluate_detections(preds, gts, 8), CXR8_CLASSES, CLASS_GROUPS)
    for k, v in expected.items():
        assert out[f'cxr8/{k}'] == pytest.approx(v, abs=1e-9), k
    assert {'cxr8/mAP', 'cxr8/AP@0.1', 'cxr8/AP@0.7', 'cxr8/loc_acc@0.5',
            'cxr8/AP_Pneumothorax', 'cxr8/nih8_cig/mAP', 'cxr8/nih8/mAP'} <= set(out)
    d = metric.last_details
    assert d['metrics']['cxr8/mAP'] == out['cxr8/mAP']
    assert len(d['images']) == len(samples)
    assert [r['img_id'] for r in d['images']] == sorted(range(len(samples)))
    # top-1 enforced when stored: at most one box per class per image
    for r in d['images']:
        assert len(set(r['pred_labels'].tolist())) == len(r['pred_labels'])


def test_no_gt_class_flagged_and_other_class_sets():
    samples, _, _ = make_samples(num_classes=3)
    names = ('pleural effusion', 'lung opacity', 'pneumothorax', 'never annotated')
    metric = build(classes=names, loc_acc_score_thr=0.5, iou_thrs=(0.25, 0.5))
    metric.process({}, samples)
    out = metric.evaluate(len(samples))
    assert metric.last_details['classes_without_gt'] == ['never annotated']
    assert out['cxr8/AP_never_annotated'] == 0.0
    assert 'cxr8/AP@0.25' in out and 'cxr8/AP@0.1' not in out
    assert not any('nih8' in k for k in out)  # groups need all their classes


def test_missing_classes_and_gt_are_clear_errors():
    samples, _, _ = make_samples(n=2)
    metric = METRICS.build(dict(type='CXR8DetectionMetric'))
    metric.dataset_meta = {}
    metric.process({}, samples)
    with pytest.raises(ValueError, match="dataset_meta\\['classes'\\]"):
        metric.evaluate(2)
    s = DetDataSample(metainfo=dict(img_id=0, img_path='/x/a.png'))
    s.pred_instances = InstanceData(bboxes=torch.zeros(0, 4), scores=torch.zeros(0),
                                    labels=torch.zeros(0, dtype=torch.long))
    with pytest.raises(ValueError, match='a.png.*gt_instances'):
        build().process({}, [s])
    with pytest.raises(ValueError, match='iou_thrs'):
        METRICS.build(dict(type='CXR8DetectionMetric', iou_thrs=(1.5,)))
