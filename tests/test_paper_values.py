"""Every value the ADPD paper or its reference code fixes (FACTS.md sections 1-7), pinned.

Each paper config is resolved as mmengine resolves it and compared with the table below;
a failure names the config, the key and both values. A change to one of these values is
a change of the reproduced method: update FACTS.md first, then this table.
"""
import math
import os.path as osp
from functools import lru_cache

import numpy as np
import pytest
from mmengine.config import Config

from mmadpd.anatomy import CXR8_CLASSES, CXR8_MAPPING, PATHOLOGIES, REGIONS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# ---------------------------------------------------------------- FACTS.md sections 1-3
PAPER_REGIONS = (
    'right lung', 'right upper lung zone', 'right mid lung zone', 'right lower lung zone',
    'right hilar structures', 'right apical zone', 'right costophrenic angle',
    'right hemidiaphragm', 'left lung', 'left upper lung zone', 'left mid lung zone',
    'left lower lung zone', 'left hilar structures', 'left apical zone',
    'left costophrenic angle', 'left hemidiaphragm', 'trachea', 'spine', 'right clavicle',
    'left clavicle', 'aortic arch', 'mediastinum', 'upper mediastinum', 'svc',
    'cardiac silhouette', 'cavoatrial junction', 'right atrium', 'carina', 'abdomen')
PAPER_CLASSES = (
    'atelectasis', 'vascular calcification', 'vascular congestion', 'lung opacity',
    'mediastinal displacement', 'pleural effusion', 'enlarged cardiac silhouette',
    'rib fracture', 'hernia', 'airspace opacity', 'pleural/parenchymal scarring',
    'enlarged hilum', 'subcutaneous air', 'hyperaeration', 'pulmonary edema/hazy opacity',
    'lung lesion', 'mass/nodule (not otherwise specified)', 'tortuous aorta',
    'linear/patchy atelectasis', 'consolidation', 'spinal degenerative changes',
    'pneumothorax', 'calcified nodule', 'scoliosis', 'superior mediastinal mass/enlargement',
    'elevated hemidiaphragm', 'multiple masses/nodules', 'infiltration',
    'mediastinal widening', 'shoulder osteoarthritis', 'vascular redistribution',
    'costophrenic angle blunting', 'lobar/segmental collapse', 'hydropneumothorax',
    'spinal fracture', 'bone lesion', 'increased reticular markings/ild pattern',
    'pneumomediastinum', 'diaphragmatic eventration (benign)', 'sub-diaphragmatic air',
    'cyst/bullae', 'bronchiectasis', 'clavicle fracture',
    'pneumonia', 'pericardial effusion', 'copd/emphysema', 'fluid overload/heart failure',
    'granulomatous disease', 'goiter', 'aspiration', 'lung cancer', 'alveolar hemorrhage',
    'interstitial lung disease')
PAPER_CXR8 = {
    'Atelectasis': ('atelectasis',), 'Cardiomegaly': ('enlarged cardiac silhouette',),
    'Effusion': ('pleural effusion',), 'Infiltration': ('infiltration', 'lung opacity'),
    'Mass': ('mass/nodule (not otherwise specified)', 'multiple masses/nodules'),
    'Nodule': ('mass/nodule (not otherwise specified)',), 'Pneumonia': ('pneumonia',),
    'Pneumothorax': ('pneumothorax',)}

# ---------------------------------------------------------------- FACTS.md sections 4-5
# batch_normalize_to: the summed ASL is scaled to the paper's batch of 128 on one GPU, so
# its weight against the (mean) box losses does not change with the local batch
ASL = dict(gamma_neg=4.0, gamma_pos=1.0, clip=0.05, eps=1e-8, reduction='sum',
           loss_weight=0.01, batch_normalize_to=128)
