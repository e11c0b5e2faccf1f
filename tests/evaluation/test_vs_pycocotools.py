"""Cross-check of the AP protocol against pycocotools' COCOeval on random detections.

pycocotools matches with ``IoU >= thr`` (cocoeval.evaluateImg: ``if ious < iou: continue``)
while the protocol uses ``>``; the two agree as long as no IoU equals a threshold, which
the test asserts (random float boxes). maxDets is set far above the number of detections
per image and class, and only the 'all' area range is used, so neither can bite.
"""
import contextlib
import io

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mmadpd.evaluation.functional import evaluate_detections, iou_matrix

THRS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
NUM_IMAGES, NUM_CLASSES, SIZE = 240, 8, 256.0


def random_box(rng, size=SIZE):
    x1, y1 = rng.uniform(0, size * 0.8, 2)
    w, h = rng.uniform(8, size * 0.4, 2)
    return [x1, y1, min(x1 + w, size), min(y1 + h, size)]


def jitter(rng, box, scale):
    b = np.asarray(box) + rng.normal(0, scale, 4)
    return [min(b[0], b[2] - 1), min(b[1], b[3] - 1), max(b[2], b[0] + 1), max(b[3], b[1] + 1)]


def make_split(seed, max_dets_per_class, round_scores=None):
    rng = np.random.default_rng(seed)
    preds, gts = [], []
    for _ in range(NUM_IMAGES):
        g_boxes, g_labels, p_boxes, p_scores, p_labels = [], [], [], [], []
        for c in range(NUM_CLASSES):
            n_gt = rng.choice([0, 0, 1, 1, 2])
            for _ in range(n_gt):
                g_boxes.append(random_box(rng))
                g_labels.append(c)
            for _ in range(rng.integers(1 if n_gt else 0, max_dets_per_class + 1)):
                if n_gt and rng.random() < 0.7:  # near a GT box: IoUs spread over 0..1
                    p_boxes.append(jitter(rng, g_boxes[-1 - rng.integers(0, n_gt)],
                                          rng.uniform(1, 20)))
                    p_scores.append(rng.uniform(0.2, 1.0))  # informative scores
                else:
                    p_boxes.append(random_box(rng))
                    p_scores.append(rng.uniform(0.0, 0.8))
                p_labels.append(c)
        scores = np.asarray(p_scores)
        if round_scores:
            scores = np.round(scores, round_scores)
        preds.append(dict(bboxes=np.asarray(p_boxes).reshape(-1, 4), scores=scores,
                          labels=np.asarray(p_labels, int)))
        gts.append(dict(bboxes=np.asarray(g_boxes).reshape(-1, 4),
                        labels=np.asarray(g_labels, int)))
    return preds, gts


def assert_no_iou_on_threshold(preds, gts):
    for p, g in zip(preds, gts):
        ious = iou_matrix(p['bboxes'], g['bboxes']).reshape(-1)
        for t in THRS:
            assert np.all(np.abs(ious - t) > 1e-9), 'an IoU equals a threshold; change seed'


def coco_ap(preds, gts):
    """(C, T) AP from COCOeval, NaN for classes without GT (pycocotools gives -1)."""
    xywh = lambda b: [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])]  # noqa
    images, anns, dets = [], [], []
    for i, (p, g) in enumerate(zip(preds, gts)):
        images.append(dict(id=i + 1, width=int(SIZE), height=int(SIZE)))
        for b, lab in zip(g['bboxes'], g['labels']):
            bb = xywh(b)
            # ids from 1: COCOeval treats a match id of 0 as "unmatched"
            anns.append(dict(id=len(anns) + 1, image_id=i + 1, category_id=int(lab) + 1,
                             bbox=bb, area=bb[2] * bb[3], iscrowd=0))
        for b, s, lab in zip(p['bboxes'], p['scores'], p['labels']):
            dets.append(dict(image_id=i + 1, category_id=int(lab) + 1, bbox=xywh(b),
                             score=float(s)))
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = dict(images=images, annotations=anns,
                            categories=[dict(id=c + 1, name=str(c)) for c in range(NUM_CLASSES)])
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(dets), 'bbox')
        ev.params.iouThrs = np.asarray(THRS)
        ev.params.maxDets = [10000]
        ev.params.areaRng = [[0, 1e10]]
        ev.params.areaRngLbl = ['all']
        ev.params.useCats = 1
        ev.evaluate()
        ev.accumulate()
    prec = ev.eval['precision'][:, :, :, 0, 0]  # (T, R, K)
    ap = prec.mean(axis=1).T  # (K, T)
    ap[(prec < 0).any(axis=1).T] = np.nan
    return ap


@pytest.mark.parametrize('max_dets,top1,round_scores', [
    (1, True, None),      # the CXR8 setting: at most one box per class and image
    (3, False, None),     # several boxes per class: exercises the greedy matching
    (1, True, 1),         # scores rounded to 0.1: many ties, broken by image order
])
def test_per_class_ap_equals_cocoeval(max_dets, top1, round_scores):
    preds, gts = make_split(seed=7 + max_dets, max_dets_per_class=max_dets,
                            round_scores=round_scores)
    assert_no_iou_on_threshold(preds, gts)
    ours = evaluate_detections(preds, gts, NUM_CLASSES, THRS, enforce_top1=top1)['ap']
    theirs = coco_ap(preds, gts)
    has_gt = ~np.isnan(theirs).any(axis=1)
    assert has_gt.sum() == NUM_CLASSES  # every class has GT in this random split
    # not a vacuous comparison: APs spread over the range
    assert ours.min() < 0.3 and ours.max() > 0.3
    np.testing.assert_allclose(ours[has_gt], theirs[has_gt], atol=1e-6, rtol=0)


def test_class_without_gt_differs_as_documented():
    preds, gts = make_split(seed=3, max_dets_per_class=1)
    for g in gts:  # remove every GT box of class 5
        keep = g['labels'] != 5
        g['bboxes'], g['labels'] = g['bboxes'][keep], g['labels'][keep]
    ours = evaluate_detections(preds, gts, NUM_CLASSES, THRS)
    theirs = coco_ap(preds, gts)
    assert np.isnan(theirs[5]).all()  # pycocotools: -1 (excluded from its mean)
    assert (ours['ap'][5] == 0).all() and not ours['has_gt'][5]  # ours: 0 and flagged
    np.testing.assert_allclose(np.delete(ours['ap'], 5, 0), np.delete(theirs, 5, 0),
                               atol=1e-6, rtol=0)
