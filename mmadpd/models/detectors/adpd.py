"""ADPD detector: backbone -> AnatomyDETRHead -> RegionPathologyHead -> WBF post-processing."""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.detectors import BaseDetector
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy

from ..heads.anatomy_detr_head import input_shape_of


def boxes_to_original(boxes: Tensor, sample: DetDataSample) -> Tensor:
    """Normalised cxcywh of the network input (R, 4) -> xyxy ORIGINAL pixels (R, 4).

    net px = normalised * (w, h) of the padded network input; original = net px /
    scale_factor (w_scale, h_scale) + crop_offset (x, y) if a crop was applied; then clamped
    to ``ori_shape``. Letterbox padding is bottom/right, so it needs no shift.
    """
    h, w = input_shape_of(sample)
    xyxy = bbox_cxcywh_to_xyxy(boxes.float()) * boxes.new_tensor([w, h, w, h]).float()
    meta = sample.metainfo
    if 'scale_factor' in meta:
        sx, sy = meta['scale_factor'][:2]
        xyxy = xyxy / xyxy.new_tensor([sx, sy, sx, sy])
    if meta.get('crop_offset') is not None:
        ox, oy = meta['crop_offset'][:2]
        xyxy = xyxy + xyxy.new_tensor([ox, oy, ox, oy])
    oh, ow = meta.get('ori_shape', (h, w))[:2]
    xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, ow)
    xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, oh)
    return xyxy


@MODELS.register_module()
class ADPD(BaseDetector):
    """Anatomy-Driven Pathology Detection (Müller et al., MICCAI 2023).

    Args:
        backbone: config of a backbone returning a tuple of feature maps; the map at
            ``feature_index`` (C_in = ``anatomy_head.in_channels``) is used.
        anatomy_head: :class:`AnatomyDETRHead` config.
        pathology_head: :class:`RegionPathologyHead` config (its ``class_names`` are the
            training classes the post-processor's mapping is validated against).
        postprocessor: :class:`WBFPathologyPostProcessor` config (``class_names`` filled
            in from the pathology head).
        data_preprocessor: usually :class:`ADPDDataPreprocessor`.

    ``predict`` fills every data sample with:

    * ``pred_instances``: ``bboxes`` (K, 4) xyxy ORIGINAL px, ``scores`` (K,), ``labels``
      (K,) target-class indices (at most one box per class);
    * ``pred_regions``: ``bboxes`` (N, 4) xyxy ORIGINAL px (clamped), ``presence_logits``
      (N,), ``pathology_probs`` (N, C) sigmoid probabilities, rows in region order;
    * ``pred_image_probs``: (C,) max over predicted-present regions (0 if none);
    * metainfo ``fused_regions``: per predicted box, the region indices fused into it.
    """

    def __init__(self, backbone: dict, anatomy_head: dict, pathology_head: dict,
                 postprocessor: dict, data_preprocessor: Optional[dict] = None,
                 feature_index: int = -1, train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.anatomy_head = MODELS.build(anatomy_head)
        self.pathology_head = MODELS.build(pathology_head)
        if self.pathology_head.class_names is None:
            raise ValueError('ADPD: pathology_head.class_names must be set so that the '
                             'post-processor class mapping can be validated')
        postprocessor = dict(postprocessor)
        postprocessor.setdefault('class_names', self.pathology_head.class_names)
        self.postprocessor = TASK_UTILS.build(postprocessor)
        self.feature_index = feature_index
        self.train_cfg, self.test_cfg = train_cfg, test_cfg

    def extract_feat(self, batch_inputs: Tensor) -> Tensor:
        """(B, 3, H, W) -> the backbone map (B, C_in, h, w)."""
        feats = self.backbone(batch_inputs)
        return feats[self.feature_index] if isinstance(feats, (tuple, list)) else feats

    def _heads(self, batch_inputs: Tensor) -> Tuple[Dict[str, Tensor], Tensor]:
        out = self.anatomy_head(self.extract_feat(batch_inputs))
        return out, self.pathology_head(out['region_feats'])

    def _forward(self, batch_inputs: Tensor,
                 batch_data_samples: Optional[List[DetDataSample]] = None
                 ) -> Tuple[Tensor, Tensor, Tensor]:
        """Raw outputs: presence_logits (B, N), boxes (B, N, 4) normalised cxcywh,
        pathology_logits (B, N, C)."""
        out, logits = self._heads(batch_inputs)
        return out['presence_logits'], out['boxes'], logits

    def loss(self, batch_inputs: Tensor, batch_data_samples: List[DetDataSample]
             ) -> Dict[str, Tensor]:
        out, logits = self._heads(batch_inputs)
        targets = self.anatomy_head.get_targets(batch_data_samples)
        losses = self.anatomy_head.loss_by_feat(out, targets)
        cls_targets = self.pathology_head.get_targets(batch_data_samples,
                                                      self.anatomy_head.num_regions)
        losses.update(self.pathology_head.loss_by_feat(
            logits, targets['present'], cls_targets['region_labels'],
            cls_targets['image_labels']))
        return losses

    @torch.no_grad()
    def predict(self, batch_inputs: Tensor, batch_data_samples: List[DetDataSample],
                rescale: bool = True) -> List[DetDataSample]:
        """See the class docstring for the fields. Boxes are always returned in ORIGINAL
        pixels (``rescale`` is accepted for mmdet compatibility)."""
        out, logits = self._heads(batch_inputs)
        probs = logits.float().sigmoid()
        presence = out['presence_logits'].float()
        for i, sample in enumerate(batch_data_samples):
            region_boxes = boxes_to_original(out['boxes'][i], sample)
            present = presence[i] > self.postprocessor.presence_thr
            oh, ow = sample.metainfo.get('ori_shape', input_shape_of(sample))[:2]
            boxes, scores, labels, sources = self.postprocessor(
                region_boxes.cpu().numpy(), presence[i].cpu().numpy(),
                probs[i].cpu().numpy(), (ow, oh))
            device = batch_inputs.device
            pred = InstanceData()
            pred.bboxes = torch.from_numpy(boxes).to(device)
            pred.scores = torch.from_numpy(scores).to(device)
            pred.labels = torch.from_numpy(labels).to(device)
            sample.pred_instances = pred
            regions = InstanceData()
            regions.bboxes = region_boxes
            regions.presence_logits = presence[i]
            regions.pathology_probs = probs[i]
            sample.pred_regions = regions
            image_probs = torch.where(present[:, None], probs[i], torch.zeros_like(probs[i]))
            sample.pred_image_probs = image_probs.amax(dim=0)
            sample.set_metainfo(dict(fused_regions=sources))
        return batch_data_samples
