"""``TargetClassesMetaHook``: checkpoints name the classes the model PREDICTS.

mmengine's Runner stores the training set's metainfo as the checkpoint's
``meta.dataset_meta``; for ADPD that is the 29 anatomical regions, while the model's
labels are the post-processor's target classes (the 8 CXR8 classes). mmdet's
``init_detector`` and ``DetInferencer`` read ``meta.dataset_meta`` to name labels and colour
them, so this hook writes the target classes and a palette there and keeps the training
metainfo as ``meta.train_dataset_meta``. On loading it puts the training metainfo back (in
memory), so ``--resume`` compares like with like.
"""
from __future__ import annotations

from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

from ...datasets.imagenome import make_palette


def target_dataset_meta(model) -> Optional[dict]:
    """``{'classes': target classes, 'palette': RGB ints}`` of an ADPD model (the same
    palette rule as ``CXR8Dataset``), or None for a model without a post-processor that
    names its target classes."""
    classes = getattr(getattr(model, 'postprocessor', None), 'target_classes', None)
    if not classes:
        return None
    return dict(classes=tuple(classes), palette=make_palette(len(classes)))


@HOOKS.register_module()
class TargetClassesMetaHook(Hook):
    """Write :func:`target_dataset_meta` into every saved checkpoint's ``meta``."""
    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        target = target_dataset_meta(model)
        if target is None:
            return
        meta = checkpoint.setdefault('meta', {})
        if 'dataset_meta' in meta:
            meta['train_dataset_meta'] = meta['dataset_meta']
        meta['dataset_meta'] = target

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta') or {}
        if 'train_dataset_meta' in meta:
            meta['dataset_meta'] = meta['train_dataset_meta']
