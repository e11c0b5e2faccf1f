"""Precision / recall at a checkpoint's calibrated operating points on the evaluated
split (the test half), beside the threshold-free AP report.

Files in the report folder: ``operating_points.json`` (``{'split', 'iou_thr',
'calibrated_on', 'per_class': [{'class', 'threshold', 'precision', 'recall', 'f1', 'tp',
'num_positive', 'num_gt'}]}``) and ``operating_points.md`` (the table).
"""
from __future__ import annotations

import json
import os
import os.path as osp
from typing import Dict, List, Mapping

from mmadpd.evaluation.operating_point_table import operating_points_table
from mmadpd.evaluation.functional.operating_points import operating_points_at


def write_operating_points(out_dir: str, details: Mapping, calibration: Mapping,
                           mode: str = 'test') -> Dict[str, str]:
    """Evaluate ``calibration['thresholds']`` on the images of ``details`` (the
    ``CXR8DetectionMetric.last_details`` of the run) and write the two files."""
    images = details.get('images') or []
    preds = [dict(bboxes=r['pred_bboxes'], scores=r['pred_scores'], labels=r['pred_labels'])
             for r in images]
    gts = [dict(bboxes=r['gt_bboxes'], labels=r['gt_labels']) for r in images]
    iou_thr = float(calibration.get('iou_thr', 0.1))
    rows = operating_points_at(preds, gts, list(details['class_names']),
                               calibration['thresholds'], iou_thr=iou_thr)
    os.makedirs(out_dir, exist_ok=True)
    files = dict(json=osp.join(out_dir, 'operating_points.json'),
                 md=osp.join(out_dir, 'operating_points.md'))
    with open(files['json'], 'w') as f:
        json.dump(dict(split=mode, num_images=len(images), iou_thr=iou_thr,
                       calibrated_on=calibration.get('split', 'val'), per_class=rows),
                  f, indent=2)
    with open(files['md'], 'w') as f:
        f.write(f'# Calibrated operating points on the {mode} split\n\n'
                f'{len(images)} images; thresholds calibrated on the '
                f'{calibration.get("split", "val")} half; a box is positive when score >= '
                f'threshold and a hit when IoU > {iou_thr:g} with a GT box of its class.\n\n'
                + operating_points_table(rows, with_calibration=False) + '\n')
    return files


def published_model_section(entry: Mapping) -> List[str]:
    """Markdown lines of a published model (a weights-index entry with ``name``): where
    it is, its calibrated per-class table (val half) and the same points on the test
    half."""
    cal = entry.get('calibration') or {}
    lines = ['## Calibrated operating points', '',
             f'Published as `{entry["name"]}` (`{entry.get("file")}` in the weights dir, '
             f'sha256 `{entry.get("sha256")}`; model card `{entry.get("model_card")}`). '
             f'Thresholds chosen per class on the {cal.get("split", "val")} half '
             f'({(cal.get("data") or {}).get("num_images")} images) for the best F1 of '
             f'localisation at IoU > {cal.get("iou_thr")}; classes with fewer than '
             f'{cal.get("min_gt_boxes")} val boxes keep prob_thr '
             f'{cal.get("fallback_threshold")}.', '']
    if cal.get('per_class'):
        lines += [operating_points_table(cal['per_class']), '']
    if entry.get('test_operating_points'):
        lines += ['The same thresholds on the test half:', '',
                  operating_points_table(entry['test_operating_points'],
                                         with_calibration=False), '']
    return lines
