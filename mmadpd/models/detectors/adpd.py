"""ADPD detector: backbone -> AnatomyDETRHead -> RegionPathologyHead -> WBF post-processing."""
from __future__ import annotations

import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.detectors import BaseDetector
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import DetDataSample

from ...box_ops import boxes_to_original, input_shape_of
from ..layers.box_pooling import box_average_pool
from ..target_upload import upload_targets

REGION_FEATURES = ('decoder', 'box_pooled')


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
        feature_index: which backbone map the heads read.
        region_features: what the pathology classifier reads per region:
            ``'decoder'`` (the paper) the region query's decoder output (d);
            ``'box_pooled'`` (our MIL variant) the backbone map averaged over the
            region's predicted box, boxes detached
            (:func:`~mmadpd.models.layers.box_pooling.box_average_pool`, C_in), so a
            region's score can only come from what lies in the region.
        data_preprocessor: usually :class:`ADPDDataPreprocessor`; when its
            ``channels_last`` is set, the model's weights are converted to channels_last
            too (both must agree for the fast convolution kernels).
        graph_heads: deprecated (one release): ``graph_heads=True`` builds
            :class:`~mmadpd.models.detectors.fast_adpd.FastADPD`, the fast config's
            ``type``.

    ``predict`` fills every data sample with (CPU tensors: the batch's outputs come back
    from the device in one copy):

    * ``pred_instances``: ``bboxes`` (K, 4) xyxy ORIGINAL px, ``scores`` (K,), ``labels``
      (K,) target-class indices (at most one box per class);
    * ``pred_regions``: ``bboxes`` (N, 4) xyxy ORIGINAL px (clamped), ``presence_logits``
      (N,), ``pathology_probs`` (N, C) sigmoid probabilities, rows in region order;
    * ``pred_image_probs``: (C,) max over predicted-present regions (0 if none);
    * metainfo ``fused_regions``: per predicted box, the region indices fused into it.
    """

    def __new__(cls, *args, graph_heads: bool = False, **kwargs):
        # the deprecated ``ADPD(graph_heads=True)`` keeps working: it is the fast layer
        if graph_heads and cls is ADPD:
            from .fast_adpd import FastADPD
            warnings.warn("ADPD(graph_heads=True) is deprecated: use type='FastADPD'",
                          DeprecationWarning, stacklevel=2)
            cls = FastADPD
        return super().__new__(cls)

    def __init__(self, backbone: dict, anatomy_head: dict, pathology_head: dict,
                 postprocessor: dict, data_preprocessor: Optional[dict] = None,
                 feature_index: int = -1, region_features: str = 'decoder',
                 graph_heads: bool = False, train_cfg: Optional[dict] = None,
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
        if region_features not in REGION_FEATURES:
            raise ValueError(f'ADPD: region_features must be one of {REGION_FEATURES}, '
                             f'got {region_features!r}')
        self.region_features = region_features
        self.train_cfg, self.test_cfg = train_cfg, test_cfg
        self._apply_memory_format()

    def _apply_memory_format(self) -> None:
        # Conv weights follow the input's memory format; a mismatch makes cuDNN convert
        # at every layer. Later copies (checkpoint loading, .to(device)) keep the format.
        if getattr(self.data_preprocessor, 'channels_last', False):
            self.to(memory_format=torch.channels_last)

    def init_weights(self) -> None:
        super().init_weights()
        self._apply_memory_format()

    def extract_feat(self, batch_inputs: Tensor) -> Tensor:
        """(B, 3, H, W) -> the backbone map (B, C_in, h, w)."""
        feats = self.backbone(batch_inputs)
        return feats[self.feature_index] if isinstance(feats, (tuple, list)) else feats

    def pathology_inputs(self, feats: Tensor, out: Dict[str, Tensor]) -> Tensor:
        """The pathology head's input (B, N, d or C_in) from the backbone map ``feats``
        and the anatomy head's outputs ``out`` (see ``region_features``)."""
        if self.region_features == 'decoder':
            return out['region_feats']
        # detached: image labels must not move the anatomy boxes
        return box_average_pool(feats, out['boxes'].detach())

    def _heads(self, batch_inputs: Tensor) -> Tuple[Dict[str, Tensor], Tensor]:
        feats = self.extract_feat(batch_inputs)
        out = self.anatomy_head(feats)
        return out, self.pathology_head(self.pathology_inputs(feats, out))

    def _forward(self, batch_inputs: Tensor,
                 batch_data_samples: Optional[List[DetDataSample]] = None
                 ) -> Tuple[Tensor, Tensor, Tensor]:
        """Raw outputs: presence_logits (B, N), boxes (B, N, 4) normalised cxcywh,
        pathology_logits (B, N, C)."""
        out, logits = self._heads(batch_inputs)
        return out['presence_logits'], out['boxes'], logits

    def get_targets(self, batch_data_samples: Sequence[DetDataSample], device
                    ) -> Tuple[Dict[str, Tensor], Dict[str, Optional[Tensor]]]:
        """Both heads' targets (:meth:`AnatomyDETRHead.get_targets`,
        :meth:`RegionPathologyHead.get_targets`), built on the host and moved to
        ``device`` together (:func:`~mmadpd.models.target_upload.upload_targets`)."""
        return upload_targets(
            [self.anatomy_head.get_targets(batch_data_samples),
             self.pathology_head.get_targets(batch_data_samples,
                                             self.anatomy_head.num_regions)], device)

    def loss(self, batch_inputs: Tensor, batch_data_samples: List[DetDataSample]
             ) -> Dict[str, Tensor]:
        """Targets -> heads -> loss terms (``loss_presence``, ``loss_bbox``, ``loss_giou``,
        ``loss_pathology`` and/or ``loss_mil``)."""
        # targets first: the host builds them while the device still runs the last step
        targets, cls_targets = self.get_targets(batch_data_samples, batch_inputs.device)
        out, logits = self._heads(batch_inputs)
        return self.loss_by_feat(out, logits, targets, cls_targets)

    def loss_by_feat(self, out: Dict[str, Tensor], logits: Tensor,
                     targets: Dict[str, Tensor], cls_targets: Dict[str, Optional[Tensor]]
                     ) -> Dict[str, Tensor]:
        """Both heads' loss terms from their outputs (``out`` of the anatomy head, the
        pathology ``logits`` (B, N, C)) and targets (:meth:`get_targets`). Tensors in,
        tensors out, the same shapes for every batch."""
        losses = self.anatomy_head.loss_by_feat(out, targets)
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
        return self.predict_by_feat(out['boxes'], out['presence_logits'],
                                    logits.float().sigmoid(), batch_data_samples)

    @torch.no_grad()
    def predict_by_feat(self, boxes: Tensor, presence_logits: Tensor, pathology_probs: Tensor,
                        batch_data_samples: List[DetDataSample]) -> List[DetDataSample]:
        """Head outputs -> predictions (also the ONNX Runtime backend's way back in):
        boxes (B, R, 4) normalised cxcywh of the network input, presence_logits (B, R),
        pathology_probs (B, R, C) sigmoid probabilities."""
        num_b, num_r, num_c = pathology_probs.shape
        # ONE device->host copy of everything the post-processing needs.
        host = torch.cat([boxes.float().reshape(num_b, -1),
                          presence_logits.float(),
                          pathology_probs.float().reshape(num_b, -1)], 1).cpu()
        boxes, presence, probs = host.split([num_r * 4, num_r, num_r * num_c], 1)
        boxes = boxes.reshape(num_b, num_r, 4)
        probs = probs.reshape(num_b, num_r, num_c)
        region_boxes = boxes_to_original(boxes, batch_data_samples)
        present = presence > self.postprocessor.presence_thr
        image_probs = torch.where(present[..., None], probs, torch.zeros_like(probs))
        image_probs = image_probs.amax(dim=1)
        sizes = [sample.metainfo.get('ori_shape', input_shape_of(sample))[1::-1]
                 for sample in batch_data_samples]  # (w, h) per image
        fused_all = self.postprocessor.process_batch(region_boxes.numpy(), presence.numpy(),
                                                     probs.numpy(), np.asarray(sizes))
        for i, sample in enumerate(batch_data_samples):
            fused, scores, labels, sources = fused_all[i]
            pred = InstanceData()
            pred.bboxes = torch.from_numpy(fused)
            pred.scores = torch.from_numpy(scores)
            pred.labels = torch.from_numpy(labels)
            sample.pred_instances = pred
            regions = InstanceData()
            # clones: a view would keep (and pickle) the whole batch's storage
            regions.bboxes = region_boxes[i].clone()
            regions.presence_logits = presence[i].clone()
            regions.pathology_probs = probs[i].clone()
            sample.pred_regions = regions
            sample.pred_image_probs = image_probs[i].clone()
            sample.set_metainfo(dict(fused_regions=sources))
        return batch_data_samples
