"""Paper Table 1 as data: rows from metric dicts, the paper's published numbers, and the
markdown / JSON layout written by ``tools/analysis_tools/table1.py``.

Pure Python (no registry, no torch). A row is a dict::

    {"method", "supervision", "status": "ok" | "not run", "reason" (not run only),
     "mAP", "AP@0.1", "AP@0.3", "AP@0.5" (percent), "loc_acc@0.1/0.3/0.5" (fractions),
     "per_class_AP": {class: mean AP over thresholds, percent}, "paper": {...} | None}

Metric values of a row that did not run are None.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence

from .tables import _fmt

COLUMNS = ('mAP', 'AP@0.1', 'AP@0.3', 'AP@0.5', 'loc_acc@0.1', 'loc_acc@0.3', 'loc_acc@0.5')


def _paper(m_ap, ap1, ap3, ap5, acc1, acc3, acc5) -> Dict[str, float]:
    return dict(zip(COLUMNS, (m_ap, ap1, ap3, ap5, acc1, acc3, acc5)))


#: The paper's Table 1 (test half of the CXR8 boxes; FACTS.md §8), keyed by row key.
PAPER_TABLE1: Dict[str, Dict[str, float]] = {
    'loc': _paper(10.89, 19.99, 12.43, 8.72, 0.85, 0.84, 0.83),
    'loc_wo_wbf': _paper(8.88, 17.02, 9.65, 7.36, 0.84, 0.83, 0.83),
    'loc_mil': _paper(10.29, 19.16, 10.95, 8.00, 0.84, 0.83, 0.82),
    'mil': _paper(7.84, 14.01, 8.85, 7.03, 0.68, 0.65, 0.65),
    'mil_wo_wbf': _paper(5.42, 11.05, 7.97, 3.44, 0.67, 0.65, 0.64),
    'frcnn': _paper(7.36, 9.11, 7.62, 7.26, 0.79, 0.79, 0.78),
    'chexnet': _paper(5.80, 12.87, 8.23, 3.12, 0.58, 0.55, 0.52),
}


def _strip(metrics: Mapping, prefix: str = 'cxr8/') -> Dict[str, float]:
    return {(k[len(prefix):] if k.startswith(prefix) else k): v for k, v in metrics.items()}


def result_row(method: str, supervision: str, metrics: Mapping,
               paper: Optional[Mapping] = None) -> dict:
    """A row from a metric dict (``cxr8/``-prefixed as ``runner.test()`` returns it, or
    unprefixed as the reference predictors')."""
    m = _strip(metrics)
    row = dict(method=method, supervision=supervision, status='ok')
    row.update({c: float(m[c]) for c in COLUMNS})
    row['per_class_AP'] = {k[3:]: float(v) for k, v in m.items()
                           if k.startswith('AP_') and '/' not in k}
    row['paper'] = dict(paper) if paper else None
    return row


def not_run_row(method: str, supervision: str, reason: str,
                paper: Optional[Mapping] = None) -> dict:
    """A row that could not be produced, with the reason (one line)."""
    row = dict(method=method, supervision=supervision, status='not run',
               reason=' '.join(str(reason).split()))
    row.update({c: None for c in COLUMNS})
    row['per_class_AP'] = {}
    row['paper'] = dict(paper) if paper else None
    return row


def _cells(values: Mapping) -> List[str]:
    aps = [_fmt(values.get(c), 2) for c in COLUMNS[:4]]
    accs = '/'.join(_fmt(values.get(c), 2) for c in COLUMNS[4:])
    return aps + [accs]


def table1_markdown(rows: Sequence[Mapping], with_paper: bool = False) -> str:
    """The paper's layout: method, supervision, mAP(0.1-0.7), AP@0.1/0.3/0.5 (percent),
    loc-acc@0.1/0.3/0.5; with ``with_paper`` the published numbers in a second block of
    columns (empty where the paper has no such row)."""
    head = ['method', 'supervision', 'mAP(0.1-0.7)', 'AP@0.1', 'AP@0.3', 'AP@0.5',
            'loc-acc@0.1/0.3/0.5']
    if with_paper:
        head += ['paper mAP', 'paper AP@0.1', 'paper AP@0.3', 'paper AP@0.5',
                 'paper loc-acc']
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for row in rows:
        cells = [row['method'], row['supervision']]
        if row['status'] == 'ok':
            cells += _cells(row)
        else:
            cells += [f'not run: {row["reason"]}'] + [''] * 4
        if with_paper:
            cells += _cells(row['paper']) if row.get('paper') else [''] * 5
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def per_class_markdown(rows: Sequence[Mapping]) -> str:
    """Per-class AP (mean over the IoU thresholds, percent) of every row that ran."""
    done = [r for r in rows if r['status'] == 'ok']
    classes = list(dict.fromkeys(c for r in done for c in r['per_class_AP']))
    if not classes:
        return '(no row ran)'
    lines = ['| method | ' + ' | '.join(classes) + ' |', '|' + '---|' * (len(classes) + 1)]
    for r in done:
        lines.append(f'| {r["method"]} | ' + ' | '.join(
            _fmt(r['per_class_AP'].get(c), 2) for c in classes) + ' |')
    return '\n'.join(lines)