COMMON = {
    # data and augmentation
    'train_dataloader.batch_size': 128,
    'auto_scale_lr.base_batch_size': 128,
    'train_pipeline[RandomResizedBBoxSafeCrop].size': 224,
    'train_pipeline[RandomResizedBBoxSafeCrop].erosion_rate': 0.2,
    'train_pipeline[RandomSimilarityAffine].max_rotate_degree': 2.0,
    'train_pipeline[RandomSimilarityAffine].scaling_ratio_range': (0.95, 1.0),
    'train_pipeline[RandomSimilarityAffine].max_translate_ratio': 0.02,
    'train_pipeline[RandomBrightnessContrast].brightness': (0.8, 1.2),
    'train_pipeline[RandomBrightnessContrast].contrast': (0.8, 1.2),
    'train_pipeline[RandomGaussianBlur].kernel_size': 3,
    'train_pipeline[RandomGaussianBlur].sigma': (0.1, 1.0),
    'train_pipeline[RandomGaussianBlur].prob': 0.5,
    'test_pipeline[Resize].scale': (224, 224),
    'model.data_preprocessor.mean': [0.505 * 255],
    'model.data_preprocessor.std': [0.248 * 255],
    'model.data_preprocessor.out_channels': 3,
    # schedule
    'optim_wrapper.optimizer.type': 'AdamW',
    'optim_wrapper.clip_grad.max_norm': 5.0,
    'param_scheduler[LinearLR].begin': 0,
    'param_scheduler[LinearLR].end': 3000,
    'param_scheduler[CosineAnnealingLR].begin': 3000,
    'param_scheduler[CosineAnnealingLR].eta_min': 0.0,
    'train_cfg.type': 'IterBasedTrainLoop',
    'train_cfg.max_iters': 25 * math.ceil(234307 / 128),  # 25 epochs of the paper's set
    'param_scheduler[CosineAnnealingLR].end': 25 * math.ceil(234307 / 128),
    'train_cfg.val_interval': 500,
    'default_hooks.checkpoint.save_best': 'cxr8/mAP',
    'custom_hooks[EarlyStoppingHook].monitor': 'cxr8/mAP',
    'custom_hooks[EarlyStoppingHook].patience': 20000 // 500,  # counted in validations
    'custom_hooks[EarlyStoppingHook].min_delta': 0,
    # model
    'model.backbone.arch': 'densenet121',
    'model.backbone.init_cfg.checkpoint': 'torchvision://densenet121',
    'model.anatomy_head.num_regions': 29,
    'model.anatomy_head.region_names': 'REGIONS',
    'model.anatomy_head.in_channels': 1024,
    'model.anatomy_head.num_layers': 1,
    'model.anatomy_head.layer_cfg.num_heads': 8,
    'model.anatomy_head.layer_cfg.ffn_ratio': 4,
    'model.anatomy_head.layer_cfg.dropout': 0.3,
    'model.anatomy_head.layer_cfg.drop_path': 0.2,
    'model.anatomy_head.layer_cfg.layer_scale_init': 0.1,
    'model.anatomy_head.proj_dropout': 0.3,
    'model.anatomy_head.box_dropout': 0.3,
    'model.anatomy_head.positional_encoding.normalize': True,
    'model.anatomy_head.loss_presence.use_sigmoid': True,
    'model.anatomy_head.loss_presence.loss_weight': 1.0,
    'model.anatomy_head.loss_bbox.type': 'L1Loss',
    'model.anatomy_head.loss_bbox.loss_weight': 5.0,
    'model.anatomy_head.loss_iou.loss_weight': 2.0,
    'model.pathology_head.num_classes': 53,
    'model.pathology_head.class_names': 'PATHOLOGIES',
    # inference
    'model.postprocessor.target_classes': 'CXR8_CLASSES',
    'model.postprocessor.class_mapping': 'CXR8_MAPPING',
    'model.postprocessor.presence_thr': 0.5,
    'model.postprocessor.prob_thr': 0.5,
    'model.postprocessor.fusion': 'wbf',
    'model.postprocessor.iou_thr': 0.03,
    'val_dataloader.dataset.ann_file': 'cxr8_val.json',
    'test_dataloader.dataset.ann_file': 'cxr8_test.json',
}
LOC = {
    'optim_wrapper.optimizer.lr': 3e-5,
    'optim_wrapper.optimizer.weight_decay': 1e-5,
    'model.anatomy_head.embed_dims': 512,
    'model.pathology_head.in_channels': 512,
    **{f'model.pathology_head.loss_cls.{k}': v for k, v in ASL.items()},
}
MIL = {
    'optim_wrapper.optimizer.lr': 1e-4,
    'optim_wrapper.optimizer.weight_decay': 1e-4,
    'model.anatomy_head.embed_dims': 256,
    'model.pathology_head.in_channels': 256,
    'model.pathology_head.loss_cls': None,
    'model.pathology_head.loss_mil.r': 5.0,
    **{f'model.pathology_head.loss_mil.loss_cls.{k}': v for k, v in ASL.items()},
}
WITHOUT_MIL = {'model.pathology_head.loss_mil': None}
NO_WBF = {'model.postprocessor.fusion': 'none'}
PAPER_CONFIGS = {
    'loc_adpd.py': {**COMMON, **LOC, **WITHOUT_MIL},
    'loc_adpd_wo-wbf.py': {**COMMON, **LOC, **WITHOUT_MIL, **NO_WBF},
    'loc-mil_adpd.py': {**COMMON, **LOC, 'model.pathology_head.loss_mil.r': 5.0,
                        **{f'model.pathology_head.loss_mil.loss_cls.{k}': v
                           for k, v in ASL.items()}},
    'mil_adpd.py': {**COMMON, **MIL},
    'mil_adpd_wo-wbf.py': {**COMMON, **MIL, **NO_WBF},
}


