"""Region targets (mmadpd/models/heads/region_targets.py) and their upload
(mmadpd/models/target_upload.py): the batch-wise numpy targets equal straightforward
per-sample reference loops, and one packed copy hands every tensor back."""
import numpy as np
import pytest
import torch

from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh

from mmadpd.models.heads.region_targets import concat_arrays
from mmadpd.models.target_upload import pack, unpack, upload_targets

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
    assert torch.equal(t['boxes_xyxy'], bbox_cxcywh_to_xyxy(boxes))  # mmdet's numbers
    assert all(v.device.type == 'cpu' for v in t.values())


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


def test_packed_upload_round_trip():
    """pack + unpack (what upload sends to the device in one copy) gives every tensor
    back: values, dtypes, shapes, empty tensors, 16-byte aligned offsets."""
    rng = np.random.default_rng(0)
    arrays = [rng.random((7, 29, 4), dtype=np.float32), rng.random((7, 29)) < 0.5,
              np.arange(5, dtype=np.int64) * 3, np.zeros((0, 8), np.float32),
              rng.random((3, 8), dtype=np.float32)[:, ::2]]  # not contiguous
    buffer, offsets = pack(arrays)
    assert buffer.dtype == torch.uint8 and all(off % 16 == 0 for off in offsets)
    like = [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]
    for a, t in zip(arrays, unpack(buffer, like, offsets)):
        assert t.dtype == {np.dtype(np.float32): torch.float32, np.dtype(bool): torch.bool,
                           np.dtype(np.int64): torch.int64}[a.dtype]
        assert tuple(t.shape) == a.shape and np.array_equal(t.numpy(), a)
    # dicts: None stays None, the rest in order
    out = upload_targets([dict(a=like[0], b=None), dict(c=like[2])], 'meta')
    assert out[0]['b'] is None and out[0]['a'].shape == (7, 29, 4)
    assert out[1]['c'].dtype == torch.int64 and out[0]['a'].device.type == 'meta'


def test_detector_targets_equal_the_heads_own():
    """ADPD.get_targets moves both heads' targets in one upload: the same tensors as
    each head's get_targets (on the meta device: shapes and dtypes)."""
    model = MODELS.build(tiny_adpd_cfg(num_regions=NUM_REGIONS, num_classes=NUM_CLASSES,
                                       loc=True, mil=True))
    samples = random_batch(4)
    a, p = model.get_targets(samples, 'cpu')
    ref_a = model.anatomy_head.get_targets(samples)
    ref_p = model.pathology_head.get_targets(samples, NUM_REGIONS)
    for k in ('present', 'boxes', 'boxes_xyxy'):
        assert torch.equal(a[k], ref_a[k]), k
    for k in ('region_labels', 'image_labels'):
        assert torch.equal(p[k], ref_p[k]), k
    meta_a, meta_p = model.get_targets(samples, 'meta')
    for got, ref in ((meta_a, ref_a), (meta_p, ref_p)):
        for k in ref:
            assert got[k].device.type == 'meta' and got[k].shape == ref[k].shape, k
            assert got[k].dtype == ref[k].dtype, k
