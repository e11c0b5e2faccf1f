"""TargetClassesMetaHook: saved checkpoints name the target classes (what mmdet's
init_detector / DetInferencer read), the training metainfo is kept and restored on load."""
from types import SimpleNamespace

import torch

import mmadpd  # noqa: F401
from mmadpd.anatomy import CXR8_CLASSES, REGIONS
from mmadpd.engine.hooks import TargetClassesMetaHook, target_dataset_meta


class _Model(torch.nn.Module):
    def __init__(self, target_classes=None):
        super().__init__()
        if target_classes is not None:
            self.postprocessor = SimpleNamespace(target_classes=list(target_classes))


def test_checkpoint_meta_holds_target_classes_and_training_meta_comes_back_on_load():
    hook = TargetClassesMetaHook()
    runner = SimpleNamespace(model=_Model(CXR8_CLASSES))
    ckpt = {'meta': {'dataset_meta': {'classes': REGIONS}, 'iter': 4}}
    hook.before_save_checkpoint(runner, ckpt)
    meta = ckpt['meta']
    assert meta['dataset_meta']['classes'] == CXR8_CLASSES
    assert len(meta['dataset_meta']['palette']) == len(CXR8_CLASSES)
    assert meta['train_dataset_meta'] == {'classes': REGIONS} and meta['iter'] == 4
    # on load (resume): the training metainfo is what the runner compares against
    hook.after_load_checkpoint(runner, ckpt)
    assert ckpt['meta']['dataset_meta'] == {'classes': REGIONS}


def test_models_without_target_classes_keep_mmengines_meta():
    assert target_dataset_meta(_Model()) is None
    ckpt = {'meta': {'dataset_meta': {'classes': ('a', 'b')}}}
    TargetClassesMetaHook().before_save_checkpoint(SimpleNamespace(model=_Model()), ckpt)
    assert ckpt['meta'] == {'dataset_meta': {'classes': ('a', 'b')}}
