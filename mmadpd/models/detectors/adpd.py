"""ADPD detector: backbone -> AnatomyDETRHead -> RegionPathologyHead -> WBF post-processing."""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.detectors import BaseDetector
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy

from ...utils.compile import without_compiled_methods
from .graphed_heads import HeadLossGraphs
from ..heads.region_targets import input_shape_of, upload_dicts


def batch_boxes_to_original(boxes: Tensor, samples: Sequence[DetDataSample]) -> Tensor:
    """Normalised cxcywh of the network input (B, R, 4) -> xyxy ORIGINAL pixels (B, R, 4).

    net px = normalised * (w, h) of the padded network input; original = net px /
    scale_factor (w_scale, h_scale) + crop_offset (x, y) if a crop was applied; then clamped
    to ``ori_shape``. Letterbox padding is bottom/right, so it needs no shift. The per-sample
    numbers are gathered into (B, 1, 4) tensors so the whole batch takes a few tensor ops.
    """
    net, scale, offset, upper = [], [], [], []
    for sample in samples:
        h, w = input_shape_of(sample)
        meta = sample.metainfo
        sx, sy = meta['scale_factor'][:2] if 'scale_factor' in meta else (1.0, 1.0)
        ox, oy = (meta['crop_offset'][:2] if meta.get('crop_offset') is not None
                  else (0.0, 0.0))
        oh, ow = meta.get('ori_shape', (h, w))[:2]
        net.append((w, h, w, h))
        scale.append((sx, sy, sx, sy))
        offset.append((ox, oy, ox, oy))
        upper.append((ow, oh, ow, oh))

    def column(values):
        return torch.tensor(values, dtype=torch.float32, device=boxes.device)[:, None]

    # x / 1 and x + 0 are exact, so samples without a scale or crop are unchanged.
    xyxy = bbox_cxcywh_to_xyxy(boxes.float()) * column(net)
    xyxy = xyxy / column(scale) + column(offset)
    return torch.minimum(xyxy.clamp(min=0), column(upper))


