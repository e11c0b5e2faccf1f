"""The vectorised fast paths (targets, preprocessing, predict, collate) give exactly the
results of straightforward per-sample reference implementations."""
import copy

import numpy as np
import pytest
import torch
from mmengine.registry import FUNCTIONS, DefaultScope
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh

from mmadpd.datasets.collate import adpd_collate

from adpd_model_builders import make_sample, tiny_adpd_cfg

NUM_REGIONS, NUM_CLASSES = 6, 5


# ---------------------------------------------------------------- references (per sample)
def reference_box_targets(samples, num_regions):
    """The original per-(sample, region) loop: union box for duplicates."""
    present, boxes = [], []
    for s in samples:
        h, w = s.metainfo['batch_input_shape']
        scale = torch.tensor([w, h, w, h], dtype=torch.float32)
        xyxy = torch.zeros(num_regions, 4)
        mask = torch.zeros(num_regions, dtype=torch.bool)
        for label, box in zip(s.gt_instances.labels.tolist(), s.gt_instances.bboxes / scale):
            if mask[label]:
                box = torch.cat([torch.minimum(xyxy[label, :2], box[:2]),
                                 torch.maximum(xyxy[label, 2:], box[2:])])
            xyxy[label], mask[label] = box, True
        present.append(mask)
        boxes.append(torch.where(mask[:, None], bbox_xyxy_to_cxcywh(xyxy), xyxy))
    return torch.stack(present), torch.stack(boxes)


def reference_label_targets(samples, num_regions, num_classes):
    """OR of the 0/1 labels of a region listed twice."""
    out = torch.zeros(len(samples), num_regions, num_classes)
    for b, s in enumerate(samples):
        for label, row in zip(s.gt_instances.labels.tolist(), s.gt_instances.pathology_labels):
            out[b, label] = torch.maximum(out[b, label], row)
    return out


def reference_to_original(boxes, sample):
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


