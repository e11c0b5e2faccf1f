"""Write the evaluation report of one val/test run to a folder.

Files (``out_dir`` = ``<work_dir>/report`` for the hook):
* ``metrics.json``  - the run's metric dict, Table-1 numbers, per-class rows, flags;
* ``table.md``      - Table-1 layout, per-class table, classes without GT;
* ``pr_curves.json`` and ``pr_curves/<class>.png`` - PR curves at IoU 0.1/0.3/0.5;
* ``overlays/<image>.png`` - N images: predictions solid, GT dashed, class colours.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

from mmadpd.evaluation.functional import class_key
from mmadpd.evaluation.tables import format_class_table, format_table1
from mmadpd.visualization import draw_detections, plot_pr_curves

TABLE1_KEYS = ('mAP', 'AP@0.1', 'AP@0.3', 'AP@0.5', 'loc_acc@0.1', 'loc_acc@0.3',
               'loc_acc@0.5')


def _clean(obj):
    """JSON-safe copy: numpy -> python, NaN/inf -> None."""
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _lookup(metrics: Mapping, key: str, prefix: str):
    for k in (f'{prefix}/{key}', key):
        if k in metrics:
            return float(metrics[k])
    return None


def select_overlay_images(images: Sequence[Mapping], num: int) -> List[Mapping]:
    """The first ``num`` images (in image-id order) that have ground truth or predictions;
    images with ground truth come first (they show hits and misses)."""
    with_gt = [r for r in images if len(r['gt_labels'])]
    others = [r for r in images if not len(r['gt_labels']) and len(r['pred_labels'])]
    return (with_gt + others)[:max(int(num), 0)]


def _read_grey(path: str) -> Optional[np.ndarray]:
    import cv2
    if not path or not osp.isfile(path):
        return None
    return cv2.imread(path, cv2.IMREAD_GRAYSCALE)


def write_report(out_dir: str, details: Mapping, metrics: Optional[Mapping] = None,
                 method_name: str = 'model', mode: str = 'test',
                 num_overlays: int = 8, pr_iou_thrs: Sequence[float] = (0.1, 0.3, 0.5),
                 overlay_min_side: int = 512, prefix: str = 'cxr8',
                 extra: Optional[Mapping] = None) -> Dict[str, object]:
    """Write all report files; returns ``{'metrics_json', 'table_md', 'pr_curves',
    'overlays', 'skipped_overlays'}`` (paths).

    Args:
        out_dir: target folder (created).
        details: ``CXR8DetectionMetric.last_details`` (per-class rows, PR curves, images).
        metrics: the run's metric dict (e.g. ``cxr8/mAP``); default ``details['metrics']``.
        method_name: row label of the Table-1 table.
        mode: ``'val'`` or ``'test'`` (stored in the JSON).
        num_overlays: number of overlay images.
        pr_iou_thrs: IoU thresholds of the PR-curve figures (must be evaluated ones).
        overlay_min_side: overlays are enlarged to at least this short side.
        prefix: metric prefix.
        extra: more JSON fields (e.g. epoch, iter).
    """
    os.makedirs(out_dir, exist_ok=True)
    metrics = dict(metrics if metrics is not None else details.get('metrics', {}))
    class_names = list(details['class_names'])
    thr_list = [float(t) for t in details['iou_thrs']]
    table1 = format_table1(metrics, method_name, prefix=prefix)
    class_table = format_class_table(details)

    # PR curves
    pr_files, pr_json = [], {}
    pr_idx = [i for i, t in enumerate(thr_list)
              if any(abs(t - p) < 1e-9 for p in pr_iou_thrs)]
    curves_all = details.get('pr_curves') or {}
    for c, name in enumerate(class_names):
        curves = curves_all.get(name)
        if curves is None:
            continue
        row = details['per_class'][c]
        pr_json[name] = {f'{thr_list[i]:g}': curves[i] for i in pr_idx}
        pr_files.append(plot_pr_curves(
            name, [curves[i] for i in pr_idx], [thr_list[i] for i in pr_idx],
            [row['ap'][i] for i in pr_idx],
            osp.join(out_dir, 'pr_curves', f'{class_key(name)}.png')))
    pr_json_file = osp.join(out_dir, 'pr_curves.json')
    with open(pr_json_file, 'w') as f:
        json.dump(_clean(pr_json), f)

    # overlay gallery
    overlay_files, skipped = [], []
    for r in select_overlay_images(details.get('images', []), num_overlays):
        img = _read_grey(r.get('img_path'))
        if img is None:
            skipped.append(str(r.get('img_path')))
            continue
        overlay = draw_detections(
            img, r['pred_bboxes'], r['pred_labels'], r['pred_scores'], class_names,
            gt_boxes=r['gt_bboxes'], gt_labels=r['gt_labels'],
            title=osp.basename(str(r.get('img_path'))), min_side=overlay_min_side)
        stem = osp.splitext(osp.basename(str(r.get('img_path'))))[0] or str(r.get('img_id'))
        out_file = osp.join(out_dir, 'overlays', f'{stem}.png')
        os.makedirs(osp.dirname(out_file), exist_ok=True)
        import cv2
        cv2.imwrite(out_file, overlay[..., ::-1])
        overlay_files.append(out_file)

    files = dict(metrics_json=osp.join(out_dir, 'metrics.json'),
                 table_md=osp.join(out_dir, 'table.md'), pr_curves_json=pr_json_file,
                 pr_curves=pr_files, overlays=overlay_files, skipped_overlays=skipped)

    no_gt = details.get('classes_without_gt', [])
    md = [f'# {mode} report: {method_name}', '',
          f'{details.get("num_images", 0)} images; AP in percent (IoU > t, 101-point, '
          f'top-1 box per class and image); loc-acc as a fraction (score > '
          f'{details.get("loc_acc_score_thr")}).', '', table1, '', '## Per class', '',
          class_table, '']
    if no_gt:
        md += [f'**Classes without ground truth** (AP counted as 0 in every mean): '
               f'{", ".join(no_gt)}', '']
    groups = details.get('groups') or {}
    if groups:
        md += ['## Class groups', '', '| group | mAP | AP@0.1 | AP@0.3 | AP@0.5 |',
               '|---|---|---|---|---|']
        for g in groups:
            vals = [_lookup(metrics, f'{g}/{k}', prefix)
                    for k in ('mAP', 'AP@0.1', 'AP@0.3', 'AP@0.5')]
            md.append(f'| {g} | ' + ' | '.join('n/a' if v is None else f'{v:.2f}'
                                                for v in vals) + ' |')
        md.append('')
    with open(files['table_md'], 'w') as f:
        f.write('\n'.join(md))

    payload = dict(
        method=method_name, mode=mode, **dict(extra or {}),
        metrics=metrics,
        table1={k: _lookup(metrics, k, prefix) for k in TABLE1_KEYS},
        num_images=details.get('num_images'), iou_thrs=thr_list,
        loc_acc_score_thr=details.get('loc_acc_score_thr'),
        classes_without_gt=no_gt, groups=groups, per_class=details['per_class'],
        files={k: v for k, v in files.items() if k != 'metrics_json'})
    with open(files['metrics_json'], 'w') as f:
        json.dump(_clean(payload), f, indent=2)
    files['table1'] = table1
    return files
