"""Hand-built cases of the AP protocol with known answers."""
import numpy as np
import pytest

from mmadpd.evaluation.functional import (evaluate_detections, interpolated_ap, iou_matrix,
                                          match_detections, precision_recall, summarize,
                                          top1_per_class)

THRS = (0.1, 0.3, 0.5, 0.7)


def img(boxes=(), scores=(), labels=()):
    return dict(bboxes=np.asarray(boxes, float).reshape(-1, 4), scores=np.asarray(scores, float),
                labels=np.asarray(labels, int))


def gt(boxes=(), labels=()):
    return dict(bboxes=np.asarray(boxes, float).reshape(-1, 4), labels=np.asarray(labels, int))


def test_iou_matrix_values():
    a = [[0, 0, 10, 10], [0, 0, 0, 0]]
    b = [[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]]
    iou = iou_matrix(a, b)
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou[0], [50 / 150, 0, 1])
    np.testing.assert_allclose(iou[1], [0, 0, 0])  # degenerate box: no NaN
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)
    with pytest.raises(ValueError, match='shape'):
        iou_matrix([[1, 2, 3]], b)


def test_top1_keeps_best_per_class_and_first_on_tie():
    keep = top1_per_class([0.2, 0.9, 0.5, 0.7, 0.7], [0, 0, 1, 2, 2])
    assert keep.tolist() == [1, 2, 3]


def test_strict_threshold():
    # IoU exactly 0.5: no match at 0.5 (strict), a match at 0.4999
    ious = np.array([[0.5]])
    assert match_detections(ious, [0.5]).tolist() == [[False]]
    assert match_detections(ious, [0.4999]).tolist() == [[True]]
    # the same through the whole pipeline: boxes with IoU exactly 0.5
    res = evaluate_detections([img([[0, 0, 10, 10]], [0.9], [0])],
                              [gt([[0, 0, 10, 5]], [0])], 1, iou_thrs=(0.4, 0.5))
    assert res['ap'][0].tolist() == [1.0, 0.0]


def test_greedy_one_to_one_matching():
    # two detections on one GT: the higher-scoring one takes it, the other is a FP
    ious = np.array([[0.8], [0.9]])
    assert match_detections(ious, [0.5]).tolist() == [[True, False]]
    # best free GT is chosen
    ious = np.array([[0.6, 0.9], [0.7, 0.0]])
    assert match_detections(ious, [0.5]).tolist() == [[True, True]]


def test_perfect_gives_100_and_all_wrong_gives_0():
    preds = [img([[0, 0, 10, 10], [50, 50, 60, 70]], [0.9, 0.8], [0, 1]),
             img([[5, 5, 20, 20]], [0.3], [0])]
    gts = [gt([[0, 0, 10, 10], [50, 50, 60, 70]], [0, 1]), gt([[5, 5, 20, 20]], [0])]
    res = evaluate_detections(preds, gts, 2, THRS)
    np.testing.assert_allclose(res['ap'], 1.0)
    m = summarize(res, ['a', 'b'])
    assert m['mAP'] == pytest.approx(100.0)
    # shift every prediction away: AP 0 everywhere
    wrong = [img([[100, 100, 110, 110], [150, 150, 160, 170]], [0.9, 0.8], [0, 1]),
             img([[200, 200, 220, 220]], [0.3], [0])]
    res = evaluate_detections(wrong, gts, 2, THRS)
    np.testing.assert_allclose(res['ap'], 0.0)
    # right boxes with the wrong labels: also 0
    swapped = [img([[0, 0, 10, 10], [50, 50, 60, 70]], [0.9, 0.8], [1, 0]), img()]
    assert evaluate_detections(swapped, gts, 2, THRS)['ap'].max() == 0.0


