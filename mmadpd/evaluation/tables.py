"""Markdown tables of the CXR8 protocol: the paper's Table-1 layout and a per-class table.

Pure python; used by the report hook, ``tools/test.py`` and the reference-predictor tool.
"""
from __future__ import annotations

import math
from typing import Mapping, Optional, Sequence, Tuple

from .functional.summary import thr_key

TABLE1_HEADER = ('| method | mAP(0.1-0.7) | AP@0.1 | AP@0.3 | AP@0.5 | '
                 'loc-acc@0.1/0.3/0.5 |\n|---|---|---|---|---|---|')


def _get(metrics: Mapping, key: str, prefix: Optional[str]) -> float:
    """Look ``key`` up with the metric prefix (``cxr8/mAP``) or without it (``mAP``)."""
    for k in ((f'{prefix}/{key}' if prefix else key), key):
        if k in metrics:
            return float(metrics[k])
    return float('nan')


def _fmt(value: float, digits: int) -> str:
    return 'n/a' if value is None or math.isnan(value) else f'{value:.{digits}f}'


def table1_row(metrics: Mapping, method_name: str, prefix: Optional[str] = 'cxr8') -> str:
    """One Table-1 row: AP in percent (2 decimals), loc-acc as a fraction (2 decimals)."""
    aps = [_fmt(_get(metrics, f'AP@{t}', prefix), 2) for t in ('0.1', '0.3', '0.5')]
    accs = [_fmt(_get(metrics, f'loc_acc@{t}', prefix), 2) for t in ('0.1', '0.3', '0.5')]
    return (f'| {method_name} | {_fmt(_get(metrics, "mAP", prefix), 2)} | '
            f'{" | ".join(aps)} | {"/".join(accs)} |')


def format_table1(metrics: Mapping, method_name: str = 'model',
                  prefix: Optional[str] = 'cxr8') -> str:
    """The paper's Table-1 layout for one method, as markdown.

    Args:
        metrics: the metric dict of a val/test run (keys ``cxr8/mAP`` ... as returned by
            ``runner.test()``) or the unprefixed dict of :func:`summarize`.
        method_name: row label.
        prefix: metric prefix to try first.
    """
    return format_table1_rows([(method_name, metrics)], prefix)


def format_table1_rows(rows: Sequence[Tuple[str, Mapping]],
                       prefix: Optional[str] = 'cxr8') -> str:
    """Several methods (e.g. the model and the reference predictors) in one table."""
    return '\n'.join([TABLE1_HEADER] + [table1_row(m, name, prefix) for name, m in rows])


def format_class_table(details: Mapping) -> str:
    """Per-class table: #GT, #pred, AP (%) per threshold, mean AP, loc-acc@0.5; classes
    without ground truth are marked ``(no GT)``.

    Args:
        details: the dict built by :func:`mmadpd.evaluation.details.make_details`.
    """
    thrs = [thr_key(t) for t in details['iou_thrs']]
    head = ('| class | #GT | #pred | ' + ' | '.join(f'AP@{t}' for t in thrs)
            + ' | mean AP | loc-acc@0.5 |')
    sep = '|' + '---|' * (len(thrs) + 5)
    lines = [head, sep]
    acc_col = thrs.index('0.5') if '0.5' in thrs else None
    for row in details['per_class']:
        name = row['class'] + ('' if row['num_gt'] else ' (no GT)')
        aps = ' | '.join(_fmt(v, 2) for v in row['ap'])
        acc = _fmt(row['loc_acc'][acc_col], 2) if acc_col is not None else 'n/a'
        lines.append(f'| {name} | {row["num_gt"]} | {row["num_pred"]} | {aps} | '
                     f'{_fmt(row["mean_ap"], 2)} | {acc} |')
    return '\n'.join(lines)
