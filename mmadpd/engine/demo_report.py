"""The `make demo` report: the model next to its reference predictors, in one page.

Reads what the other steps wrote (the test run's ``report/metrics.json`` from
``ADPDReportHook`` and ``reference_boxes.json`` from tools/analysis_tools/reference_boxes.py)
and writes ``WORK_DIR/report.md`` and ``WORK_DIR/metrics.json``.
"""
from __future__ import annotations

import glob
import json
import os
import os.path as osp
from typing import Dict, Mapping, Optional

from mmadpd.engine.operating_points_report import published_model_section
from mmadpd.evaluation.tables import format_table1_rows

#: metrics.json keys of the demo contract -> metric names (AP in percent)
SUMMARY_KEYS = ('mAP', 'AP@0.1', 'AP@0.3', 'AP@0.5', 'AP@0.7',
                'loc_acc@0.1', 'loc_acc@0.3', 'loc_acc@0.5')


def _pick(metrics: Mapping, prefix: Optional[str] = 'cxr8') -> Dict[str, float]:
    out = {}
    for key in SUMMARY_KEYS:
        for k in ((f'{prefix}/{key}' if prefix else key), key):
            if k in metrics:
                out[key] = float(metrics[k])
                break
    return out


def write_demo_report(work_dir: str, test_report_dir: str, reference: Mapping,
                      timings: Optional[Mapping] = None,
                      model_name: str = 'Loc-ADPD (demo)',
                      published: Optional[Mapping] = None,
                      seed: Optional[int] = None) -> str:
    """Write ``report.md`` and ``metrics.json`` into ``work_dir``; returns the report path.

    Args:
        work_dir: the demo work dir (``work_dirs/demo``).
        test_report_dir: the report folder of the test run (``.../test/report``).
        reference: the content of ``reference_boxes.json`` (``methods`` -> metric dict).
        timings: optional seconds per stage (``data_s``, ``train_s``, ``total_s``).
        model_name: row label of the model.
        published: the weights-index entry (with ``name``) of the published model: adds
            its calibrated operating points (val and test half).
        seed: the training seed, recorded in ``metrics.json``.
    """
    test = json.load(open(osp.join(test_report_dir, 'metrics.json')))
    methods = reference['methods']
    summary = dict(
        loc_adpd=_pick(test['metrics']),
        whole_lung=_pick(methods['whole lung'], prefix=None),
        oracle_regions=_pick(methods['oracle regions'], prefix=None),
    )
    summary['loc_adpd']['per_class_mean_ap'] = {
        r['class']: r['mean_ap'] for r in test['per_class']}
    summary['classes_without_gt'] = test.get('classes_without_gt', [])
    summary['num_test_images'] = test.get('num_images')
    if published:
        summary['published'] = {k: published.get(k) for k in ('name', 'file', 'sha256')}
        summary['operating_points'] = dict(
            val=(published.get('calibration') or {}).get('per_class'),
            test=published.get('test_operating_points'))
    if seed is not None:
        summary['seed'] = int(seed)
    if timings:
        summary['timings_s'] = {k: round(float(v), 1) for k, v in timings.items()}
    with open(osp.join(work_dir, 'metrics.json'), 'w') as f:
        json.dump(summary, f, indent=2)

    rows = [(model_name, summary['loc_adpd']), ('whole lung (same classifier, lung box)',
                                                 summary['whole_lung']),
            ('oracle regions (GT regions + GT labels)', summary['oracle_regions'])]
    table = format_table1_rows(rows, prefix=None)
    rel = lambda p: osp.relpath(p, work_dir)  # noqa: E731
    class_md = open(osp.join(test_report_dir, 'table.md')).read()
    class_part = class_md.split('## Per class', 1)[-1].strip() if '## Per class' in class_md \
        else class_md
    pr = sorted(glob.glob(osp.join(test_report_dir, 'pr_curves', '*.png')))
    overlays = sorted(glob.glob(osp.join(test_report_dir, 'overlays', '*.png')))

    beat = summary['loc_adpd'].get('mAP', 0.0) > summary['whole_lung'].get('mAP', 0.0)
    md = [
        '# mmadpd demo report', '',
        f'Loc-ADPD trained on the synthetic phantom set (ImaGenome format) and evaluated on '
        f'the CXR8-format phantom test half ({summary["num_test_images"]} images) with '
        f'`CXR8DetectionMetric` (AP in percent, IoU > t, top-1 box per class; loc-acc at '
        f'score > 0.7).', '',
        table, '',
        ('Loc-ADPD localises better than the whole-lung box scored by the same classifier.'
         if beat else '**Loc-ADPD does not beat the whole-lung baseline in this run.**'),
        '',
        '## Per class (Loc-ADPD)', '', class_part, '',
    ]
    if published:
        md += published_model_section(published)
    if pr:
        md += ['## Precision-recall curves (IoU 0.1 / 0.3 / 0.5)', '']
        md += [f'![{osp.splitext(osp.basename(p))[0]}]({rel(p)})' for p in pr] + ['']
    if overlays:
        md += ['## Overlays (predictions solid, ground truth dashed)', '']
        md += [f'![{osp.basename(p)}]({rel(p)})' for p in overlays] + ['']
    if timings:
        md += ['## Timings', ''] + [f'- {k}: {v:.0f} s' for k, v in timings.items()] + ['']
    md += ['Files: `metrics.json` (this summary), `test/report/metrics.json` (every number), '
           '`latest.pth` (checkpoint), `config.py` (the config it was trained with).', '']
    out = osp.join(work_dir, 'report.md')
    tmp = out + '.tmp'
    with open(tmp, 'w') as f:
        f.write('\n'.join(md))
    os.replace(tmp, out)
    return out
