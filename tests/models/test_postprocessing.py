import time
import warnings

import numpy as np
import pytest
from ensemble_boxes import weighted_boxes_fusion

from mmdet.registry import TASK_UTILS

from mmadpd.anatomy import CXR8_CLASSES, CXR8_MAPPING, PATHOLOGIES, mapping_indices
from mmadpd.models.postprocessing import fuse_region_boxes, weighted_box_clusters

TARGET_INDEX = mapping_indices(CXR8_MAPPING, PATHOLOGIES, CXR8_CLASSES)


def random_regions(rng, num_regions=29, size=(300, 200)):
    w, h = size
    xy = rng.random((num_regions, 2)) * [w * 0.7, h * 0.7]
    wh = rng.random((num_regions, 2)) * [w * 0.5, h * 0.5] + 2
    boxes = np.concatenate([xy, np.minimum(xy + wh, [w, h])], axis=1)
    return boxes, rng.random(num_regions) > 0.2, rng.random((num_regions, len(PATHOLOGIES)))


def library_top1(boxes, present, probs, size, target_index, thr=0.5, iou_thr=0.03):
    """The FACTS §5 rule written with a direct ensemble_boxes call."""
    w, h = size
    scale = np.array([w, h, w, h], dtype=np.float64)
    out = {}
    for label, idx in enumerate(target_index):
        cand = np.flatnonzero(present & (probs[:, idx] > thr).any(1))
        if not len(cand):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            b, s, _ = weighted_boxes_fusion([boxes[cand] / scale],
                                            [probs[cand][:, idx].mean(1)],
                                            [np.zeros(len(cand))], iou_thr=iou_thr,
                                            skip_box_thr=0.0, conf_type='max')
        out[label] = (b[0] * scale, s[0])
    return out


def test_weighted_box_clusters_equals_ensemble_boxes():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 30))
        xy = rng.random((n, 2)) * 0.7
        boxes = np.concatenate([xy, np.minimum(xy + rng.random((n, 2)) * 0.5 + 0.01, 1)], 1)
        scores = rng.random(n)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            ref_b, ref_s, _ = weighted_boxes_fusion([boxes], [scores], [np.zeros(n)],
                                                    iou_thr=0.03, skip_box_thr=0.0,
                                                    conf_type='max')
        fused, fused_scores, members = weighted_box_clusters(boxes, scores, 0.03)
        order = np.argsort(-fused_scores, kind='stable')
        np.testing.assert_array_equal(fused[order], ref_b)
        np.testing.assert_array_equal(fused_scores[order], ref_s)
        assert sorted(m for c in members for m in c) == list(range(n))


def _rows(boxes, scores):
    """(box, score) rows in a canonical order: equal scores may leave the library and us
    in different orders, the set of fused boxes is what must agree."""
    table = np.concatenate([boxes, scores[:, None]], 1)
    return table[np.lexsort(table.T[::-1])]


