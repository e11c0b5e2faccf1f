"""Per-class operating thresholds on hand-made predictions whose best F1 is known."""
import numpy as np
import pytest

from mmadpd.evaluation.functional.operating_points import (best_f1_threshold,
                                                           calibrate_thresholds, class_hits,
                                                           operating_points_at)

GT_BOX = [0., 0., 10., 10.]
MISS_BOX = [50., 50., 60., 60.]  # IoU 0 with the GT box


def _split(per_class):
    """per_class: {label: (num_gt_images, [(score, 'hit'|'miss'|'fp'), ...])} -> preds,
    gts with one image per GT box and one per false positive on an empty image."""
    preds, gts = [], []
    for label, (num_gt, boxes) in per_class.items():
        hits = [s for s, kind in boxes if kind == 'hit']
        misses = [s for s, kind in boxes if kind == 'miss']
        assert len(hits) + len(misses) <= num_gt
        for i in range(num_gt):
            score, box = (hits[i], GT_BOX) if i < len(hits) else \
                (misses[i - len(hits)], MISS_BOX) if i < len(hits) + len(misses) else \
                (None, None)
            preds.append(dict(bboxes=[box] if box else np.zeros((0, 4)),
                              scores=[score] if box else [], labels=[label] if box else []))
            gts.append(dict(bboxes=[GT_BOX], labels=[label]))
        for s, kind in boxes:
            if kind == 'fp':
                preds.append(dict(bboxes=[GT_BOX], scores=[s], labels=[label]))
                gts.append(dict(bboxes=np.zeros((0, 4)), labels=[]))
    return preds, gts


HAND_MADE = {
    # A: F1 after each cut 2/11, 4/12, 6/13, 6/14, 8/15 (best), 8/16, 8/17
    0: (10, [(0.9, 'hit'), (0.8, 'hit'), (0.7, 'hit'), (0.6, 'fp'), (0.55, 'hit'),
             (0.52, 'fp'), (0.51, 'fp')]),
    # B: every box a hit -> keep all -> the floor
    1: (10, [(0.6 + 0.03 * k, 'hit') for k in range(10)]),
    # C: 3 GT boxes only -> fallback
    2: (3, [(0.9, 'hit'), (0.8, 'hit'), (0.7, 'fp')]),
    # D: enough GT boxes, but every box misplaced -> fallback
    3: (12, [(0.9, 'miss'), (0.8, 'miss'), (0.7, 'fp')]),
}


def test_calibration_finds_the_known_best_thresholds_and_flags_fallbacks():
    preds, gts = _split(HAND_MADE)
    rows = calibrate_thresholds(preds, gts, ['A', 'B', 'C', 'D'], min_gt_boxes=10,
                                fallback=0.5)
    a, b, c, d = rows
    assert a['class'] == 'A' and a['threshold'] == pytest.approx(0.535)
    assert (a['tp'], a['num_positive'], a['num_gt']) == (4, 5, 10)
    assert (a['precision'], a['recall'], a['f1']) == pytest.approx((0.8, 0.4, 8 / 15))
    assert not a['fallback'] and a['reason'] is None
    assert b['threshold'] == 0.5 and (b['precision'], b['recall']) == (1.0, 1.0)
    assert not b['fallback']
    assert c['fallback'] and c['threshold'] == 0.5 and '3 GT boxes < 10' in c['reason']
    assert c['num_gt'] == 3 and c['recall'] == pytest.approx(2 / 3)  # measured at 0.5
    assert d['fallback'] and d['threshold'] == 0.5 and 'no box hits' in d['reason']
    # with a lower bar C is calibrated: its two hits, not the false positive
    c_low = calibrate_thresholds(preds, gts, ['A', 'B', 'C', 'D'], min_gt_boxes=3)[2]
    assert not c_low['fallback'] and c_low['threshold'] == pytest.approx(0.75)


def test_equal_scores_are_never_split_and_equal_f1_takes_the_higher_threshold():
    # cutting inside the run of 0.7 would give F1 1.0; the whole run gives 0.8
    row = best_f1_threshold([0.9, 0.7, 0.7, 0.6], [True, True, False, False], num_gt=2)
    assert row['threshold'] == pytest.approx(0.65) and row['f1'] == pytest.approx(0.8)
    # F1 2/3 after the first box and after the fourth: the higher threshold wins
    row = best_f1_threshold([0.9, 0.8, 0.7, 0.6], [True, False, False, True], num_gt=2)
    assert row['threshold'] == pytest.approx(0.85) and row['num_positive'] == 1
    assert best_f1_threshold([], [], num_gt=4, floor=0.5)['threshold'] == 0.5


def test_each_gt_box_counts_once_and_the_iou_bar_is_strict():
    gts = [dict(bboxes=[GT_BOX], labels=[0])]
    two = [dict(bboxes=[GT_BOX, [0., 0., 10., 9.]], scores=[0.9, 0.8], labels=[0, 0])]
    scores, hits, num_gt = class_hits(two, gts, 0, enforce_top1=False)
    assert scores.tolist() == [0.9, 0.8] and hits.tolist() == [True, False] and num_gt == 1
    assert class_hits(two, gts, 0)[1].tolist() == [True]  # top-1 drops the second box
    exactly = [dict(bboxes=[[0., 0., 10., 1.]], scores=[0.9], labels=[0])]  # IoU == 0.1
    assert class_hits(exactly, gts, 0)[1].tolist() == [False]
    assert class_hits(exactly, gts, 0, iou_thr=0.09)[1].tolist() == [True]


def test_operating_points_at_given_thresholds():
    preds, gts = _split(HAND_MADE)
    rows = operating_points_at(preds, gts, ['A', 'B', 'C', 'D'], {'A': 0.75, 'C': 0.95})
    assert [r['class'] for r in rows] == ['A', 'C']
    assert (rows[0]['tp'], rows[0]['num_positive']) == (2, 2)
    assert rows[1] == dict(threshold=0.95, precision=0.0, recall=0.0, f1=0.0, tp=0,
                           num_positive=0, num_gt=3, **{'class': 'C'})
    with pytest.raises(ValueError, match='one per image'):
        calibrate_thresholds(preds[:-1], gts, ['A'])
