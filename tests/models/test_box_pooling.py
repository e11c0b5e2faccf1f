import copy

import pytest
import torch

from mmdet.registry import MODELS

from mmadpd.models.layers.box_pooling import box_average_pool

from adpd_model_builders import make_sample, tiny_adpd_cfg


def cxcywh(x0, y0, x1, y1):
    return [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]


def test_whole_image_box_is_the_global_mean():
    feats = torch.randn(2, 5, 4, 6)
    out = box_average_pool(feats, torch.tensor([[cxcywh(0, 0, 1, 1)]] * 2))
    assert out.shape == (2, 1, 5)
    torch.testing.assert_close(out[:, 0], feats.mean((2, 3)))


def test_box_on_one_cell_reads_that_cell():
    feats = torch.randn(1, 3, 4, 4)
    out = box_average_pool(feats, torch.tensor([[cxcywh(0.25, 0.5, 0.5, 0.75)]]))
    torch.testing.assert_close(out[0, 0], feats[0, :, 2, 1])


def test_partial_cells_weigh_by_their_area_inside_the_box():
    # x from 0.125 (half of cell 0) to 0.5 (all of cell 1); y covers row 0 exactly
    feats = torch.randn(1, 2, 4, 4)
    out = box_average_pool(feats, torch.tensor([[cxcywh(0.125, 0.0, 0.5, 0.25)]]))
    expected = (0.5 * feats[0, :, 0, 0] + 1.0 * feats[0, :, 0, 1]) / 1.5
    torch.testing.assert_close(out[0, 0], expected)


def test_box_smaller_than_a_cell_reads_the_cell_window_around_its_centre():
    feats = torch.randn(1, 2, 4, 4)
    tiny = torch.tensor([[[0.625, 0.375, 1e-4, 0.0]]])  # centre of cell (row 1, col 2)
    torch.testing.assert_close(box_average_pool(feats, tiny)[0, 0], feats[0, :, 1, 2])


def test_box_leaving_the_image_averages_its_part_inside():
    feats = torch.randn(1, 2, 2, 2)
    out = box_average_pool(feats, torch.tensor([[cxcywh(0.5, -0.5, 1.5, 0.5)]]))
    torch.testing.assert_close(out[0, 0], feats[0, :, 0, 1])


def test_features_outside_the_box_do_not_matter_and_gradients_reach_the_map():
    feats = torch.randn(1, 3, 8, 8, requires_grad=True)
    boxes = torch.tensor([[cxcywh(0.25, 0.25, 0.6, 0.5), cxcywh(0.0, 0.5, 1.0, 1.0)]])
    out = box_average_pool(feats, boxes)
    changed = feats.detach().clone()
    changed[..., 5:, :] += 10.0  # rows 5-7 lie below the first box (y <= 0.5)
    changed[..., :, 5:] += 10.0  # columns 5-7 lie right of it (x <= 0.6 ends in col 4)
    torch.testing.assert_close(box_average_pool(changed, boxes)[0, 0], out[0, 0].detach())
    assert not torch.allclose(box_average_pool(changed, boxes)[0, 1], out[0, 1].detach())
    out[0, 0].sum().backward()
    assert feats.grad[..., :2, :2].abs().sum() == 0  # cells fully outside: no gradient
    assert feats.grad[..., 2:4, 2:4].abs().sum() > 0


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match='box_average_pool'):
        box_average_pool(torch.zeros(1, 2, 4, 4), torch.zeros(1, 4))


def _box_pooled_mil_model():
    cfg = tiny_adpd_cfg(num_regions=4, num_classes=3, mil=True, loc=False)
    cfg.update(region_features='box_pooled')
    cfg['pathology_head']['in_channels'] = 1024  # the DenseNet map's channels
    return MODELS.build(cfg)


def test_box_pooled_mil_model_trains_the_backbone_but_not_the_boxes_from_image_labels():
    torch.manual_seed(0)
    model = _box_pooled_mil_model()
    model.init_weights()
    samples = [make_sample([[4, 4, 40, 40], [10, 0, 64, 30]], [0, 2],
                           image_labels=[1, 0, 1]) for _ in range(2)]
    data = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 255, (1, 64, 64), dtype=torch.uint8)] * 2,
             data_samples=samples), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert set(losses) == {'loss_presence', 'loss_bbox', 'loss_giou', 'loss_mil'}
    losses['loss_mil'].backward()
    box_grads = [p.grad for p in model.anatomy_head.box_mlp.parameters()]
    assert all(g is None or g.abs().sum() == 0 for g in box_grads)
    assert model.backbone.features.conv0.weight.grad.abs().sum() > 0
    model.eval()
    out = model.predict(data['inputs'], copy.deepcopy(data['data_samples']))
    assert out[0].pred_regions.pathology_probs.shape == (4, 3)


def test_unknown_region_features_are_refused():
    cfg = tiny_adpd_cfg()
    cfg.update(region_features='roi')
    with pytest.raises(ValueError, match='region_features'):
        MODELS.build(cfg)


def test_box_pooled_network_exports_to_onnx_and_matches_torch(tmp_path):
    from mmadpd.apis.onnx_backend import OnnxRuntimeNetwork
    from mmadpd.apis.onnx_export import ADPDNetwork, export_onnx

    torch.manual_seed(0)
    model = _box_pooled_mil_model().eval()
    model.init_weights()
    path = export_onnx(model, str(tmp_path / 'box_pooled.onnx'), image_size=64,
                       dynamic_batch=True)
    x = torch.randn(2, 1, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = ADPDNetwork(model)(x.expand(-1, 3, -1, -1))
    for ref, got in zip(reference, OnnxRuntimeNetwork(path)(x.expand(-1, 3, -1, -1))):
        assert ref.shape == got.shape
        assert float((ref - got).abs().max()) < 1e-4
