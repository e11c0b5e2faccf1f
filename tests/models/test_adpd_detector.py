import copy

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy

from mmadpd.box_ops import boxes_to_original as batch_boxes_to_original

from adpd_model_builders import make_sample, tiny_adpd_cfg


def boxes_to_original(boxes, sample):
    return batch_boxes_to_original(boxes[None], [sample])[0]


def test_boxes_map_back_exactly_for_letterboxed_non_square_image():
    # Original 300 (w) x 200 (h), letterboxed: long side -> 224, pad bottom to 224x224.
    scale = (224 / 300, 149 / 200)
    sample = make_sample([], [], size=224, ori=(200, 300), scale=scale)
    orig = torch.tensor([[30.0, 20.0, 150.0, 180.0], [0.0, 0.0, 300.0, 200.0]])
    net = orig * torch.tensor([scale[0], scale[1], scale[0], scale[1]])
    cxcywh = torch.cat([(net[:, :2] + net[:, 2:]) / 2, net[:, 2:] - net[:, :2]], 1) / 224
    assert torch.allclose(boxes_to_original(cxcywh, sample), orig, atol=1e-3)
    # A box reaching into the padding is clamped to the original image.
    pad_box = torch.tensor([[0.5, 0.6, 0.4, 0.4]])
    out = boxes_to_original(pad_box, sample)
    assert out[0, 3] == 200 and out[0, 1] < 200
    # A crop offset shifts back after the scale.
    sample.set_metainfo(dict(crop_offset=(10, 5)))
    assert torch.allclose(boxes_to_original(cxcywh[:1], sample),
                          orig[:1] + torch.tensor([10.0, 5.0, 10.0, 5.0]), atol=1e-3)


def test_predict_fields_in_original_pixels():
    cfg = tiny_adpd_cfg(num_regions=4, num_classes=3)
    model = MODELS.build(cfg).eval()
    scale = (224 / 300, 149 / 200)
    orig = torch.tensor([40.0, 30.0, 120.0, 170.0])
    net = orig * torch.tensor([scale[0], scale[1], scale[0], scale[1]]) / 224
    target = torch.cat([(net[:2] + net[2:]) / 2, net[2:] - net[:2]])
    with torch.no_grad():  # every query predicts `target`, present, class 0 and 2 positive
        last = model.anatomy_head.box_mlp[-1]
        last.weight.zero_()
        last.bias.copy_(torch.logit(target))
        model.anatomy_head.presence_fc.weight.zero_()
        model.anatomy_head.presence_fc.bias.fill_(2.0)
        model.pathology_head.fc.weight.zero_()
        model.pathology_head.fc.bias.copy_(torch.tensor([3.0, -3.0, 1.0]))
    sample = make_sample([], [], size=224, ori=(200, 300), scale=scale)
    data = model.data_preprocessor(
        dict(inputs=[torch.zeros(1, 224, 224, dtype=torch.uint8)], data_samples=[sample]))
    out = model.predict(data['inputs'], data['data_samples'])[0]
    regions = out.pred_regions
    assert regions.bboxes.shape == (4, 4)
    assert torch.allclose(regions.bboxes, orig.expand(4, 4), atol=1e-2)
    assert regions.presence_logits.shape == (4,) and regions.pathology_probs.shape == (4, 3)
    probs = torch.sigmoid(torch.tensor([3.0, -3.0, 1.0]))
    assert torch.allclose(out.pred_image_probs, probs, atol=1e-6)
    inst = out.pred_instances
    # T0 <- class0 (p 0.95); T1 <- mean(class1, class2), positive because class2 > 0.5.
    assert inst.labels.tolist() == [0, 1]
    assert torch.allclose(inst.scores, torch.stack([probs[0], probs[1:].mean()]), atol=1e-6)
    assert torch.allclose(inst.bboxes, orig.expand(2, 4), atol=1e-2)
    assert [sorted(s) for s in out.metainfo['fused_regions']] == [[0, 1, 2, 3]] * 2
    # _forward gives the raw tensors.
    presence, boxes, logits = model._forward(data['inputs'])
    assert presence.shape == (1, 4) and boxes.shape == (1, 4, 4) and logits.shape == (1, 4, 3)


