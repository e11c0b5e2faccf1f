"""Reference predictors that put a detector's CXR8 numbers in context (pure functions).

* "oracle regions": ground-truth region boxes and ground-truth region labels (0/1
  probabilities) through the SAME post-processor as the model
  (:func:`mmadpd.models.postprocessing.functional.fuse_region_boxes`): the ceiling of
  anatomical regions as box proxies. Needs region ground truth, i.e. the phantom set's
  ``cxr8/phantom_truth.json`` sidecar.
* "whole lung": for every target class one box, the union of the model's predicted right-
  and left-lung boxes, scored with the model's image-level probability of the class (max
  over predicted-present regions of the mapped probability): same classifier, coarse box.

All boxes are xyxy in ORIGINAL image pixels. Predictions come out in the per-image dict
form of :func:`mmadpd.evaluation.functional.evaluate_detections`.
"""
from __future__ import annotations

import json
import os.path as osp
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from mmadpd.anatomy import (CLASS_GROUPS, CXR8_BOX_LABEL_ALIASES, CXR8_CLASSES, CXR8_MAPPING,
                            LUNG_REGIONS, REGIONS, mapping_indices)

from .details import make_details
from .functional import DEFAULT_IOU_THRS, evaluate_detections, summarize


# ----------------------------------------------------------------------------- inputs
def load_phantom_truth(path: str) -> Dict:
    """Read and check ``cxr8/phantom_truth.json`` (schema in the data contract)."""
    try:
        with open(path) as f:
            truth = json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f'{path}: cannot read the phantom truth JSON ({exc})') from exc
    for key in ('regions', 'pathologies', 'images'):
        if key not in truth:
            raise ValueError(f'{path}: phantom truth has no {key!r} entry')
    n_reg = len(truth['regions'])
    for name, entry in truth['images'].items():
        for key in ('width', 'height', 'region_boxes', 'region_pathologies'):
            if key not in entry:
                raise ValueError(f'{path}: image {name!r} has no {key!r}')
        if len(entry['region_boxes']) != n_reg or len(entry['region_pathologies']) != n_reg:
            raise ValueError(f'{path}: image {name!r} needs {n_reg} region_boxes and '
                             f'region_pathologies entries')
    return truth


def load_cxr8_coco(path_or_dict, class_names: Optional[Sequence[str]] = None
                   ) -> Tuple[List[Dict], List[Dict], List[str]]:
    """Images, per-image ground truth and class names of a CXR8 COCO JSON.

    Returns:
        ``images`` (sorted by id; dicts with id, file_name, width, height), ``gts`` (same
        order; ``{'bboxes': (N, 4) xyxy original px, 'labels': (N,)}``) and the class names
        (from ``categories`` sorted by id unless ``class_names`` is given; category names
        are matched to it, with the box file's 'Infiltrate' spelling accepted).
    """
    where = path_or_dict if isinstance(path_or_dict, str) else '<CXR8 COCO dict>'
    if isinstance(path_or_dict, str):
        try:
            with open(path_or_dict) as f:
                data = json.load(f)
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f'{where}: cannot read the CXR8 COCO JSON ({exc})') from exc
    else:
        data = path_or_dict
    cats = sorted(data.get('categories', []), key=lambda c: c['id'])
    if class_names is None:
        class_names = [CXR8_BOX_LABEL_ALIASES.get(c['name'], c['name']) for c in cats]
    class_names = list(class_names)
    cat_to_label = {}
    for c in cats:
        name = CXR8_BOX_LABEL_ALIASES.get(c['name'], c['name'])
        if name not in class_names:
            raise ValueError(f'{where}: category {c["name"]!r} is not one of {class_names}')
        cat_to_label[c['id']] = class_names.index(name)
    images = sorted(data.get('images', []), key=lambda im: im['id'])
    index = {im['id']: i for i, im in enumerate(images)}
    boxes: List[List] = [[] for _ in images]
    labels: List[List] = [[] for _ in images]
    for ann in data.get('annotations', []):
        if ann['image_id'] not in index or ann['category_id'] not in cat_to_label:
            raise ValueError(f'{where}: annotation {ann.get("id")} refers to an unknown '
                             f'image or category')
        x, y, w, h = ann['bbox']
        i = index[ann['image_id']]
        boxes[i].append([x, y, x + w, y + h])
        labels[i].append(cat_to_label[ann['category_id']])
    gts = [dict(bboxes=np.asarray(b, np.float64).reshape(-1, 4),
                labels=np.asarray(lab, np.int64)) for b, lab in zip(boxes, labels)]
    return images, gts, class_names


