"""loc-acc with the reference TP/FP/FN/TN definition."""
import numpy as np
import pytest

from mmadpd.evaluation.functional import evaluate_detections, loc_counts_one, summarize


def img(boxes=(), scores=(), labels=()):
    return dict(bboxes=np.asarray(boxes, float).reshape(-1, 4), scores=np.asarray(scores, float),
                labels=np.asarray(labels, int))


def gt(boxes=(), labels=()):
    return dict(bboxes=np.asarray(boxes, float).reshape(-1, 4), labels=np.asarray(labels, int))


def test_counts_one_image():
    c = loc_counts_one(np.zeros((0, 0)), [0.5])
    assert c['tn'] == 1 and c['tp'].tolist() == [0]
    c = loc_counts_one(np.zeros((1, 0)), [0.5])  # prediction without GT: no TN
    assert c['tn'] == 0 and c['n_pred'] == 1
    c = loc_counts_one(np.array([[0.6, 0.2]]), [0.1, 0.5, 0.6])  # strict '>'
    assert c['tp'].tolist() == [2, 1, 0]


def test_true_negative_rule_and_score_threshold():
    # class 0: image A GT+good pred (TP), image B nothing (TN), image C pred w/o GT (FP)
    # class 1: image A GT only (FN), image B pred with score 0.7 -> dropped (not > 0.7) -> TN,
    #          image C nothing -> TN
    preds = [img([[0, 0, 10, 10]], [0.95], [0]),
             img([[0, 0, 10, 10]], [0.7], [1]),
             img([[0, 0, 10, 10]], [0.8], [0])]
    gts = [gt([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 1]), gt(), gt()]
    res = evaluate_detections(preds, gts, 2, (0.1, 0.5))
    loc = res['loc']
    assert loc['tp'].tolist() == [[1, 1], [0, 0]]
    assert loc['tn'][:, 0].tolist() == [1, 2]
    assert loc['fp'][:, 0].tolist() == [1, 0] and loc['fn'][:, 0].tolist() == [0, 1]
    np.testing.assert_allclose(loc['acc'][:, 0], [2 / 3, 2 / 3])
    m = summarize(res, ['a', 'b'])
    assert m['loc_acc@0.1'] == pytest.approx(2 / 3)
    # a lower loc-acc score threshold keeps the 0.7 box: class 1 image B becomes a FP
    res = evaluate_detections(preds, gts, 2, (0.1,), loc_acc_score_thr=0.5)
    assert res['loc']['tn'][1, 0] == 1 and res['loc']['fp'][1, 0] == 1
    np.testing.assert_allclose(res['loc']['acc'][1, 0], 1 / 3)


def test_poor_overlap_is_fp_and_fn():
    preds = [img([[0, 0, 10, 10]], [0.9], [0])]
    gts = [gt([[5, 0, 15, 10]], [0])]  # IoU 1/3
    res = evaluate_detections(preds, gts, 1, (0.3, 0.5))
    assert res['loc']['tp'][0].tolist() == [1, 0]
    np.testing.assert_allclose(res['loc']['acc'][0], [1.0, 0.0])  # 0 / (fp 1 + fn 1)