def test_half_recall():
    # 2 GT boxes, one found with the top score, the other missed: precision 1 up to
    # recall 0.5 -> 51 of 101 recall levels reached -> AP = 51/101
    preds = [img([[0, 0, 10, 10]], [0.9], [0]), img()]
    gts = [gt([[0, 0, 10, 10]], [0]), gt([[0, 0, 10, 10]], [0])]
    res = evaluate_detections(preds, gts, 1, THRS)
    np.testing.assert_allclose(res['ap'], 51 / 101)
    # a FP ranked above the TP: precision 0.5 at recall 0.5 -> AP = 0.5 * 51/101
    preds = [img([[0, 0, 10, 10]], [0.5], [0]), img([[50, 50, 60, 60]], [0.9], [0])]
    res = evaluate_detections(preds, gts, 1, THRS)
    np.testing.assert_allclose(res['ap'], 0.5 * 51 / 101)


def test_envelope_uses_max_precision_at_higher_recall():
    # ranks: TP, FP, TP over 2 GT: precision 1, .5, .667; recall .5, .5, 1
    # levels 0..0.5 -> max(1, .5, .667) = 1; 0.51..1 -> 2/3
    prec = np.array([1, 0.5, 2 / 3])
    rec = np.array([0.5, 0.5, 1.0])
    assert interpolated_ap(prec, rec) == pytest.approx((51 * 1 + 50 * 2 / 3) / 101)


def test_ties_follow_image_order():
    # equal scores: stable sort keeps image order (as pycocotools); FP first vs TP first
    g = [gt([[0, 0, 10, 10]], [0]), gt()]
    tp_first = evaluate_detections([img([[0, 0, 10, 10]], [0.5], [0]),
                                    img([[0, 0, 10, 10]], [0.5], [0])], g, 1, THRS)
    g_rev = [gt(), gt([[0, 0, 10, 10]], [0])]
    fp_first = evaluate_detections([img([[0, 0, 10, 10]], [0.5], [0]),
                                    img([[0, 0, 10, 10]], [0.5], [0])], g_rev, 1, THRS)
    np.testing.assert_allclose(tp_first['ap'], 1.0)
    np.testing.assert_allclose(fp_first['ap'], 0.5)
    _, prec, rec = precision_recall([0.5, 0.5], [False, True], 1)
    assert prec.tolist() == [0.0, 0.5] and rec.tolist() == [0.0, 1.0]


def test_top1_enforced_before_ap():
    # a second, lower box of the same class on the image would be a FP; top-1 drops it
    preds = [img([[0, 0, 10, 10], [30, 30, 40, 40]], [0.9, 0.95], [0, 0])]
    gts = [gt([[0, 0, 10, 10]], [0])]
    res = evaluate_detections(preds, gts, 1, THRS)
    assert res['num_pred'][0] == 1
    np.testing.assert_allclose(res['ap'], 0.0)  # the kept (top) box is the wrong one
    res = evaluate_detections(preds, gts, 1, THRS, enforce_top1=False)
    np.testing.assert_allclose(res['ap'], 0.5)


def test_class_without_gt_is_zero_and_flagged_and_macro_mean():
    preds = [img([[0, 0, 10, 10], [0, 0, 5, 5]], [0.9, 0.9], [0, 1])]
    gts = [gt([[0, 0, 10, 10]], [0])]
    res = evaluate_detections(preds, gts, 2, (0.1, 0.5))
    assert res['has_gt'].tolist() == [True, False]
    np.testing.assert_allclose(res['ap'], [[1, 1], [0, 0]])
    m = summarize(res, ['a', 'b c'], groups={'only_a': ['a'], 'missing': ['a', 'zz']})
    assert m['mAP'] == pytest.approx(50.0)  # macro: (100 + 0) / 2
    assert m['AP@0.1'] == pytest.approx(50.0)
    assert m['AP_b_c'] == 0.0 and m['AP_a'] == pytest.approx(100.0)
    assert m['only_a/mAP'] == pytest.approx(100.0)
    assert not any(k.startswith('missing/') for k in m)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match='image 0: pred label out of range'):
        evaluate_detections([img([[0, 0, 1, 1]], [1.0], [3])], [gt()], 2)
    with pytest.raises(ValueError, match='same order'):
        evaluate_detections([img()], [], 2)
