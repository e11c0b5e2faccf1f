"""CAMDetector and its pooling functions (CAM-family baselines of Table 1)."""
import math

import pytest
import torch
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample

from mmadpd.models.heads.cam_pooling import (gap_pool, lse_pool_maps, pool_class_maps,
                                             weldon_pool)


def test_pooling_functions_on_a_known_map():
    maps = torch.tensor([[[[1.0, 2.0], [3.0, 6.0]]]])  # (1, 1, 2, 2)
    assert gap_pool(maps).item() == pytest.approx(3.0)
    assert weldon_pool(maps, k_pos=2, k_neg=1, alpha=0.5).item() == pytest.approx(4.5 + 0.5)
    assert weldon_pool(maps, k_pos=9, k_neg=0).item() == pytest.approx(3.0)  # k capped
    lse = lse_pool_maps(maps, r=1.0).item()
    assert lse == pytest.approx(math.log((math.e + math.e ** 2 + math.e ** 3 + math.e ** 6) / 4))
    # LSE tends to the mean for small r and to the max for large r
    assert lse_pool_maps(maps, r=1e-4).item() == pytest.approx(3.0, abs=1e-3)
    assert lse_pool_maps(maps, r=1e3).item() == pytest.approx(6.0, abs=1e-2)
    with pytest.raises(ValueError, match='unknown pooling'):
        pool_class_maps(maps, type='max')


def _cfg(pooling, cam_method='cam', num_classes=3):
    return dict(
        type='CAMDetector', data_preprocessor=dict(type='ADPDDataPreprocessor'),
        backbone=dict(type='TorchvisionDenseNet', init_cfg=None),
        head=dict(type='CAMClassifierHead', in_channels=1024, num_classes=num_classes,
                  pooling=pooling),
        cam_method=cam_method, box_threshold=0.5)


def _batch(n=2, size=64, ori=(128, 100), scale=(0.5, 0.64)):
    samples = []
    for i in range(n):
        s = DetDataSample()
        s.set_metainfo(dict(img_shape=(size, 50), pad_shape=(size, size), ori_shape=ori,
                            scale_factor=scale, batch_input_shape=(size, size)))
        s.gt_image_labels = torch.tensor([1.0, 0.0, float(i % 2)])
        s.gt_instances = InstanceData(bboxes=torch.zeros(0, 4),
                                      labels=torch.zeros(0, dtype=torch.long))
        samples.append(s)
    return torch.randn(n, 3, size, size), samples


@pytest.mark.parametrize('pooling', [dict(type='gap'), dict(type='lse', r=5.0),
                                     dict(type='weldon', k_pos=2, k_neg=2, alpha=0.7)])
def test_each_pooling_trains_and_predicts_one_box_per_class(pooling):
    torch.manual_seed(0)
    model = MODELS.build(_cfg(pooling))
    model.init_weights()
    inputs, samples = _batch()
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_cls'} and losses['loss_cls'].requires_grad
    losses['loss_cls'].backward()
    assert model.head.classifier.weight.grad.abs().sum() > 0
    model.eval()
    out = model.predict(inputs, samples)
    for s in out:
        pred = s.pred_instances
        assert pred.labels.tolist() == [0, 1, 2]
        assert torch.allclose(pred.scores, s.pred_image_probs)
        # inside the original image (w=100, h=128), positive size
        b = pred.bboxes
        assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
        assert (b[:, [0, 2]] <= 100).all() and (b[:, [1, 3]] <= 128).all()
        # the padded columns (x >= 50 input px) are never part of a box: x2 <= 50 / 0.5
        assert (b[:, 2] <= 100 + 1e-4).all()


def test_gradcam_uses_the_gap_checkpoint_and_differs_from_cam():
    torch.manual_seed(0)
    cam = MODELS.build(_cfg(dict(type='gap')))
    cam.init_weights()
    grad = MODELS.build(_cfg(dict(type='gap'), cam_method='gradcam'))
    grad.load_state_dict(cam.state_dict())  # the same checkpoint, another heatmap
    cam.eval(), grad.eval()
    inputs, samples = _batch(n=1)
    maps_cam, logits_cam = cam._forward(inputs)
    maps_grad, logits_grad = grad._gradcam(inputs)
    assert torch.allclose(logits_cam, logits_grad)
    assert maps_grad.shape == maps_cam.shape and (maps_grad >= 0).all()
    assert not torch.allclose(maps_grad / maps_grad.amax(), maps_cam / maps_cam.amax())
    with torch.no_grad():  # as the test loop calls it
        out = grad.predict(inputs, samples)
    assert len(out[0].pred_instances.bboxes) == 3
    with pytest.raises(ValueError, match='gradcam_layer'):
        MODELS.build(dict(_cfg(dict(type='gap'), 'gradcam'), gradcam_layer='no.such'))


def test_any_mmdet_backbone_by_config():
    torch.manual_seed(0)
    cfg = _cfg(dict(type='weldon', k_pos=1, k_neg=1), cam_method='gradcam')
    cfg.update(backbone=dict(type='mmdet.ResNet', depth=18, out_indices=(3,)),
               gradcam_layer='backbone.layer4')
    cfg['head']['in_channels'] = 512
    model = MODELS.build(cfg)
    model.init_weights()
    inputs, samples = _batch()
    model.loss(inputs, samples)['loss_cls'].backward()
    model.eval()
    out = model.predict(inputs, samples)
    assert out[0].pred_instances.bboxes.shape == (3, 4)
