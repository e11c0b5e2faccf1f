"""``CAMDetector``: weakly supervised pathology boxes from class activation maps.

The paper's CAM-family baselines (Table 1) as one registered detector trained on image
labels only: a backbone (DenseNet121 by default, any mmdet backbone by config), a
:class:`~mmadpd.models.heads.CAMClassifierHead` whose pooling is a config value (GAP:
CheXNet; LSE: the CXR8 paper's model; max-min: WELDON), and at test time one box per class
from the class heatmap (:func:`~mmadpd.models.postprocessing.cam_boxes.cam_boxes`), scored
with the image-level probability. ``cam_method='gradcam'`` takes the heatmaps by Grad-CAM
instead (Selvaraju et al. ICCV 2017), e.g. from the GAP model's checkpoint.
"""
from __future__ import annotations

from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor

from mmdet.models.detectors import BaseDetector
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample

from ...box_ops import input_pixels_to_original
from ..postprocessing.cam_boxes import cam_boxes

CAM_METHODS = ('cam', 'gradcam')


@MODELS.register_module()
class CAMDetector(BaseDetector):
    """Backbone -> class maps + pooled logits (train: sigmoid loss on image labels) ->
    per-class heatmap boxes (test).

    Args:
        backbone: config of a backbone returning a map or a tuple of maps; the one at
            ``feature_index`` (C_in = ``head.in_channels``) is used.
        head: :class:`CAMClassifierHead` config (its ``pooling`` picks the method).
        cam_method: ``'cam'`` (the head's class maps) or ``'gradcam'`` (the gradient of
            each class logit w.r.t. the output of ``gradcam_layer``, averaged over
            positions, weights that layer's channels; ReLU of the sum).
        gradcam_layer: module name (``named_modules``) of the Grad-CAM target layer. The
            default, DenseNet's ``norm5`` (before the backbone's final ReLU), is where
            Grad-CAM is usually taken on DenseNet; there the final ReLU's mask enters the
            gradient, so its maps differ from the CAMs.
        box_threshold: :func:`~mmadpd.models.postprocessing.cam_boxes.cam_box` threshold
            (relative to the map's range), chosen on the val half.
        data_preprocessor: usually ``ADPDDataPreprocessor``.

    ``predict`` fills every data sample with ``pred_instances`` (``bboxes`` (K, 4) xyxy
    ORIGINAL px, one per class; ``scores`` (K,) image-level probabilities; ``labels``
    (K,)) and ``pred_image_probs`` (K,). Heatmaps are upsampled bilinearly to the network
    input and cut to the unpadded image before the box is taken.
    """

    def __init__(self, backbone: dict, head: dict, cam_method: str = 'cam',
                 gradcam_layer: str = 'backbone.features.norm5', box_threshold: float = 0.5,
                 feature_index: int = -1, data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if cam_method not in CAM_METHODS:
            raise ValueError(f'CAMDetector: cam_method must be one of {CAM_METHODS}, '
                             f'got {cam_method!r}')
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.cam_method = cam_method
        self.gradcam_layer = gradcam_layer
        self.box_threshold = box_threshold
        self.feature_index = feature_index
        if cam_method == 'gradcam' and gradcam_layer not in dict(self.named_modules()):
            raise ValueError(f'CAMDetector: gradcam_layer {gradcam_layer!r} is not a module '
                             'of the model')

    def extract_feat(self, batch_inputs: Tensor) -> Tensor:
        """(B, 3, H, W) -> the backbone map (B, C_in, h, w)."""
        feats = self.backbone(batch_inputs)
        return feats[self.feature_index] if isinstance(feats, (tuple, list)) else feats

    def _forward(self, batch_inputs: Tensor, batch_data_samples=None):
        """class maps (B, K, h, w), logits (B, K)."""
        return self.head(self.extract_feat(batch_inputs))

    def loss(self, batch_inputs: Tensor, batch_data_samples: List[DetDataSample]
             ) -> Dict[str, Tensor]:
        labels = torch.stack([s.gt_image_labels for s in batch_data_samples])
        _, logits = self._forward(batch_inputs)
        return self.head.loss(logits, labels.to(logits.device))

    def _gradcam(self, batch_inputs: Tensor):
        """Grad-CAM maps (B, K, h', w') at ``gradcam_layer`` and the logits (B, K)."""
        captured = []
        layer = dict(self.named_modules())[self.gradcam_layer]
        handle = layer.register_forward_hook(lambda m, i, out: captured.append(out))
        try:
            with torch.enable_grad():
                _, logits = self._forward(batch_inputs)
                act = captured[0]
                maps = []
                for k in range(logits.shape[1]):
                    # samples are independent in eval mode: the gradient of the sum is
                    # each sample's own gradient
                    grad, = torch.autograd.grad(logits[:, k].sum(), act, retain_graph=True)
                    weights = grad.mean(dim=(2, 3), keepdim=True)
                    maps.append(F.relu((weights * act).sum(1)))
        finally:
            handle.remove()
        return torch.stack(maps, 1).detach(), logits.detach()

    def predict(self, batch_inputs: Tensor, batch_data_samples: List[DetDataSample],
                rescale: bool = True) -> List[DetDataSample]:
        """See the class docstring. Boxes are always in ORIGINAL pixels."""
        if self.cam_method == 'gradcam':
            maps, logits = self._gradcam(batch_inputs)
        else:
            with torch.no_grad():
                maps, logits = self._forward(batch_inputs)
        maps = F.interpolate(maps.float(), size=batch_inputs.shape[-2:], mode='bilinear',
                             align_corners=False).cpu()
        probs = logits.float().sigmoid().cpu()
        for i, sample in enumerate(batch_data_samples):
            h, w = sample.metainfo.get('img_shape', maps.shape[-2:])[:2]
            boxes, scores, labels = cam_boxes(maps[i, :, :h, :w].numpy(), probs[i].numpy(),
                                              self.box_threshold)
            pred = InstanceData()
            pred.bboxes = input_pixels_to_original(torch.from_numpy(boxes)[None], [sample])[0]
            pred.scores = torch.from_numpy(scores)
            pred.labels = torch.from_numpy(labels)
            sample.pred_instances = pred
            sample.pred_image_probs = probs[i].clone()
        return batch_data_samples
