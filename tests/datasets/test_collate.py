"""adpd_collate: same-shaped images stacked into one uint8 tensor, others a list."""
import torch
from mmengine.registry import FUNCTIONS, DefaultScope
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample

from mmadpd.datasets.collate import adpd_collate


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