@lru_cache(maxsize=None)
def load(name):
    return Config.fromfile(osp.join(ROOT, 'configs', 'adpd', name))


def resolve(cfg, key):
    """``a.b[Type].c``: attribute path; ``[Type]`` picks the list entry of that type."""
    node = cfg
    for part in key.split('.'):
        name, _, typ = part.partition('[')
        node = node[name] if name in node else KeyError(name)
        if isinstance(node, KeyError):
            return node
        if typ:
            matches = [e for e in node if e.get('type') == typ[:-1]]
            if len(matches) != 1:
                return KeyError(f'{len(matches)} entries of type {typ[:-1]}')
            node = matches[0]
    return node


def same(got, want):
    if isinstance(want, float) and isinstance(got, (int, float)):
        return math.isclose(got, want, rel_tol=1e-9)
    if isinstance(want, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want))
    return type(got) is type(want) and got == want or (want is None and got is None)


def drifted(name):
    cfg = load(name)
    return [f'{name}: {key} is {resolve(cfg, key)!r}, the paper\'s value is {want!r}'
            for key, want in PAPER_CONFIGS[name].items() if not same(resolve(cfg, key), want)]


@pytest.mark.parametrize('name', sorted(PAPER_CONFIGS))
def test_paper_config_values(name):
    problems = drifted(name)
    assert not problems, '\n'.join(problems)


@pytest.mark.parametrize('name', sorted(PAPER_CONFIGS))
def test_no_horizontal_flip(name):
    """Left/right regions would swap identities (FACTS.md section 1)."""
    assert not [t for t in load(name).train_pipeline if 'Flip' in t['type']]


def test_vocabularies():
    assert tuple(REGIONS) == PAPER_REGIONS
    assert tuple(PATHOLOGIES) == PAPER_CLASSES and len(PATHOLOGIES) == 53
    assert tuple(CXR8_CLASSES) == tuple(PAPER_CXR8)
    assert {k: tuple(v) for k, v in CXR8_MAPPING.items()} == PAPER_CXR8


def test_fusion_keeps_the_max_score_and_one_box_per_class():
    """WBF conf type 'max' and top-1 per class (FACTS.md section 5), with the resolved
    post-processor of loc_adpd.py."""
    from mmdet.registry import TASK_UTILS

    from mmadpd.utils import register_all_modules
    register_all_modules()
    post = TASK_UTILS.build(dict(load('loc_adpd.py').model.postprocessor,
                                 class_names='PATHOLOGIES'))
    effusion = PATHOLOGIES.index('pleural effusion')
    boxes = np.array([[10, 10, 50, 50], [12, 12, 52, 52], [70, 70, 90, 90]], np.float32)
    probs = np.zeros((3, 53), np.float32)
    probs[:, effusion] = [0.9, 0.6, 0.8]  # two overlapping candidates, one apart
    out_boxes, scores, labels, sources = post(boxes, np.ones(3), probs, (100, 100))
    assert labels.tolist() == [CXR8_CLASSES.index('Effusion')]
    assert scores.tolist() == pytest.approx([0.9])  # max of the fused cluster, not mean
    assert sorted(sources[0]) == [0, 1]
    assert out_boxes[0][0] == pytest.approx((10 * 0.9 + 12 * 0.6) / 1.5, abs=1e-4)
