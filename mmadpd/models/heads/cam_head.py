"""``CAMClassifierHead``: class score maps from a feature map and their pooled logits."""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS

from .cam_pooling import pool_class_maps


@MODELS.register_module()
class CAMClassifierHead(BaseModule):
    """A 1x1 convolution C_in -> K (the classifier applied at every position) and a
    spatial pooling (:mod:`.cam_pooling`) to image-level logits, trained with a sigmoid
    loss against the image labels.

    With ``pooling=dict(type='gap')`` this is CheXNet's GAP + linear classifier, whose
    class activation maps are exactly the 1x1-conv maps.

    Args:
        in_channels: C_in of the backbone map.
        num_classes: K target classes (the dataset's, e.g. the 8 CXR8 classes).
        pooling: ``dict(type='gap')``, ``dict(type='lse', r=...)`` or
            ``dict(type='weldon', k_pos=..., k_neg=..., alpha=...)``.
        dropout: dropout on the feature map before the classifier.
        loss_cls: image-level loss on logits (mmdet's sigmoid cross-entropy by default).
    """

    def __init__(self, in_channels: int, num_classes: int,
                 pooling: Optional[dict] = None, dropout: float = 0.0,
                 loss_cls: Optional[dict] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.num_classes = num_classes
        self.pooling = dict(pooling or dict(type='gap'))
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.classifier = nn.Conv2d(in_channels, num_classes, kernel_size=1)
        self.loss_cls = MODELS.build(loss_cls or dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0))

    def forward(self, feats: Tensor) -> Tuple[Tensor, Tensor]:
        """feats (B, C_in, h, w) -> class maps (B, K, h, w), logits (B, K)."""
        maps = self.classifier(self.dropout(feats))
        return maps, pool_class_maps(maps, **self.pooling)

    def loss(self, logits: Tensor, image_labels: Tensor) -> Dict[str, Tensor]:
        """logits (B, K), image_labels (B, K) 0/1 -> ``{'loss_cls'}``."""
        return dict(loss_cls=self.loss_cls(logits, image_labels.to(logits.dtype)))