# ------------------------------------------------------------------------ predictors
def oracle_region_predictions(truth: Mapping, image_names: Sequence[str],
                              target_classes: Sequence[str] = CXR8_CLASSES,
                              mapping: Mapping[str, Sequence[str]] = CXR8_MAPPING,
                              fusion: str = 'wbf', prob_thr: float = 0.5,
                              iou_thr: float = 0.03,
                              fuse_fn: Optional[Callable] = None) -> List[Dict]:
    """Predictions of the "oracle regions" reference.

    Args:
        truth: :func:`load_phantom_truth` output.
        image_names: ``Image Index`` names (e.g. ``00000001_000.png``; a path is reduced
            to its base name), one per evaluated image, in evaluation order.
        target_classes, mapping: target classes and target -> training-class mapping.
        fusion, prob_thr, iou_thr: post-processor settings (the model's defaults).
        fuse_fn: the post-processor function; default
            :func:`mmadpd.models.postprocessing.functional.fuse_region_boxes`.

    Returns:
        per image ``{'bboxes', 'scores', 'labels', 'sources'}``. Region probabilities are
        the 0/1 ground-truth labels and a region is present iff its box is not null, so a
        score is the fraction of the mapped training classes that are positive.
    """
    if fuse_fn is None:
        # Imported here: evaluation stays free of model code unless the oracle is asked for.
        from mmadpd.models.postprocessing.functional import fuse_region_boxes as fuse_fn
    source = list(truth['pathologies'])
    target_index = mapping_indices(mapping, source, target_classes)
    col = {name: j for j, name in enumerate(source)}
    out = []
    for name in image_names:
        key = osp.basename(str(name))
        if key not in truth['images']:
            raise ValueError(f'oracle regions: image {key!r} is not in the phantom truth '
                             '(region ground truth exists only for the phantom set)')
        entry = truth['images'][key]
        n_reg = len(entry['region_boxes'])
        boxes = np.zeros((n_reg, 4), np.float64)
        present = np.zeros(n_reg, bool)
        probs = np.zeros((n_reg, len(source)), np.float64)
        for r, (box, positives) in enumerate(zip(entry['region_boxes'],
                                                 entry['region_pathologies'])):
            if box is not None:
                boxes[r], present[r] = box, True
            for p in positives:
                if p not in col:
                    raise ValueError(f'oracle regions: image {key!r} names unknown '
                                     f'pathology {p!r}')
                probs[r, col[p]] = 1.0
        b, s, lab, src = fuse_fn(boxes, present, probs, (entry['width'], entry['height']),
                                 target_index, prob_thr=prob_thr, fusion=fusion,
                                 iou_thr=iou_thr)
        out.append(dict(bboxes=np.asarray(b, np.float64).reshape(-1, 4),
                        scores=np.asarray(s, np.float64).reshape(-1),
                        labels=np.asarray(lab, np.int64).reshape(-1), sources=src))
    return out


def mapped_probs(region_probs: np.ndarray, target_index: Sequence[Sequence[int]]) -> np.ndarray:
    """(R, C_train) probabilities -> (R, T) target-class probabilities (mean over the
    mapped training classes)."""
    region_probs = np.asarray(region_probs, np.float64)
    return np.stack([region_probs[:, list(idx)].mean(axis=1) for idx in target_index], axis=1)