@pytest.mark.parametrize('iou_thr', [0.0, 0.03, 0.3, 0.55])
def test_weighted_box_clusters_equals_ensemble_boxes_with_ties_and_duplicates(iou_thr):
    """Harder inputs than random boxes: repeated boxes, equal scores, boxes on a coarse
    grid (touching edges, IoU exactly at simple fractions), tiny boxes; several
    thresholds. Every fused box and score must be bit-identical to the library's."""
    rng = np.random.default_rng(int(iou_thr * 100) + 7)
    for trial in range(300):
        n = int(rng.integers(1, 40))
        xy = rng.random((n, 2)) * 0.7
        size = 0.5 if trial % 3 else 0.04
        boxes = np.concatenate([xy, np.minimum(xy + rng.random((n, 2)) * size + 0.01, 1)], 1)
        if trial % 2:
            boxes = np.round(boxes, 1)
            boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 0.1)
            boxes[rng.integers(0, n, n // 2)] = boxes[0]
        scores = np.round(rng.random(n), 1) + 0.05 if trial % 4 < 2 else rng.random(n)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            ref_b, ref_s, _ = weighted_boxes_fusion([boxes], [scores], [np.zeros(n)],
                                                    iou_thr=iou_thr, skip_box_thr=0.0,
                                                    conf_type='max')
        fused, fused_scores, members = weighted_box_clusters(boxes, scores, iou_thr)
        np.testing.assert_array_equal(_rows(fused, fused_scores), _rows(ref_b, ref_s))
        assert sorted(m for c in members for m in c) == list(range(n))


def test_weighted_box_clusters_rejects_thresholds_outside_0_1():
    with pytest.raises(ValueError, match='iou_thr'):
        weighted_box_clusters(np.array([[0, 0, 0.5, 0.5]]), np.array([0.9]), -0.1)


def test_fuse_region_boxes_matches_direct_library_call():
    rng = np.random.default_rng(1)
    for _ in range(30):
        boxes, present, probs = random_regions(rng)
        got_b, got_s, got_l, sources = fuse_region_boxes(boxes, present, probs, (300, 200),
                                                         TARGET_INDEX)
        ref = library_top1(boxes, present, probs, (300, 200), TARGET_INDEX)
        assert got_l.tolist() == sorted(ref)
        for b, s, label, src in zip(got_b, got_s, got_l, sources):
            np.testing.assert_allclose(b, ref[label][0], rtol=1e-6, atol=1e-4)
            assert s == pytest.approx(ref[label][1], rel=1e-6)
            idx = TARGET_INDEX[label]
            assert all(present[r] and (probs[r, idx] > 0.5).any() for r in src)


def test_fusion_none_keeps_top_candidate_box():
    boxes = np.array([[0, 0, 10, 10], [2, 2, 12, 12], [50, 50, 60, 60]], dtype=float)
    probs = np.zeros((3, len(PATHOLOGIES)))
    probs[:, PATHOLOGIES.index('atelectasis')] = [0.6, 0.9, 0.7]
    present = np.array([True, True, True])
    b, s, labels, src = fuse_region_boxes(boxes, present, probs, (100, 100), TARGET_INDEX,
                                          fusion='none')
    assert labels.tolist() == [0] and src == [[1]]
    np.testing.assert_allclose(b[0], boxes[1])
    assert s[0] == pytest.approx(0.9)
    # WBF merges the two overlapping boxes (score-weighted), the far one stays apart.
    b, s, labels, src = fuse_region_boxes(boxes, present, probs, (100, 100), TARGET_INDEX)
    assert src == [[1, 0]]
    np.testing.assert_allclose(b[0], (0.9 * boxes[1] + 0.6 * boxes[0]) / 1.5, rtol=1e-5)
    # Mapped class (Infiltration = mean of two classes): positive if ANY is > 0.5.
    probs[:, PATHOLOGIES.index('infiltration')] = [0.8, 0.1, 0.1]
    b, s, labels, src = fuse_region_boxes(boxes, present, probs, (100, 100), TARGET_INDEX,
                                          fusion='none')
    k = labels.tolist().index(CXR8_CLASSES.index('Infiltration'))
    assert src[k] == [0] and s[k] == pytest.approx(0.4)


def test_invalid_inputs_raise_instead_of_exit():
    boxes, present, probs = random_regions(np.random.default_rng(2))
    boxes[3, 0] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        fuse_region_boxes(boxes, present, probs, (300, 200), TARGET_INDEX)
    with pytest.raises(ValueError, match='region_present'):
        fuse_region_boxes(boxes[:3], present, probs[:3], (300, 200), TARGET_INDEX)


def test_mapping_validated_at_build_names_miscased_class():
    mapping = {k: list(v) for k, v in CXR8_MAPPING.items()}
    mapping['Pneumothorax'] = ['Pneumothorax']
    with pytest.raises(ValueError, match="'Pneumothorax'.*'pneumothorax'"):
        TASK_UTILS.build(dict(type='WBFPathologyPostProcessor', class_names='PATHOLOGIES',
                              target_classes='CXR8_CLASSES', class_mapping=mapping))
    pp = TASK_UTILS.build(dict(type='WBFPathologyPostProcessor', class_names='PATHOLOGIES',
                               target_classes='CXR8_CLASSES', class_mapping='CXR8_MAPPING'))
    assert pp.target_index == TARGET_INDEX


def test_postprocessing_time_per_image_report_only():
    """Measured, not asserted (machine dependent); printed with ``pytest -s``."""
    rng = np.random.default_rng(3)
    inputs = [random_regions(rng) for _ in range(50)]
    start = time.perf_counter()
    for boxes, present, probs in inputs:
        fuse_region_boxes(boxes, present, probs, (300, 200), TARGET_INDEX)
    ms = (time.perf_counter() - start) / len(inputs) * 1e3
    print(f'\nfuse_region_boxes: {ms:.2f} ms/image (29 regions x 8 classes, ~50% positive)')
