"""torchvision DenseNet121 feature extractor for mmdet configs."""
from __future__ import annotations

import re
from typing import Dict, Optional, Tuple

import torch.nn.functional as F
import torchvision
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import CheckpointLoader, load_state_dict
from torch import Tensor

from mmdet.registry import MODELS

# Checkpoints published with torchvision use the pre-0.3 layer names
# ("denselayer1.norm.1.weight"); torchvision itself renames them when loading.
_OLD_DENSELAYER_KEY = re.compile(
    r'^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|'
    r'running_var|num_batches_tracked))$')


def densenet_feature_state_dict(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Keys of a torchvision DenseNet checkpoint -> keys of ``densenet.features``.

    Accepts a full classifier checkpoint (``features.*`` + ``classifier.*``, classifier
    dropped), a features-only one, a ``state_dict``-wrapped one, ``module.`` prefixes,
    the old ``norm.1`` key spelling, and an mmadpd/mmdet detector checkpoint whose
    backbone is this class (``backbone.features.*``; heads dropped), e.g. a trained
    CheXNet baseline's backbone as another model's initialisation.
    """
    if 'state_dict' in state_dict and isinstance(state_dict['state_dict'], dict):
        state_dict = state_dict['state_dict']
    if any(k.startswith('backbone.features.') for k in state_dict):
        state_dict = {k[len('backbone.'):]: v for k, v in state_dict.items()
                      if k.startswith('backbone.features.')}
    out = {}
    has_features_prefix = any(k.startswith(('features.', 'module.features.'))
                              for k in state_dict)
    for key, value in state_dict.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        if has_features_prefix:
            if not key.startswith('features.'):
                continue  # classifier.* and anything else outside the feature extractor
            key = key[len('features.'):]
        out[_OLD_DENSELAYER_KEY.sub(r'\1\2', key)] = value
    return out


@MODELS.register_module()
class TorchvisionDenseNet(BaseModule):
    """DenseNet feature extractor (``torchvision.models.densenet*.features``) + final ReLU.

    Output: a 1-tuple with the last feature map (B, 1024, H/32, W/32) for DenseNet121,
    i.e. norm5 followed by ReLU as in torchvision's classifier.

    Pretrained weights come from ``init_cfg=dict(type='Pretrained', checkpoint=...)``
    where checkpoint is ``'torchvision://densenet121'`` or a local/URL file of a full or
    features-only state dict. Loading is STRICT: a checkpoint that does not cover every
    parameter raises instead of silently leaving random weights (mmengine's generic loader
    is non-strict and would skip torchvision's old-style keys). Because the loading happens
    in this module's ``init_weights``, no parent initialiser can overwrite it afterwards
    (the reference code re-initialised the backbone after loading).

    Args:
        arch: torchvision constructor name (``'densenet121'``, ``'densenet169'``, ...).
        memory_efficient: torchvision's checkpointed dense layers (less memory, slower).
    """

    def __init__(self, arch: str = 'densenet121', memory_efficient: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if not arch.startswith('densenet') or not hasattr(torchvision.models, arch):
            raise ValueError(f'TorchvisionDenseNet: unknown arch {arch!r}')
        net = getattr(torchvision.models, arch)(weights=None,
                                                memory_efficient=memory_efficient)
        self.features = net.features
        self.out_channels = net.classifier.in_features

    def init_weights(self) -> None:
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            checkpoint = cfg['checkpoint']
            ckpt = CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu')
            state = densenet_feature_state_dict(ckpt)
            try:
                load_state_dict(self.features, state, strict=True,
                                logger=MMLogger.get_current_instance())
            except RuntimeError as err:
                raise RuntimeError(f'TorchvisionDenseNet: checkpoint {checkpoint!r} does '
                                   f'not match {type(self).__name__} features: {err}') from err
            self._is_init = True
            return
        super().init_weights()

    def forward(self, x: Tensor) -> Tuple[Tensor]:
        """x (B, 3, H, W) -> ((B, C, H/32, W/32),)."""
        return (F.relu(self.features(x)),)
