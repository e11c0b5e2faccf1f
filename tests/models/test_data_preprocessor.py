"""ADPDDataPreprocessor: a stacked uint8 batch equals the list path, differently sized
images are padded as mmengine pads them, and channels_last reaches the model."""
import copy

import torch

from mmdet.registry import MODELS

from adpd_model_builders import make_sample, tiny_adpd_cfg


def test_stacked_uint8_batch_equals_list_and_keeps_samples_on_cpu():
    pre = MODELS.build(dict(type='ADPDDataPreprocessor', pad_size_divisor=32))
    imgs = torch.randint(0, 256, (3, 1, 40, 56), dtype=torch.uint8)
    samples = [make_sample([[1, 2, 3, 4]], [0], size=40) for _ in range(3)]
    gt_tensors = [s.gt_instances.bboxes for s in samples]
    out_list = pre(dict(inputs=list(imgs), data_samples=copy.deepcopy(samples)), True)
    out_stack = pre(dict(inputs=imgs, data_samples=samples), True)
    assert out_stack['inputs'].shape == (3, 3, 64, 64)
    assert torch.equal(out_list['inputs'], out_stack['inputs'])
    expected = (imgs[1, 0].float() - 0.505 * 255) / (0.248 * 255)
    assert torch.equal(out_stack['inputs'][1, 2, :40, :56], expected)
    assert (out_stack['inputs'][:, :, 40:] == 0).all()  # padded bottom/right
    # the data samples are the same objects, their gt untouched (not copied per sample)
    out_samples = out_stack['data_samples']
    assert all(a is b.gt_instances.bboxes for a, b in zip(gt_tensors, out_samples))
    assert out_stack['data_samples'][0].batch_input_shape == (64, 64)
    assert out_stack['data_samples'][0].pad_shape == (64, 64)


def test_differently_sized_list_is_padded_like_mmengine():
    pre = MODELS.build(dict(type='ADPDDataPreprocessor', out_channels=1))
    a = torch.randint(0, 256, (1, 20, 30), dtype=torch.uint8)
    b = torch.randint(0, 256, (1, 24, 16), dtype=torch.uint8)
    out = pre(dict(inputs=[a, b], data_samples=[make_sample([], [], 20),
                                                make_sample([], [], 24)]))['inputs']
    assert out.shape == (2, 1, 24, 30)
    assert torch.equal(out[1, :, :24, :16], (b.float() - 0.505 * 255) / (0.248 * 255))
    assert (out[1, :, :, 16:] == 0).all() and (out[0, :, 20:] == 0).all()


def test_channels_last_flag_converts_the_model():
    cfg = tiny_adpd_cfg()
    cfg['data_preprocessor'] = dict(type='ADPDDataPreprocessor', channels_last=True)
    model = MODELS.build(cfg)
    model.init_weights()
    conv = model.backbone.features.conv0.weight if hasattr(model.backbone, 'features') \
        else next(m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.is_contiguous(memory_format=torch.channels_last)
    plain = MODELS.build(tiny_adpd_cfg())
    conv = next(m.weight for m in plain.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.is_contiguous()


def test_data_preprocessor_grey_uint8_to_normalised_rgb():
    pre = MODELS.build(dict(type='ADPDDataPreprocessor', channels_last=True))
    img = torch.randint(0, 256, (1, 32, 48), dtype=torch.uint8)
    out = pre(dict(inputs=[img, img.clone()], data_samples=[make_sample([], [], 32)] * 2))
    x = out['inputs']
    assert x.shape == (2, 3, 32, 48) and x.dtype == torch.float32
    assert x.is_contiguous(memory_format=torch.channels_last)
    expected = (img.float() - 0.505 * 255) / (0.248 * 255)
    for c in range(3):
        assert torch.allclose(x[0, c], expected[0], atol=1e-5)
    assert out['data_samples'][0].batch_input_shape == (32, 48)
