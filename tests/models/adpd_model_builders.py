"""Builders shared by the model tests: tiny ADPD configs and data samples."""
import copy

import torch
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample


def tiny_adpd_cfg(num_regions=4, num_classes=3, embed_dims=32, mil=False, loc=True,
                  backbone=None, in_channels=1024):
    """A small ADPD config with its own region/class vocabulary (proves nothing is tied to
    the 29/53 defaults)."""
    asl = dict(type='AsymmetricLoss', reduction='sum', loss_weight=0.01)
    classes = [f'class{i}' for i in range(num_classes)]
    return dict(
        type='ADPD',
        data_preprocessor=dict(type='ADPDDataPreprocessor'),
        backbone=backbone or dict(type='TorchvisionDenseNet', init_cfg=None),
        anatomy_head=dict(type='AnatomyDETRHead', num_regions=num_regions,
                          in_channels=in_channels, embed_dims=embed_dims,
                          layer_cfg=dict(num_heads=4)),
        pathology_head=dict(
            type='RegionPathologyHead', in_channels=embed_dims, num_classes=num_classes,
            class_names=classes, loss_cls=copy.deepcopy(asl) if loc else None,
            loss_mil=dict(type='LSEPoolMILLoss', r=5.0,
                          loss_cls=dict(asl, use_sigmoid=False)) if mil else None),
        postprocessor=dict(type='WBFPathologyPostProcessor',
                           target_classes=['T0', 'T1'],
                           class_mapping={'T0': ['class0'], 'T1': ['class1', 'class2']}))


def make_sample(boxes, labels, size=64, pathology=None, image_labels=None, ori=None,
                scale=(1.0, 1.0)):
    """DetDataSample with gt boxes (xyxy network px) and region labels."""
    s = DetDataSample()
    ori = ori or (size, size)
    s.set_metainfo(dict(img_shape=(size, size), pad_shape=(size, size),
                        batch_input_shape=(size, size), ori_shape=ori, scale_factor=scale,
                        img_path='synthetic.png'))
    gt = InstanceData()
    gt.bboxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    gt.labels = torch.as_tensor(labels, dtype=torch.long)
    if pathology is not None:
        gt.pathology_labels = torch.as_tensor(pathology, dtype=torch.float32)
    s.gt_instances = gt
    if image_labels is not None:
        s.gt_image_labels = torch.as_tensor(image_labels, dtype=torch.float32)
    return s


def deterministic_tiny_adpd(mil=True, loc=True, **model_kwargs):
    """A built tiny ADPD (5 regions, 4 classes, d 32) in train mode, seed 0, with every
    dropout and DropPath off: two such models give element-wise comparable steps (e.g.
    eager vs compiled, graphed vs plain). ``model_kwargs`` go to the ADPD config."""
    from mmdet.registry import MODELS
    from mmadpd.utils import register_all_modules
    register_all_modules()
    cfg = tiny_adpd_cfg(num_regions=5, num_classes=4, embed_dims=32, mil=mil, loc=loc)
    cfg['anatomy_head'].update(proj_dropout=0.0, box_dropout=0.0, layer_cfg=dict(
        num_heads=4, dropout=0.0, drop_path=0.0))
    cfg.update(model_kwargs)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.train()


def small_training_batch(num=3):
    """A fixed batch for :func:`deterministic_tiny_adpd`: ``num`` 64-px uint8 images and
    data samples with 4-6 regions (the first lists region 2 twice), region and image
    pathology labels over 4 classes."""
    g = torch.Generator().manual_seed(1)
    samples = []
    for i in range(num):
        labels = [0, 1, 2, 4] if i else [0, 1, 2, 3, 4, 2]
        xy = torch.rand(len(labels), 2, generator=g) * 30
        boxes = torch.cat([xy, xy + 8 + torch.rand(len(labels), 2, generator=g) * 20], 1)
        path = (torch.rand(len(labels), 4, generator=g) < 0.4).float()
        samples.append(make_sample(boxes, labels, size=64, pathology=path,
                                   image_labels=path.amax(0)))
    images = torch.randint(0, 256, (num, 1, 64, 64), generator=g, dtype=torch.uint8)
    return dict(inputs=images, data_samples=samples)