# ---------------------------------------------------------------- random batches
def random_batch(seed, batch=7, size=(48, 64), distinct=False):
    """Samples with absent regions, duplicated regions (none with ``distinct``, the usual
    batch, which takes the targets' direct-write path), empty images and two input shapes
    (targets normalise by each sample's own shape)."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for b in range(batch):
        most = NUM_REGIONS if distinct else 2 * NUM_REGIONS - 1
        n = 0 if b == 2 else int(torch.randint(1, most + 1, (1,), generator=g))
        labels = (torch.randperm(NUM_REGIONS, generator=g)[:n] if distinct
                  else torch.randint(0, NUM_REGIONS, (n,), generator=g))  # duplicates likely
        xy = torch.rand(n, 2, generator=g) * 30
        boxes = torch.cat([xy, xy + torch.rand(n, 2, generator=g) * 30 + 1], 1)
        path = (torch.rand(n, NUM_CLASSES, generator=g) < 0.3).float()
        s = make_sample(boxes, labels, pathology=path,
                        image_labels=path.amax(0) if n else torch.zeros(NUM_CLASSES))
        h, w = size if b % 2 else size[::-1]
        s.set_metainfo(dict(batch_input_shape=(h, w), img_path=f'img{b}.png'))
        samples.append(s)
    return samples


def has_duplicates(samples):
    return any(len(set(s.gt_instances.labels.tolist())) < len(s.gt_instances)
               for s in samples)


@pytest.mark.parametrize('seed,distinct', [(0, False), (1, False), (2, False), (0, True),
                                           (4, True)])
def test_box_targets_equal_reference(seed, distinct):
    head = MODELS.build(dict(type='AnatomyDETRHead', num_regions=NUM_REGIONS, in_channels=8,
                             embed_dims=16, layer_cfg=dict(num_heads=2)))
    samples = random_batch(seed, distinct=distinct)
    assert has_duplicates(samples) != distinct
    t = head.get_targets(samples)
    present, boxes = reference_box_targets(samples, NUM_REGIONS)
    assert torch.equal(t['present'], present)
    assert torch.equal(t['boxes'], boxes)
    assert torch.equal(t['boxes_xyxy'], bbox_cxcywh_to_xyxy(boxes))  # host = device maths


@pytest.mark.parametrize('seed,distinct', [(0, False), (3, False), (1, True)])
def test_label_targets_equal_reference(seed, distinct):
    head = MODELS.build(dict(type='RegionPathologyHead', in_channels=8,
                             num_classes=NUM_CLASSES,
                             class_names=[f'c{i}' for i in range(NUM_CLASSES)],
                             loss_cls=dict(type='AsymmetricLoss'),
                             loss_mil=dict(type='LSEPoolMILLoss')))
    samples = random_batch(seed, distinct=distinct)
    assert has_duplicates(samples) != distinct
    t = head.get_targets(samples, NUM_REGIONS)
    assert torch.equal(t['region_labels'],
                       reference_label_targets(samples, NUM_REGIONS, NUM_CLASSES))
    assert torch.equal(t['image_labels'], torch.stack([s.gt_image_labels for s in samples]))


def test_concat_arrays_takes_any_per_sample_type():
    """Tensors (with autograd history too), box types, arrays and lists concatenate to the
    same numbers; an all-tensor batch takes the one-cat path."""
    from mmdet.structures.bbox import HorizontalBoxes
    from mmadpd.models.heads.region_targets import concat_arrays
    rows = [[[0, 1, 2, 3]], [[4, 5, 6, 7], [8, 9, 10, 11]], np.zeros((0, 4))]
    want = np.array(rows[0] + rows[1], np.float32)
    kinds = [[torch.tensor(r, dtype=torch.float64).reshape(-1, 4) for r in rows],
             [HorizontalBoxes(torch.tensor(r, dtype=torch.float32).reshape(-1, 4))
              for r in rows],
             [torch.tensor(r, dtype=torch.float32, requires_grad=True).reshape(-1, 4)
              for r in rows],
             [np.asarray(r, np.float32).reshape(-1, 4) for r in rows],
             [torch.tensor(rows[0]), np.asarray(rows[1]), rows[2]]]
    for values in kinds:
        got = concat_arrays(values, np.float32)
        assert got.dtype == np.float32 and np.array_equal(got, want)
    assert concat_arrays([], np.int64).shape == (0,)


def test_out_of_range_label_names_the_image():
    cfg = tiny_adpd_cfg(num_regions=NUM_REGIONS, num_classes=3)
    model = MODELS.build(cfg)
    samples = random_batch(0, batch=4)
    samples[2] = make_sample([[0, 0, 4, 4]], [NUM_REGIONS], pathology=[[0, 1, 0]])
    samples[2].set_metainfo(dict(img_path='bad_one.png'))
    with pytest.raises(ValueError, match='bad_one.png'):
        model.anatomy_head.get_targets(samples)
    with pytest.raises(ValueError, match='bad_one.png'):
        model.pathology_head.get_targets(samples, NUM_REGIONS)


def test_loss_equals_loss_on_reference_targets():
    """Corner targets converted on the host = converted by the loss on the device."""
    head = MODELS.build(dict(type='AnatomyDETRHead', num_regions=NUM_REGIONS, in_channels=8,
                             embed_dims=16, layer_cfg=dict(num_heads=2)))
    samples = random_batch(5)
    outputs = dict(boxes=torch.rand(len(samples), NUM_REGIONS, 4) * 0.5 + 0.25,
                   presence_logits=torch.randn(len(samples), NUM_REGIONS))
    fast = head.loss_by_feat(outputs, head.get_targets(samples))
    present, boxes = reference_box_targets(samples, NUM_REGIONS)
    slow = head.loss_by_feat(outputs, dict(present=present, boxes=boxes))
    for key in slow:
        assert torch.equal(fast[key], slow[key]), key


# ---------------------------------------------------------------- preprocessing
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


# ---------------------------------------------------------------- predict
def test_predict_equals_per_sample_reference():
    torch.manual_seed(0)
    cfg = tiny_adpd_cfg(num_regions=NUM_REGIONS, num_classes=3)
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
        region_boxes = reference_to_original(boxes[i], s)
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


# ---------------------------------------------------------------- collate
def _item(shape, value):
    sample = DetDataSample(metainfo=dict(img_path=f'{value}.png'))
    sample.gt_instances = InstanceData(labels=torch.tensor([value]))
    return dict(inputs=torch.full(shape, value, dtype=torch.uint8), data_samples=sample)


def test_adpd_collate_stacks_same_shapes_and_falls_back_to_list():
    with DefaultScope.overwrite_default_scope('mmdet'):
        assert FUNCTIONS.get('adpd_collate') is adpd_collate
    batch = adpd_collate([_item((1, 8, 6), v) for v in range(3)])
    assert isinstance(batch['inputs'], torch.Tensor)
    assert batch['inputs'].shape == (3, 1, 8, 6) and batch['inputs'].dtype == torch.uint8
    assert batch['inputs'][:, 0, 0, 0].tolist() == [0, 1, 2]
    assert [s.img_path for s in batch['data_samples']] == ['0.png', '1.png', '2.png']
    mixed = adpd_collate([_item((1, 8, 6), 0), _item((1, 6, 8), 1)])
    assert isinstance(mixed['inputs'], list) and mixed['inputs'][1].shape == (1, 6, 8)


def test_packed_upload_round_trip():
    """pack + unpack (what upload sends to the device in one copy) gives every array
    back: values, dtypes, shapes, empty arrays, 16-byte aligned offsets."""
    from mmadpd.models.heads.region_targets import pack, unpack, upload_dicts
    rng = np.random.default_rng(0)
    arrays = [rng.random((7, 29, 4), dtype=np.float32), rng.random((7, 29)) < 0.5,
              np.arange(5, dtype=np.int64) * 3, np.zeros((0, 8), np.float32),
              rng.random((3, 8), dtype=np.float32)[:, ::2]]  # not contiguous
    buffer, offsets = pack(arrays)
    assert buffer.dtype == torch.uint8 and all(off % 16 == 0 for off in offsets)
    for a, t in zip(arrays, unpack(buffer, arrays, offsets)):
        assert t.dtype == {np.dtype(np.float32): torch.float32, np.dtype(bool): torch.bool,
                           np.dtype(np.int64): torch.int64}[a.dtype]
        assert tuple(t.shape) == a.shape and np.array_equal(t.numpy(), a)
    # dicts: None stays None, the rest in order
    out = upload_dicts([dict(a=arrays[0], b=None), dict(c=arrays[2])], 'meta')
    assert out[0]['b'] is None and out[0]['a'].shape == (7, 29, 4)
    assert out[1]['c'].dtype == torch.int64 and out[0]['a'].device.type == 'meta'


def test_detector_targets_equal_the_heads_own():
    """ADPD.loss builds both heads' targets with one upload: the same tensors as each
    head's get_targets."""
    from mmadpd.models.heads.region_targets import upload_dicts
    model = MODELS.build(tiny_adpd_cfg(num_regions=NUM_REGIONS, num_classes=NUM_CLASSES,
                                       loc=True, mil=True))
    samples = random_batch(4)
    a, p = upload_dicts([model.anatomy_head.target_arrays(samples),
                         model.pathology_head.target_arrays(samples, NUM_REGIONS)], 'cpu')
    ref_a = model.anatomy_head.get_targets(samples)
    ref_p = model.pathology_head.get_targets(samples, NUM_REGIONS)
    for k in ('present', 'boxes', 'boxes_xyxy'):
        assert torch.equal(a[k], ref_a[k]), k
    for k in ('region_labels', 'image_labels'):
        assert torch.equal(p[k], ref_p[k]), k