def test_pretrained_densenet_survives_init_weights(tmp_path):
    import torchvision
    torch.manual_seed(0)
    reference = torchvision.models.densenet121(weights=None)
    full = tmp_path / 'densenet121_full.pth'
    torch.save(reference.state_dict(), full)
    features_only = tmp_path / 'densenet121_features.pth'
    old_style = {k.replace('norm1.', 'norm.1.').replace('conv2.', 'conv.2.'): v
                 for k, v in reference.features.state_dict().items()}
    assert any('norm.1.' in k for k in old_style)
    torch.save(old_style, features_only)
    # an mmengine checkpoint of a detector with this backbone (e.g. the CheXNet baseline)
    detector = tmp_path / 'detector.pth'
    torch.save({'meta': {}, 'state_dict': dict(
        {f'backbone.features.{k}': v for k, v in reference.features.state_dict().items()},
        **{'head.fc.weight': torch.zeros(8, 1024)})}, detector)
    for ckpt in (full, features_only, detector):
        cfg = tiny_adpd_cfg()
        cfg['backbone'] = dict(type='TorchvisionDenseNet',
                               init_cfg=dict(type='Pretrained', checkpoint=str(ckpt)))
        # A detector-level initialiser must not wipe the loaded backbone either.
        cfg['init_cfg'] = dict(type='Xavier', layer=['Conv2d', 'Linear'])
        model = MODELS.build(cfg)
        model.init_weights()
        loaded = model.backbone.features.state_dict()
        for key, value in reference.features.state_dict().items():
            assert torch.equal(loaded[key], value), key


def test_incomplete_checkpoint_fails_loudly(tmp_path):
    bad = tmp_path / 'bad.pth'
    torch.save({'features.conv0.weight': torch.zeros(64, 3, 7, 7)}, bad)
    backbone = MODELS.build(dict(type='TorchvisionDenseNet',
                                 init_cfg=dict(type='Pretrained', checkpoint=str(bad))))
    with pytest.raises(RuntimeError, match='missing keys'):
        backbone.init_weights()


RESNET_CONFIG = """
_base_ = ['mmdet::_base_/models/retinanet_r50_fpn.py']
model = dict(
    _delete_=True,
    type='ADPD',
    data_preprocessor=dict(type='ADPDDataPreprocessor'),
    backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(3, ),
                  norm_cfg=dict(type='BN', requires_grad=True), init_cfg=None),
    anatomy_head=dict(type='AnatomyDETRHead', num_regions=3, in_channels=512,
                      embed_dims=32, layer_cfg=dict(num_heads=4)),
    pathology_head=dict(type='RegionPathologyHead', in_channels=32, num_classes=2,
                        class_names=['x', 'y'], loss_cls=dict(type='AsymmetricLoss')),
    postprocessor=dict(type='WBFPathologyPostProcessor', target_classes=['X'],
                       class_mapping=dict(X=['x'])))
"""


def test_heads_reused_with_mmdet_resnet_config(tmp_path):
    path = tmp_path / 'adpd_r18.py'
    path.write_text(RESNET_CONFIG)
    cfg = Config.fromfile(str(path))
    assert 'model' in cfg and cfg.model.backbone.depth == 18
    model = MODELS.build(cfg.model)
    model.init_weights()
    samples = [make_sample([[4, 4, 40, 40], [10, 0, 64, 30]], [0, 2], pathology=[[1, 0], [0, 1]])
               for _ in range(2)]
    data = model.data_preprocessor(
        dict(inputs=[torch.randint(0, 255, (1, 64, 64), dtype=torch.uint8)] * 2,
             data_samples=samples), training=True)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert set(losses) == {'loss_presence', 'loss_bbox', 'loss_giou', 'loss_pathology'}
    sum(losses.values()).backward()
    model.eval()
    out = model.predict(data['inputs'], copy.deepcopy(data['data_samples']))
    assert out[0].pred_regions.bboxes.shape == (3, 4)


