"""Flat metric dictionary (what loggers and checkpoint selection see) from an evaluation
result of :func:`evaluate_detections` (pure python/numpy)."""
from __future__ import annotations

import re
from typing import Dict, Mapping, Optional, Sequence

import numpy as np

from .class_groups import group_indices


def thr_key(thr: float) -> str:
    """``0.30000000000000004 -> '0.3'`` (metric-name form of a threshold)."""
    return f'{round(float(thr), 6):g}'


def class_key(name: str) -> str:
    """Class name made safe for metric keys / file names (``'lung opacity' -> 'lung_opacity'``)."""
    return re.sub(r'[^0-9A-Za-z.+-]+', '_', str(name)).strip('_') or 'class'


def summarize(result: Mapping, class_names: Sequence[str],
              groups: Optional[Mapping[str, Sequence[str]]] = None,
              classwise: bool = True) -> Dict[str, float]:
    """Metric keys (no prefix; the registered metric adds ``cxr8/``).

    * ``mAP``: mean over thresholds of the mean over ALL classes (macro; classes without
      GT count as 0), AP in percent;
    * ``AP@<t>`` for every threshold, percent; ``loc_acc@<t>`` as a fraction;
    * ``AP_<class>`` (``classwise``): the class's mean AP over thresholds, percent;
    * ``<group>/mAP``, ``<group>/AP@<t>``, ``<group>/loc_acc@<t>`` for each group whose
      classes are all present.
    """
    ap = np.asarray(result['ap'], dtype=np.float64) * 100.0  # (C, T)
    acc = np.asarray(result['loc']['acc'], dtype=np.float64)  # (C, T)
    thrs = result['iou_thrs']
    if ap.shape[0] != len(class_names):
        raise ValueError(f'{len(class_names)} class names for {ap.shape[0]} classes')
    out: Dict[str, float] = {}

    def add_block(prefix: str, idx):
        out[f'{prefix}mAP'] = float(ap[idx].mean(axis=0).mean()) if len(idx) else 0.0
        for t, thr in enumerate(thrs):
            out[f'{prefix}AP@{thr_key(thr)}'] = float(ap[idx, t].mean()) if len(idx) else 0.0
        for t, thr in enumerate(thrs):
            # plain mean as the reference (NaN only when no image was evaluated)
            out[f'{prefix}loc_acc@{thr_key(thr)}'] = (
                float(acc[idx, t].mean()) if len(idx) else float('nan'))

    add_block('', list(range(len(class_names))))
    if classwise:
        for c, name in enumerate(class_names):
            out[f'AP_{class_key(name)}'] = float(ap[c].mean())
    for group, idx in group_indices(class_names, groups or {}).items():
        add_block(f'{group}/', idx)
    return out
