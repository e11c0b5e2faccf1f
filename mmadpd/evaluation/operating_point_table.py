"""Markdown table of per-class operating points (rows of
:mod:`mmadpd.evaluation.functional.operating_points`)."""
from __future__ import annotations

from typing import Mapping, Sequence


def operating_points_table(rows: Sequence[Mapping], with_calibration: bool = True) -> str:
    """Markdown table of per-class operating points (rows of the operating-points
    functions); ``with_calibration`` adds the fallback column."""
    head = '| class | threshold | precision | recall | F1 | GT boxes |'
    sep = '|---|---|---|---|---|---|'
    if with_calibration:
        head, sep = head + ' calibrated |', sep + '---|'
    lines = [head, sep]
    for r in rows:
        line = (f'| {r["class"]} | {r["threshold"]:.3f} | {r["precision"]:.3f} | '
                f'{r["recall"]:.3f} | {r["f1"]:.3f} | {r["num_gt"]} |')
        if with_calibration:
            line += (' no: ' + str(r.get('reason')) if r.get('fallback') else ' yes') + ' |'
        lines.append(line)
    return '\n'.join(lines)
