"""``ADPDLocalVisualizer``: mmdet's ``DetLocalVisualizer`` for ADPD data samples.

One overlay per image instead of mmdet's ground-truth | prediction side-by-side pair:
faint outlines of the predicted-present anatomical regions, the regions each pathology box
was fused from (dotted, in the box's class colour), the pathology boxes (solid, class
colour, name and score) and the ground truth (dashed). Whatever it draws goes to every
configured vis backend (``add_image``), so ``tools/test.py --show-dir``, the report hook
and ``ADPDInferencer`` reach TensorBoard / W&B / MLflow like any mmdet visualizer.

Coordinates: every box field of the data sample is xyxy in ORIGINAL image pixels (the
``pred_instances`` / ``pred_regions`` / ``gt_instances`` convention of ADPD); ``image`` is
the original image.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from mmdet.registry import VISUALIZERS
from mmdet.visualization import DetLocalVisualizer

from ..anatomy import CXR8_CLASSES
from .detections import draw_detections


def _numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if hasattr(x, 'detach') else np.asarray(x)


@VISUALIZERS.register_module()
class ADPDLocalVisualizer(DetLocalVisualizer):
    """Draw ADPD predictions and send them to the vis backends.

    Classes and colours come from ``dataset_meta`` (``classes``, ``palette`` as RGB ints),
    set by mmengine's val/test loops and by mmdet's inferencers from the checkpoint's
    ``meta.dataset_meta``; without it the 8 CXR8 classes in the default colours.

    Args:
        name, image, vis_backends, save_dir: as mmengine's ``Visualizer``.
        presence_thr: a region is outlined when its presence logit exceeds this (the
            post-processor's default, 0.5).
        min_side: images with a shorter short side are drawn enlarged (legible labels).
        max_side: images with a longer long side are drawn downscaled, boxes alike.
        **kwargs: passed to ``DetLocalVisualizer`` (unused by the drawing here).
    """

    def __init__(self, name: str = 'visualizer', image: Optional[np.ndarray] = None,
                 vis_backends: Optional[list] = None, save_dir: Optional[str] = None,
                 presence_thr: float = 0.5, min_side: int = 512, max_side: int = 1024,
                 **kwargs) -> None:
        super().__init__(name=name, image=image, vis_backends=vis_backends,
                         save_dir=save_dir, **kwargs)
        self.presence_thr = float(presence_thr)
        self.min_side = int(min_side)
        self.max_side = int(max_side)

    @property
    def class_names(self) -> list:
        return list((self.dataset_meta or {}).get('classes') or CXR8_CLASSES)

    def draw_overlay(self, image: np.ndarray, boxes=None, labels=None, scores=None,
                     gt_boxes=None, gt_labels=None, region_boxes=None,
                     fused_regions: Optional[Sequence[Sequence[int]]] = None,
                     title: Optional[str] = None,
                     min_side: Optional[int] = None) -> np.ndarray:
        """The overlay as an (H', W', 3) uint8 RGB array.

        Args:
            image: (H, W) grey or (H, W, 3) image, original pixels.
            boxes, labels, scores: (K, 4) xyxy / (K,) / (K,) pathology predictions.
            gt_boxes, gt_labels: (N, 4) / (N,) ground truth.
            region_boxes: (R, 4) region boxes; NaN rows (absent regions) are not drawn.
            fused_regions: per predicted box, indices into ``region_boxes``.
            title: text at the top-left.
            min_side: overrides the constructor's ``min_side``.
        """
        import cv2

        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                               interpolation=cv2.INTER_AREA)

        def scaled(b):
            return None if b is None else np.asarray(b, np.float64).reshape(-1, 4) * scale

        palette = (self.dataset_meta or {}).get('palette')
        drawn = draw_detections(
            image, scaled(boxes), labels, scores, self.class_names,
            gt_boxes=scaled(gt_boxes), gt_labels=gt_labels, region_boxes=scaled(region_boxes),
            title=title, min_side=min(min_side or self.min_side, self.max_side), colors=palette,
            fused_regions=fused_regions)
        return drawn

    def add_datasample(self, name: str, image: np.ndarray, data_sample=None,
                       draw_gt: bool = True, draw_pred: bool = True, show: bool = False,
                       wait_time: float = 0, out_file: Optional[str] = None,
                       pred_score_thr: float = 0.3, step: int = 0) -> None:
        """mmdet's interface: draw ``data_sample`` on ``image``; show it, write it to
        ``out_file``, or else add it to every vis backend under ``name`` at ``step``."""
        fields = {}
        if data_sample is not None:
            data_sample = data_sample.cpu()
            if draw_pred and 'pred_instances' in data_sample:
                fields.update(self._predictions(data_sample, pred_score_thr))
            if draw_gt and 'gt_instances' in data_sample:
                gt = data_sample.gt_instances
                fields.update(gt_boxes=_numpy(gt.bboxes), gt_labels=_numpy(gt.labels))
        drawn = self.draw_overlay(np.asarray(image), **fields)
        self.set_image(drawn)  # mmdet's convention: get_image() returns the last drawing
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            import mmcv
            mmcv.imwrite(drawn[..., ::-1], out_file)
        else:
            self.add_image(name, drawn, step)

    def _predictions(self, data_sample, score_thr: float) -> dict:
        """Pathology boxes above ``score_thr``, their fused regions, present regions."""
        inst = data_sample.pred_instances
        scores = _numpy(inst.scores).reshape(-1)
        keep = np.flatnonzero(scores > score_thr)
        fused = data_sample.metainfo.get('fused_regions') or [[] for _ in scores]
        out = dict(boxes=_numpy(inst.bboxes).reshape(-1, 4)[keep],
                   labels=_numpy(inst.labels).reshape(-1)[keep], scores=scores[keep],
                   fused_regions=[list(fused[k]) for k in keep])
        if 'pred_regions' in data_sample:
            regions = data_sample.pred_regions
            boxes = _numpy(regions.bboxes).astype(np.float64).reshape(-1, 4)
            if 'presence_logits' in regions:
                absent = _numpy(regions.presence_logits).reshape(-1) <= self.presence_thr
                boxes[absent] = np.nan
            out['region_boxes'] = boxes
        return out