def boxes_to_original(boxes: Tensor, sample: DetDataSample) -> Tensor:
    """Normalised cxcywh (R, 4) -> xyxy ORIGINAL pixels (R, 4) of one sample; see
    :func:`batch_boxes_to_original`."""
    return batch_boxes_to_original(boxes[None], [sample])[0]


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
        data_preprocessor: usually :class:`ADPDDataPreprocessor`; when its
            ``channels_last`` is set, the model's weights are converted to channels_last
            too (both must agree for the fast convolution kernels).
        graph_heads: eager training on a GPU replays the heads and the loss arithmetic
            (forward and backward) as CUDA graphs instead of ~500 small kernel launches
            (:mod:`mmadpd.models.detectors.graphed_heads`: what it needs, what falls back
            to eager). Off in the class, on in the configs (``configs/_base_/models/
            adpd.py``); without effect on a CPU and on compiled parts (torch.compile
            fuses the same kernels). Steps of a gradient accumulation after its first
            run eagerly.

    ``predict`` fills every data sample with (CPU tensors: the batch's outputs come back
    from the device in one copy):

    * ``pred_instances``: ``bboxes`` (K, 4) xyxy ORIGINAL px, ``scores`` (K,), ``labels``
      (K,) target-class indices (at most one box per class);
    * ``pred_regions``: ``bboxes`` (N, 4) xyxy ORIGINAL px (clamped), ``presence_logits``
      (N,), ``pathology_probs`` (N, C) sigmoid probabilities, rows in region order;
    * ``pred_image_probs``: (C,) max over predicted-present regions (0 if none);
    * metainfo ``fused_regions``: per predicted box, the region indices fused into it.
    """

    def __init__(self, backbone: dict, anatomy_head: dict, pathology_head: dict,
                 postprocessor: dict, data_preprocessor: Optional[dict] = None,
                 feature_index: int = -1, graph_heads: bool = False,
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
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
        self.graph_heads = graph_heads
        self.train_cfg, self.test_cfg = train_cfg, test_cfg
        self._apply_memory_format()

    def __getstate__(self):
        # copies (EMA, deepcopy) and pickles of a compiled model run eagerly, as torch does
        # for compiled modules (mmadpd.utils.compile); captured CUDA graphs belong to the
        # original's parameters: a copy captures its own
        state = without_compiled_methods(super().__getstate__(), type(self))
        state.pop('_head_graphs', None)
        return state

    def _apply(self, fn, *args, **kwargs):
        # .to() / .cuda() / .half() may move or replace parameters: graphs captured
        # before would read the old ones
        graphs = self.__dict__.get('_head_graphs')
        if graphs is not None:
            graphs.reset()
        return super()._apply(fn, *args, **kwargs)

    def head_graphs(self) -> Optional[HeadLossGraphs]:
        """The CUDA graphs of heads + losses for eager training (``graph_heads``), made
        on first use; None when ``graph_heads`` is off."""
        if not self.graph_heads:
            return None
        graphs = self.__dict__.get('_head_graphs')
        if graphs is None:
            graphs = self.__dict__['_head_graphs'] = HeadLossGraphs(self)
        return graphs

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
        # Targets are built for the whole batch on the host with numpy, and both heads'
        # targets go to the device in ONE asynchronous copy of one pinned buffer. They are
        # built BEFORE the forward pass: with no host-GPU sync in the step, the host then
        # does this work (~1 ms per 128 samples on one CPU core) while the GPU still runs
        # the previous step's backward pass. After the forward the GPU may have caught up
        # with the host (the small kernels of DenseNet's last blocks take about as long to
        # launch as to run), and host time spent there would be GPU idle time.
        targets, cls_targets = upload_dicts(
            [self.anatomy_head.target_arrays(batch_data_samples),
             self.pathology_head.target_arrays(batch_data_samples,
                                               self.anatomy_head.num_regions)],
            batch_inputs.device)
        feats = self.extract_feat(batch_inputs)
        graphs = self.head_graphs()
        if graphs is not None and graphs.applies(feats):
            losses = graphs(feats, targets, cls_targets)
            if losses is not None:
                return losses
        out = self.anatomy_head(feats)
        return self.loss_by_feat(out, self.pathology_head(out['region_feats']), targets,
                                 cls_targets)

    def loss_by_feat(self, out: Dict[str, Tensor], logits: Tensor,
                     targets: Dict[str, Tensor], cls_targets: Dict[str, Optional[Tensor]]
                     ) -> Dict[str, Tensor]:
        """Both heads' loss terms from their outputs (``out`` of the anatomy head, the
        pathology ``logits`` (B, N, C)) and targets (:meth:`AnatomyDETRHead.get_targets`,
        :meth:`RegionPathologyHead.get_targets`). Tensors in, tensors out, the same shapes
        for every batch: ``mmadpd.utils.compile`` compiles it as one more part, so under
        torch.compile the loss arithmetic (~150 small kernels eagerly) is fused too."""
        losses = self.anatomy_head.loss_by_feat(out, targets)
        losses.update(self.pathology_head.loss_by_feat(
            logits, targets['present'], cls_targets['region_labels'],
            cls_targets['image_labels']))
        return losses

    def parse_losses(self, losses: Dict[str, Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        """mmengine's ``parse_losses`` for ADPD's scalar losses: the total is the sum of
        the terms whose name contains ``'loss'`` and ``log_vars`` holds ``loss`` then every
        term, as mmengine's. mmengine takes a ``.mean()`` of each term and adds them one
        by one, a kernel per step of the way in forward and backward; here the scalars
        are summed in one go, and logged as (detached) views of one stacked copy: the
        terms themselves may be outputs of a CUDA graph (the compiled ``loss_by_feat``),
        whose memory the next iteration overwrites, and the logging hooks keep values
        for many iterations. Anything but scalar tensors of one dtype takes mmengine's
        path."""
        names, values = list(losses), list(losses.values())
        if not all(isinstance(v, Tensor) and v.dim() == 0 for v in values) or \
                len({(v.dtype, v.device) for v in values}) > 1:
            return super().parse_losses(losses)
        if not values:
            return 0, OrderedDict(loss=0)
        stacked = torch.stack(values)
        terms = [v for k, v in losses.items() if 'loss' in k]
        # ADPD's terms are all losses: the one stack serves the total and the log
        total = stacked.sum() if len(terms) == len(values) else \
            (torch.stack(terms).sum() if terms else 0)
        logged = stacked.detach().unbind()
        return total, OrderedDict([('loss', total)] + list(zip(names, logged)))

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
        region_boxes = batch_boxes_to_original(boxes, batch_data_samples)
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
