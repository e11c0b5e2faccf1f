import pytest
import torch

from mmdet.registry import MODELS

from mmadpd.models.losses import asymmetric_loss


def test_loc_loss_uses_present_region_pairs_only(sample_factory):
    head = MODELS.build(dict(type='RegionPathologyHead', in_channels=8, num_classes=3,
                             class_names=['a', 'b', 'c'],
                             loss_cls=dict(type='AsymmetricLoss', reduction='sum',
                                           loss_weight=0.01)))
    sample = sample_factory([[0, 0, 8, 8], [8, 8, 16, 16]], [2, 0],
                            pathology=[[1, 0, 0], [0, 1, 1]])
    t = head.get_targets([sample], num_regions=4)
    assert t['region_labels'][0].tolist() == [[0, 1, 1], [0, 0, 0], [1, 0, 0], [0, 0, 0]]
    logits = torch.randn(1, 4, 3)
    present = torch.tensor([[True, False, True, False]])
    loss = head.loss_by_feat(logits, present, t['region_labels'], None)['loss_pathology']
    direct = asymmetric_loss(logits[0, [0, 2]].sigmoid(), t['region_labels'][0, [0, 2]])
    assert loss.item() == pytest.approx(0.01 * direct.item(), rel=1e-6)


def test_mil_mode_needs_image_labels(sample_factory):
    head = MODELS.build(dict(type='RegionPathologyHead', in_channels=8, num_classes=3,
                             class_names=['a', 'b', 'c'],
                             loss_mil=dict(type='LSEPoolMILLoss')))
    with pytest.raises(KeyError, match='gt_image_labels'):
        head.get_targets([sample_factory([[0, 0, 8, 8]], [0])], num_regions=2)


def test_vocabulary_names_resolve_and_bad_name_raises():
    from mmadpd.anatomy import PATHOLOGIES
    head = MODELS.build(dict(type='RegionPathologyHead', in_channels=8, num_classes=53,
                             class_names='PATHOLOGIES', loss_cls=dict(type='AsymmetricLoss')))
    assert head.class_names == list(PATHOLOGIES)
    with pytest.raises(ValueError, match='PATHOLOGY'):
        MODELS.build(dict(type='RegionPathologyHead', in_channels=8, num_classes=53,
                          class_names='PATHOLOGY', loss_cls=dict(type='AsymmetricLoss')))
