"""Write the evaluation report of one val/test run to a folder.

Files (``out_dir`` = ``<work_dir>/report`` for the hook):
* ``metrics.json``  - the run's metric dict, Table-1 numbers, per-class rows, flags;
* ``table.md``      - Table-1 layout, per-class table, classes without GT;
* ``pr_curves.json`` and ``pr_curves/<class>.png`` - PR curves at IoU 0.1/0.3/0.5;
* ``overlays/<image>.png`` - N images: predictions solid, GT dashed, class colours.

The overlays are drawn by ``ADPDLocalVisualizer``; with a ``visualizer`` the figures and the
Table-1 numbers also go to its vis backends (``add_image`` / ``add_scalars``: TensorBoard,
W&B, MLflow, ...), see :func:`publish_report`.
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
from mmadpd.visualization import ADPDLocalVisualizer, plot_pr_curves

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


_DRAWER: Optional[ADPDLocalVisualizer] = None


def write_report(out_dir: str, details: Mapping, metrics: Optional[Mapping] = None,
                 method_name: str = 'model', mode: str = 'test',
                 num_overlays: int = 8, pr_iou_thrs: Sequence[float] = (0.1, 0.3, 0.5),
                 overlay_min_side: int = 512, prefix: str = 'cxr8',
                 extra: Optional[Mapping] = None, visualizer=None, step: int = 0,
                 palette: Optional[Sequence] = None) -> Dict[str, object]:
    """Write all report files; returns ``{'metrics_json', 'table_md', 'pr_curves_json',
    'pr_curves', 'overlays', 'skipped_overlays', 'table1'}`` (paths; ``table1`` the text).

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
        visualizer: an mmengine ``Visualizer`` (the runner's): the figures and Table-1
            numbers are published to its backends at ``step``; an ``ADPDLocalVisualizer``
            also draws the overlays. None: files only.
        step: the backends' step (the training iteration).
        palette: class colours (RGB ints) when no ``ADPDLocalVisualizer`` is given.
    """
    os.makedirs(out_dir, exist_ok=True)
    metrics = dict(metrics if metrics is not None else details.get('metrics', {}))
    drawer = visualizer if isinstance(visualizer, ADPDLocalVisualizer) \
        else report_drawer(details['class_names'], palette)
    pr_files, pr_json_file = write_pr_curves(out_dir, details, pr_iou_thrs)
    overlay_files, skipped = write_overlays(out_dir, details, num_overlays, drawer,
                                            overlay_min_side)
    files = dict(metrics_json=osp.join(out_dir, 'metrics.json'),
                 table_md=osp.join(out_dir, 'table.md'), pr_curves_json=pr_json_file,
                 pr_curves=pr_files, overlays=overlay_files, skipped_overlays=skipped)
    table1 = write_table_md(files['table_md'], details, metrics, method_name, mode, prefix)
    write_metrics_json(files, details, metrics, method_name, mode, prefix, extra)
    files['table1'] = table1
    if visualizer is not None:
        publish_report(visualizer, files, metrics, mode, prefix, step)
    return files


def report_drawer(class_names: Sequence[str], palette: Optional[Sequence] = None
                  ) -> ADPDLocalVisualizer:
    """A backend-less ``ADPDLocalVisualizer`` for report overlays, one per process,
    constructed directly: ``get_instance`` would make it mmengine's current visualizer."""
    global _DRAWER
    if _DRAWER is None:
        _DRAWER = ADPDLocalVisualizer(name='adpd_report_drawer')
    drawer = _DRAWER
    drawer.dataset_meta = dict(classes=tuple(class_names),
                               **({'palette': list(palette)} if palette else {}))
    return drawer


def write_pr_curves(out_dir: str, details: Mapping, pr_iou_thrs: Sequence[float]):
    """``pr_curves/<class>.png`` per class with curves and ``pr_curves.json``; returns
    (PNG paths, JSON path)."""
    class_names = list(details['class_names'])
    thr_list = [float(t) for t in details['iou_thrs']]
    pr_idx = [i for i, t in enumerate(thr_list)
              if any(abs(t - p) < 1e-9 for p in pr_iou_thrs)]
    curves_all = details.get('pr_curves') or {}
    pr_files, pr_json = [], {}
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
    return pr_files, pr_json_file


def write_overlays(out_dir: str, details: Mapping, num_overlays: int,
                   drawer: ADPDLocalVisualizer, min_side: int):
    """``overlays/<image>.png`` for :func:`select_overlay_images`; returns (written
    paths, image paths that could not be read)."""
    import cv2

    overlay_files, skipped = [], []
    for r in select_overlay_images(details.get('images', []), num_overlays):
        img = _read_grey(r.get('img_path'))
        if img is None:
            skipped.append(str(r.get('img_path')))
            continue
        overlay = drawer.draw_overlay(
            img, r['pred_bboxes'], r['pred_labels'], r['pred_scores'],
            gt_boxes=r['gt_bboxes'], gt_labels=r['gt_labels'],
            title=osp.basename(str(r.get('img_path'))), min_side=min_side)
        stem = osp.splitext(osp.basename(str(r.get('img_path'))))[0] or str(r.get('img_id'))
        out_file = osp.join(out_dir, 'overlays', f'{stem}.png')
        os.makedirs(osp.dirname(out_file), exist_ok=True)
        cv2.imwrite(out_file, overlay[..., ::-1])
        overlay_files.append(out_file)
    return overlay_files, skipped


def write_table_md(path: str, details: Mapping, metrics: Mapping, method_name: str,
                   mode: str, prefix: str) -> str:
    """``table.md``: Table-1 layout, per-class table, classes without GT, class groups;
    returns the Table-1 text."""
    table1 = format_table1(metrics, method_name, prefix=prefix)
    no_gt = details.get('classes_without_gt', [])
    md = [f'# {mode} report: {method_name}', '',
          f'{details.get("num_images", 0)} images; AP in percent (IoU > t, 101-point, '
          f'top-1 box per class and image); loc-acc as a fraction (score > '
          f'{details.get("loc_acc_score_thr")}).', '', table1, '', '## Per class', '',
          format_class_table(details), '']
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
    with open(path, 'w') as f:
        f.write('\n'.join(md))
    return table1


def write_metrics_json(files: Mapping, details: Mapping, metrics: Mapping,
                       method_name: str, mode: str, prefix: str,
                       extra: Optional[Mapping]) -> None:
    """``metrics.json``: the metric dict, Table-1 numbers, per-class rows, file list."""
    payload = dict(
        method=method_name, mode=mode, **dict(extra or {}),
        metrics=metrics, table1=table1_numbers(metrics, prefix),
        num_images=details.get('num_images'),
        iou_thrs=[float(t) for t in details['iou_thrs']],
        loc_acc_score_thr=details.get('loc_acc_score_thr'),
        classes_without_gt=details.get('classes_without_gt', []),
        groups=details.get('groups') or {}, per_class=details['per_class'],
        files={k: v for k, v in files.items() if k != 'metrics_json'})
    with open(files['metrics_json'], 'w') as f:
        json.dump(_clean(payload), f, indent=2)


def table1_numbers(metrics: Mapping, prefix: str) -> Dict[str, Optional[float]]:
    """The Table-1 columns (``TABLE1_KEYS``) of a metric dict; None where missing."""
    return {k: _lookup(metrics, k, prefix) for k in TABLE1_KEYS}


def publish_report(visualizer, files: Mapping, metrics: Mapping, mode: str, prefix: str,
                   step: int) -> None:
    """Send a written report to every vis backend of ``visualizer``: the Table-1 numbers
    as scalars ``<prefix>_<mode>/<column>`` (e.g. ``cxr8_test/mAP``; mmengine's logger
    already sends validation metrics as ``cxr8/...``, never test ones), each PR-curve and
    overlay PNG as an image ``<mode>_pr_curve_<class>`` / ``<mode>_overlay_<image>``.
    The PNGs are read back from disk, so a report written by another process publishes
    the same figures."""
    import cv2

    scalars = {f'{prefix or "report"}_{mode}/{k}': v
               for k, v in table1_numbers(metrics, prefix).items() if v is not None}
    if scalars:
        visualizer.add_scalars(scalars, step=step)
    for kind, paths in (('pr_curve', files.get('pr_curves', [])),
                        ('overlay', files.get('overlays', []))):
        for path in paths:
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is not None:
                name = f'{mode}_{kind}_{osp.splitext(osp.basename(path))[0]}'
                visualizer.add_image(name, np.ascontiguousarray(img[..., ::-1]), step=step)
