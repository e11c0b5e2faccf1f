"""SampleList: a batch's data samples cross the worker->main boundary as a few packed
tensors and arrive exactly as they left."""
import copy
import pickle

import pytest
import torch
from mmengine.structures import InstanceData
from torch.utils.data import DataLoader, Dataset

from mmdet.structures import DetDataSample

from mmadpd.datasets.collate import adpd_collate
from mmadpd.datasets.sample_list import SampleList, pack_samples


def _sample(i, num_classes=5, odd_field=False):
    g = torch.Generator().manual_seed(i)
    n = 2 + i % 4  # different numbers of instances per sample
    s = DetDataSample(metainfo=dict(img_path=f'img{i}.jpg', img_shape=(64, 64),
                                    scale_factor=(1.5, 0.5), crop_offset=(i, 2 * i)))
    gt = InstanceData(metainfo=dict(note=f'n{i}'))
    gt.bboxes = torch.rand(n, 4, generator=g) * 60
    gt.labels = torch.randperm(29, generator=g)[:n]
    gt.pathology_labels = (torch.rand(n, num_classes, generator=g) < 0.3).float()
    if odd_field:  # trailing shape differs between samples: cannot be concatenated
        gt.ragged = torch.zeros(n, 1 + i % 2)
    s.gt_instances = gt
    s.gt_image_labels = gt.pathology_labels.amax(0)
    s.note_list = [i, 'x']  # a non-tensor data field travels unchanged
    return s


def _assert_same(a, b):
    assert type(a) is type(b)
    assert a.metainfo == b.metainfo
    assert sorted(a.keys()) == sorted(b.keys())
    assert a.gt_instances.metainfo == b.gt_instances.metainfo
    assert sorted(a.gt_instances.keys()) == sorted(b.gt_instances.keys())
    for key in a.gt_instances.keys():
        x, y = a.gt_instances.get(key), b.gt_instances.get(key)
        assert x.dtype == y.dtype and torch.equal(x, y), key
    assert torch.equal(a.gt_image_labels, b.gt_image_labels)
    assert a.note_list == b.note_list


@pytest.mark.parametrize('odd_field', [False, True])
def test_pickle_round_trip_is_exact(odd_field):
    samples = [_sample(i, odd_field=odd_field) for i in range(6)]
    back = pickle.loads(pickle.dumps(SampleList(samples)))
    assert isinstance(back, SampleList) and len(back) == 6
    for a, b in zip(samples, back):
        _assert_same(a, b)


def test_packing_sends_a_few_batch_tensors_and_leaves_the_input_alone():
    samples = [_sample(i, odd_field=True) for i in range(8)]
    before = [s.gt_instances.bboxes.clone() for s in samples]
    skeletons, packed = pack_samples(samples)
    assert sorted(packed['instances']) == ['bboxes', 'labels', 'pathology_labels']
    assert sorted(packed['samples']) == ['gt_image_labels']
    assert packed['counts'].tolist() == [len(s.gt_instances) for s in samples]
    # the only tensors left in the skeletons are the ones that cannot be packed
    for skel in skeletons:
        assert list(skel.gt_instances.keys()) == ['ragged']
        assert 'gt_image_labels' not in skel
    for s, b in zip(samples, before):  # the worker's own samples are not modified
        assert torch.equal(s.gt_instances.bboxes, b) and 'gt_image_labels' in s


def test_plain_lists_and_samples_without_gt_pass_through():
    assert pickle.loads(pickle.dumps(SampleList([1, 'a']))) == [1, 'a']
    bare = [DetDataSample(metainfo=dict(img_path=f'{i}.png')) for i in range(3)]
    back = pickle.loads(pickle.dumps(SampleList(bare)))
    assert [b.img_path for b in back] == ['0.png', '1.png', '2.png']


class _Items(Dataset):
    def __len__(self):
        return 12

    def __getitem__(self, i):
        return dict(inputs=torch.full((1, 8, 8), i, dtype=torch.uint8),
                    data_samples=_sample(i))


def test_through_dataloader_workers_equals_in_process():
    """What the main process receives from 2 worker processes equals the in-process
    batch (the real use: adpd_collate in the workers, unpacking on arrival)."""
    ref = list(DataLoader(_Items(), batch_size=4, collate_fn=adpd_collate))
    got = list(DataLoader(_Items(), batch_size=4, collate_fn=adpd_collate, num_workers=2))
    assert len(got) == 3
    for r, g in zip(ref, got):
        assert torch.equal(r['inputs'], g['inputs'])
        assert isinstance(g['data_samples'], SampleList)
        for a, b in zip(r['data_samples'], g['data_samples']):
            _assert_same(a, b)


def test_copies_do_not_pack():
    """copy.copy (the DataLoader's pin-memory thread copies each batch's lists) keeps the
    very same samples; deepcopy copies them like a list would."""
    samples = SampleList([_sample(i) for i in range(3)])
    shallow = copy.copy(samples)
    assert isinstance(shallow, SampleList) and shallow is not samples
    assert all(a is b for a, b in zip(shallow, samples))
    deep = copy.deepcopy(samples)
    assert isinstance(deep, SampleList)
    for a, b in zip(samples, deep):
        assert a is not b and a.gt_instances.bboxes is not b.gt_instances.bboxes
        _assert_same(a, b)