def whole_lung_boxes(region_boxes: np.ndarray, region_present: np.ndarray,
                     region_probs: np.ndarray, target_index: Sequence[Sequence[int]],
                     lung_indices: Sequence[int] = tuple(REGIONS.index(r)
                                                         for r in LUNG_REGIONS)
                     ) -> Dict[str, np.ndarray]:
    """The "whole lung" prediction of one image.

    Args:
        region_boxes: (R, 4) predicted region boxes, xyxy original px.
        region_present: (R,) bool, region predicted present.
        region_probs: (R, C_train) predicted pathology probabilities.
        target_index: per target class the mapped training-class indices.
        lung_indices: rows of the right and left lung.

    Returns:
        ``{'bboxes': (T, 4), 'scores': (T,), 'labels': (T,)}``: for every target class the
        union of the lung boxes (whether or not predicted present: the box is the coarse
        proxy), scored with max over present regions of the mapped probability (0 if no
        region is present).
    """
    boxes = np.asarray(region_boxes, np.float64).reshape(-1, 4)
    present = np.asarray(region_present, bool).reshape(-1)
    lungs = boxes[list(lung_indices)]
    union = np.array([lungs[:, 0].min(), lungs[:, 1].min(), lungs[:, 2].max(),
                      lungs[:, 3].max()])
    probs = mapped_probs(region_probs, target_index)  # (R, T)
    scores = probs[present].max(axis=0) if present.any() else np.zeros(len(target_index))
    n = len(target_index)
    return dict(bboxes=np.repeat(union[None], n, axis=0), scores=scores,
                labels=np.arange(n, dtype=np.int64))


def _field(obj, key):
    value = obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return value


def whole_lung_predictions(samples: Sequence, target_index: Sequence[Sequence[int]],
                           presence_thr: float = 0.5,
                           lung_indices: Sequence[int] = tuple(REGIONS.index(r)
                                                               for r in LUNG_REGIONS)
                           ) -> List[Dict]:
    """"Whole lung" predictions from predicted data samples (``DetDataSample`` or the dicts
    that ``DumpDetResults`` / ``tools/test.py --out`` pickle), in the given order.

    Reads ``pred_regions.bboxes`` (R, 4) original px, ``pred_regions.presence_logits``
    (R,) (present = logit > ``presence_thr``, the post-processor's rule) and
    ``pred_regions.pathology_probs`` (R, C_train).
    """
    out = []
    for k, sample in enumerate(samples):
        regions = _field(sample, 'pred_regions')
        if regions is None:
            raise ValueError(f'whole lung: sample {k} ({_field(sample, "img_path")}) has no '
                             'pred_regions (an ADPD model output is needed)')
        present = np.asarray(_field(regions, 'presence_logits')) > presence_thr
        out.append(whole_lung_boxes(_field(regions, 'bboxes'), present,
                                    _field(regions, 'pathology_probs'), target_index,
                                    lung_indices))
    return out


def model_predictions(samples: Sequence) -> List[Dict]:
    """The model's own ``pred_instances`` of predicted data samples, as per-image dicts."""
    out = []
    for sample in samples:
        pred = _field(sample, 'pred_instances')
        out.append(dict(bboxes=np.asarray(_field(pred, 'bboxes'), np.float64).reshape(-1, 4),
                        scores=np.asarray(_field(pred, 'scores'), np.float64).reshape(-1),
                        labels=np.asarray(_field(pred, 'labels'), np.int64).reshape(-1)))
    return out


# ------------------------------------------------------------------------- evaluation
def evaluate_predictions(preds: Sequence[Mapping], gts: Sequence[Mapping],
                         class_names: Sequence[str],
                         iou_thrs: Sequence[float] = DEFAULT_IOU_THRS,
                         groups: Mapping[str, Sequence[str]] = CLASS_GROUPS,
                         return_details: bool = False):
    """The CXR8 protocol (same code as ``CXR8DetectionMetric``) on in-memory predictions.

    Returns:
        the metric dict (keys as the registered metric without the ``cxr8/`` prefix), and
        with ``return_details`` also the details of :func:`make_details`.
    """
    result = evaluate_detections(preds, gts, len(class_names), iou_thrs)
    metrics = summarize(result, class_names, groups)
    if return_details:
        return metrics, make_details(result, class_names, groups, with_pr=False)
    return metrics
