"""RegionPathologyHead: one linear pathology classifier shared by all region features."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample

from ..vocabulary import resolve_vocabulary
from .region_targets import as_array, region_label_targets


def _img_path(sample: DetDataSample) -> str:
    return sample.metainfo.get('img_path', '<unknown image>')


@MODELS.register_module()
class RegionPathologyHead(BaseModule):
    """Per-region multi-label pathology logits ``Linear(d, C)`` applied to every region.

    Training modes are chosen by which losses are configured:

    * Loc (``loss_cls``): ASL on every (GT-present region, class) pair against the region
      labels ``gt_instances.pathology_labels`` (N_inst, C);
    * MIL (``loss_mil``): LSE pooling of the GT-present regions' probabilities against the
      image labels ``gt_image_labels`` (C,);
    * Loc + MIL: both.

    Args:
        in_channels: d.
        num_classes: C.
        class_names: the C training-class names (validated against the post-processor's
            class mapping by the detector), or a vocabulary name such as
            ``'PATHOLOGIES'``.
        loss_cls: region-level loss config or None.
        loss_mil: image-level MIL loss config or None.

    Initialisation: torch's default for ``nn.Linear`` (Kaiming-uniform weights, uniform
    bias), as DETR's class head (FACTS.md is silent on it).
    """

    def __init__(self, in_channels: int = 512, num_classes: int = 53,
                 class_names: Optional[Sequence[str]] = None,
                 loss_cls: Optional[dict] = None, loss_mil: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        class_names = resolve_vocabulary(class_names, 'RegionPathologyHead.class_names')
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f'RegionPathologyHead: {len(class_names)} class_names for '
                             f'num_classes={num_classes}')
        if loss_cls is None and loss_mil is None:
            raise ValueError('RegionPathologyHead: configure loss_cls (Loc), loss_mil (MIL) '
                             'or both')
        self.num_classes = num_classes
        self.class_names = list(class_names) if class_names is not None else None
        self.fc = nn.Linear(in_channels, num_classes)
        self.loss_cls = MODELS.build(loss_cls) if loss_cls is not None else None
        self.loss_mil = MODELS.build(loss_mil) if loss_mil is not None else None

    def forward(self, region_feats: Tensor) -> Tensor:
        """region_feats (B, N, d) -> logits (B, N, C)."""
        return self.fc(region_feats)

    def get_targets(self, batch_data_samples: List[DetDataSample], num_regions: int
                    ) -> Dict[str, Optional[Tensor]]:
        """CPU tensors ``region_labels`` (B, N, C) float32 (None unless Loc) and
        ``image_labels`` (B, C) float32 (None unless MIL), built on the host for the whole
        batch (:func:`.region_targets.region_label_targets`).

        A region listed twice in one image gets the OR of its 0/1 labels (matching the
        union box of :class:`AnatomyDETRHead`).
        """
        region_labels = image_labels = None
        num_b = len(batch_data_samples)
        if self.loss_cls is not None:
            for sample in batch_data_samples:
                if 'pathology_labels' not in sample.gt_instances:
                    raise KeyError('RegionPathologyHead (Loc mode) needs '
                                   'gt_instances.pathology_labels; missing for '
                                   f'{_img_path(sample)}')
            region_labels = torch.from_numpy(region_label_targets(
                batch_data_samples, num_regions, self.num_classes,
                'RegionPathologyHead')).reshape(num_b, num_regions, self.num_classes)
        if self.loss_mil is not None:
            rows = []
            for sample in batch_data_samples:
                if 'gt_image_labels' not in sample:
                    raise KeyError('RegionPathologyHead (MIL mode) needs the data field '
                                   'gt_image_labels; missing for '
                                   f'{_img_path(sample)}')
                rows.append(as_array(sample.gt_image_labels, np.float32).reshape(-1))
            image_labels = torch.from_numpy(np.stack(rows))
        return dict(region_labels=region_labels, image_labels=image_labels)

    def loss_by_feat(self, logits: Tensor, present: Tensor, region_labels: Optional[Tensor],
                     image_labels: Optional[Tensor]) -> Dict[str, Tensor]:
        """logits (B, N, C); present (B, N) bool GT presence; the labels of
        :meth:`get_targets` (on the logits' device). Returns loss_pathology and/or
        loss_mil."""
        losses = {}
        if self.loss_cls is not None:
            mask = present[..., None].expand_as(logits)
            losses['loss_pathology'] = self.loss_cls(logits, region_labels, mask)
        if self.loss_mil is not None:
            losses['loss_mil'] = self.loss_mil(logits, present, image_labels)
        return losses
