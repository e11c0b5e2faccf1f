"""Overlay of pathology boxes (and optionally ground truth and anatomical regions) on a
chest X-ray, drawn with matplotlib's Agg canvas (no display, no global pyplot state)."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

from .palette import class_colors


def _rgb(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[2] not in (1, 3):
        img = np.transpose(img, (1, 2, 0))  # CHW -> HWC
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'image must be (H, W), (H, W, 1) or (H, W, 3), got {image.shape}')
    if img.dtype != np.uint8:
        img = img.astype(np.float64)
        if img.size and img.max() <= 1.0:  # [0, 1] floats
            img = img * 255.0
        img = np.clip(img, 0, 255).astype(np.uint8)
    return img


def _rows(x, n_cols):
    arr = np.asarray(x if x is not None else np.zeros((0, n_cols)), dtype=np.float64)
    return arr.reshape(-1, n_cols) if arr.size else np.zeros((0, n_cols))


def _unit_colors(colors) -> list:
    """A palette as RGB floats in [0, 1] (dataset palettes are ints in [0, 255])."""
    out = [tuple(float(v) for v in c[:3]) for c in colors]
    if any(v > 1.0 for c in out for v in c):
        out = [tuple(v / 255.0 for v in c) for c in out]
    return out


def draw_detections(image: np.ndarray,
                    boxes=None, labels=None, scores=None,
                    class_names: Sequence[str] = (),
                    gt_boxes=None, gt_labels=None,
                    region_boxes=None, region_names: Optional[Sequence[str]] = None,
                    title: Optional[str] = None,
                    min_side: Optional[int] = None,
                    legend: bool = True,
                    score_fmt: str = '{name} {score:.2f}',
                    colors: Optional[Sequence] = None,
                    fused_regions: Optional[Sequence[Sequence[int]]] = None) -> np.ndarray:
    """Draw predictions (solid), ground truth (dashed) and faint region outlines.

    Args:
        image: (H, W) grey, (H, W, 1) or (H, W, 3) RGB; uint8, or float in [0, 1] / [0, 255].
        boxes: (K, 4) predicted pathology boxes, xyxy in THIS image's pixels.
        labels: (K,) class indices into ``class_names``.
        scores: (K,) scores shown in the box labels (omitted when None).
        class_names: target class names; class i is drawn in ``colors[i]``.
        gt_boxes, gt_labels: (N, 4) / (N,) ground truth, drawn dashed in the class colour.
        region_boxes: (R, 4) anatomical region boxes, drawn as faint thin outlines (rows with
            NaN are skipped, e.g. absent regions).
        region_names: optional names written faintly at the regions' top-left corners.
        title: optional title text at the top-left.
        min_side: enlarge the output so its short side is at least this (legible labels on
            small network-size images); None keeps the input size.
        legend: add a legend (classes shown, line styles).
        score_fmt: label text format with ``name`` and ``score``.
        colors: per class an RGB colour, floats in [0, 1] or ints in [0, 255] (a dataset
            palette); default ``class_colors(len(class_names))``.
        fused_regions: per predicted box, the indices into ``region_boxes`` of the regions
            fused into it; they are outlined dotted in the box's class colour.

    Returns:
        (H', W', 3) uint8 RGB, H' = H and W' = W unless ``min_side`` enlarges them.
    """
    img = _rgb(image)
    h, w = img.shape[:2]
    scale = 1.0
    if min_side and min(h, w) < min_side:
        scale = float(min_side) / min(h, w)
    out_w, out_h = int(round(w * scale)), int(round(h * scale))
    dpi = 100.0
    fig = Figure(figsize=(out_w / dpi, out_h / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(img, extent=(0, w, h, 0), interpolation='bilinear')
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.axis('off')

    colors = _unit_colors(colors) if colors is not None \
        else class_colors(max(len(class_names), 1))
    font = max(6.0, min(out_w, out_h) / 45.0)
    lw = max(1.0, min(out_w, out_h) / 250.0)

    def color_of(label):
        label = int(label)
        if not 0 <= label < len(colors):
            raise ValueError(f'label {label} out of range for {len(class_names)} classes')
        return colors[label]

    def rect(box, color, style, width, alpha=1.0):
        x1, y1, x2, y2 = box
        # The same pixels as add_patch with the default face, faster per box (hundreds per
        # overlay): add_artist skips the data-limit update (the view limits are fixed
        # above), and an explicit 'none' face skips resolving the default 'C0' through
        # the colour cycle (unfilled, the face is never drawn)
        ax.add_artist(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, facecolor='none',
                                edgecolor=color, linestyle=style, linewidth=width,
                                alpha=alpha))

    all_regions = _rows(region_boxes, 4)
    for r, box in enumerate(all_regions):
        if np.isnan(box).any():
            continue
        rect(box, (1.0, 1.0, 1.0), '-', lw * 0.6, alpha=0.3)
        if region_names is not None and r < len(region_names):
            ax.text(box[0] + 1, box[1] + 1, region_names[r], color='white', alpha=0.4,
                    fontsize=font * 0.55, va='top', ha='left')

    p_b = _rows(boxes, 4)
    p_l = np.asarray(labels if labels is not None else [], dtype=np.int64).reshape(-1)
    p_s = None if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(p_b) != len(p_l) or (p_s is not None and len(p_s) != len(p_b)):
        raise ValueError(f'{len(p_b)} boxes, {len(p_l)} labels and '
                         f'{"no" if p_s is None else len(p_s)} scores differ in number')
    for k, members in enumerate(fused_regions or []):
        if k >= len(p_b):
            break
        for r in members:
            if 0 <= int(r) < len(all_regions) and not np.isnan(all_regions[int(r)]).any():
                rect(all_regions[int(r)], color_of(p_l[k]), ':', lw * 1.2, alpha=0.8)

    shown = set()
    gt_b, gt_l = _rows(gt_boxes, 4), np.asarray(
        gt_labels if gt_labels is not None else [], dtype=np.int64).reshape(-1)
    if len(gt_b) != len(gt_l):
        raise ValueError(f'{len(gt_b)} gt boxes but {len(gt_l)} gt labels')
    for box, lab in zip(gt_b, gt_l):
        rect(box, color_of(lab), (0, (4, 2)), lw * 1.5)
        shown.add(int(lab))

    for k, (box, lab) in enumerate(zip(p_b, p_l)):
        color = color_of(lab)
        rect(box, color, '-', lw * 2.0)
        shown.add(int(lab))
        name = class_names[lab] if len(class_names) else str(lab)
        text = name if p_s is None else score_fmt.format(name=name, score=p_s[k])
        # label above the box, or inside it when the box touches the top edge
        above = box[1] * scale > 2.0 * font
        ax.text(box[0], box[1], text, color='white', fontsize=font,
                va='bottom' if above else 'top', ha='left',
                bbox=dict(facecolor=color, edgecolor='none', alpha=0.8, pad=1.0))

    if title:
        ax.text(2, 2, title, color='white', fontsize=font, va='top', ha='left',
                bbox=dict(facecolor='black', edgecolor='none', alpha=0.5, pad=1.0))
    if legend and (shown or len(gt_b) or region_boxes is not None):
        handles = [Patch(facecolor=colors[c], edgecolor=colors[c],
                         label=class_names[c] if len(class_names) else str(c))
                   for c in sorted(shown)]
        handles.append(Line2D([], [], color='grey', linestyle='-', label='prediction'))
        if len(gt_b):
            handles.append(Line2D([], [], color='grey', linestyle='--', label='ground truth'))
        ax.legend(handles=handles, loc='lower right', fontsize=font * 0.8, framealpha=0.6)

    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    return np.ascontiguousarray(rgba[:out_h, :out_w, :3])