def _reference_to_original(boxes, sample):
    """normalised cxcywh (R, 4) -> xyxy original px, one sample, step by step."""
    h, w = sample.metainfo['batch_input_shape']
    xyxy = bbox_cxcywh_to_xyxy(boxes.float()) * torch.tensor([w, h, w, h]).float()
    meta = sample.metainfo
    if 'scale_factor' in meta:
        sx, sy = meta['scale_factor']
        xyxy = xyxy / torch.tensor([sx, sy, sx, sy])
    if meta.get('crop_offset') is not None:
        ox, oy = meta['crop_offset']
        xyxy = xyxy + torch.tensor([ox, oy, ox, oy], dtype=torch.float32)
    oh, ow = meta['ori_shape']
    xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, ow)
    xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, oh)
    return xyxy


def test_predict_equals_per_sample_reference():
    torch.manual_seed(0)
    cfg = tiny_adpd_cfg(num_regions=6, num_classes=3)
    model = MODELS.build(cfg).eval()
    images = torch.randint(0, 256, (3, 1, 64, 64), dtype=torch.uint8)
    with torch.no_grad():  # presence around the threshold: some regions present, some not
        model.pathology_head.fc.weight.mul_(0.1)
        model.pathology_head.fc.bias.copy_(torch.tensor([2.0, -2.0, 1.0]))
        raw = model._forward(model.data_preprocessor(dict(inputs=images))['inputs'])[0]
        model.anatomy_head.presence_fc.bias.add_(0.5 - raw.median() + 1e-4)
    metas = [dict(ori_shape=(200, 300), scale_factor=(224 / 300, 149 / 200)),
             dict(ori_shape=(64, 64)),  # no scale_factor: not resized
             dict(ori_shape=(120, 90), scale_factor=(0.5, 0.5), crop_offset=(7, 3))]
    samples = []
    for meta in metas:
        s = DetDataSample()
        s.set_metainfo(dict(img_path='x.png', img_shape=(64, 64), **meta))
        samples.append(s)
    data = model.data_preprocessor(dict(inputs=images, data_samples=samples))
    out = model.predict(data['inputs'], data['data_samples'])
    with torch.no_grad():
        presence, boxes, logits = model._forward(data['inputs'])
    probs = logits.float().sigmoid()
    for i, s in enumerate(out):
        region_boxes = _reference_to_original(boxes[i], s)
        oh, ow = s.metainfo['ori_shape']
        fused, scores, labels, sources = model.postprocessor(
            region_boxes.numpy(), presence[i].numpy(), probs[i].numpy(), (ow, oh))
        assert torch.equal(s.pred_regions.bboxes, region_boxes)
        assert torch.equal(s.pred_regions.presence_logits, presence[i])
        assert torch.equal(s.pred_regions.pathology_probs, probs[i])
        np.testing.assert_array_equal(s.pred_instances.bboxes.numpy(), fused)
        np.testing.assert_array_equal(s.pred_instances.scores.numpy(), scores)
        np.testing.assert_array_equal(s.pred_instances.labels.numpy(), labels)
        assert s.metainfo['fused_regions'] == sources
        keep = presence[i] > model.postprocessor.presence_thr
        expected = torch.where(keep[:, None], probs[i], torch.zeros_like(probs[i])).amax(0)
        assert torch.equal(s.pred_image_probs, expected)
    assert any(len(s.pred_instances) for s in out)
    assert 0 < int((presence > model.postprocessor.presence_thr).sum()) < presence.numel()
