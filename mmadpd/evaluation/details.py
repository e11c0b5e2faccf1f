"""JSON-ready evaluation details (per-class rows, counts, PR curves, flags) from a result
of :func:`mmadpd.evaluation.functional.evaluate_detections`. Pure python/numpy."""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from .functional.class_groups import group_indices


def _f(x) -> Optional[float]:
    x = float(x)
    return None if np.isnan(x) else x


def make_details(result: Mapping, class_names: Sequence[str],
                 groups: Optional[Mapping[str, Sequence[str]]] = None,
                 with_pr: bool = True) -> Dict:
    """Everything a report needs besides the images.

    Returns:
        dict with ``class_names``, ``iou_thrs``, ``num_images``, ``loc_acc_score_thr``,
        ``classes_without_gt`` (list of names: their AP is 0 and they pull the mean down),
        ``groups`` (name -> class names, only complete groups), ``per_class`` (list of dicts:
        class, num_gt, num_pred, ap (percent per threshold), mean_ap, loc_acc per threshold,
        loc counts tp/fp/fn per threshold and tn) and, with ``with_pr``, ``pr_curves``:
        per class a list over thresholds of ``{'recall': [...], 'precision': [...],
        'scores': [...]}`` (sorted by descending score; raw, not interpolated).
    """
    thrs = [float(t) for t in result['iou_thrs']]
    ap = np.asarray(result['ap']) * 100.0
    loc = result['loc']
    per_class: List[Dict] = []
    for c, name in enumerate(class_names):
        per_class.append(dict(
            **{'class': str(name)},
            num_gt=int(result['num_gt'][c]), num_pred=int(result['num_pred'][c]),
            ap=[float(v) for v in ap[c]], mean_ap=float(ap[c].mean()),
            loc_acc=[_f(v) for v in loc['acc'][c]],
            loc_tp=[int(v) for v in loc['tp'][c]], loc_fp=[float(v) for v in loc['fp'][c]],
            loc_fn=[float(v) for v in loc['fn'][c]],
            loc_tn=int(np.asarray(loc['tn']).reshape(len(class_names), -1)[c, 0])))
    details = dict(
        class_names=[str(c) for c in class_names], iou_thrs=thrs,
        num_images=int(result.get('num_images', 0)),
        loc_acc_score_thr=float(loc['score_thr']),
        classes_without_gt=[str(class_names[c]) for c in range(len(class_names))
                            if not result['has_gt'][c]],
        groups={g: [class_names[i] for i in idx]
                for g, idx in group_indices(class_names, groups or {}).items()},
        per_class=per_class)
    if with_pr:
        details['pr_curves'] = {
            str(name): [dict(recall=np.asarray(cur['recall']).tolist(),
                             precision=np.asarray(cur['precision']).tolist(),
                             scores=np.asarray(cur['scores']).tolist())
                        for cur in result['pr'][c]]
            for c, name in enumerate(class_names)}
    return details
