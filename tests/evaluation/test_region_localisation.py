"""Within-image region ranking: a classifier that localises vs one that fires everywhere."""
import numpy as np
import pytest

from mmadpd.evaluation.functional import pairwise_auroc, region_localisation


def test_pairwise_auroc_counts_ties_as_half():
    assert pairwise_auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert pairwise_auroc([0.1], [0.9]) == 0.0
    assert pairwise_auroc([0.5, 0.5], [0.5]) == 0.5
    assert pairwise_auroc([0.6, 0.4], [0.5]) == 0.5


def test_localising_and_image_level_classifiers_are_told_apart():
    labels = np.zeros((4, 3), bool)
    labels[[0, 1], 0] = True      # class 0 in regions 0 and 1
    labels[:, 2] = True           # class 2 everywhere: no negative region, left out
    # class 1 absent from the image: left out
    local = np.full((4, 3), 0.1)
    local[[0, 1], 0] = 0.9
    everywhere = np.full((4, 3), 0.7)
    good, flat = region_localisation(local, labels), region_localisation(everywhere, labels)
    assert good['auroc'] == [1.0] and flat['auroc'] == [0.5]
    assert good['pred_positive'] == [2] and flat['pred_positive'] == [4]
    assert good['gt_positive'] == flat['gt_positive'] == [2]
    assert good['p_pos'] == [pytest.approx(0.9)] and good['p_neg'] == [pytest.approx(0.1)]


def test_shapes_must_match():
    with pytest.raises(ValueError, match=r'\(R, C\)'):
        region_localisation(np.zeros((4, 3)), np.zeros((4, 2), bool))
