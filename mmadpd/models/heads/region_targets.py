"""Per-region training targets of a batch, built on the host with numpy.

Why numpy: the arrays are small (B*N rows) and the work is index bookkeeping, which torch's
CPU operators did more slowly in the real training loop (benchmarks/README.md). The
outputs are the float32 numbers of the straightforward per-sample loop (duplicates
reduced in input order). Moving them to the device is :mod:`mmadpd.models.target_upload`.

Conventions: B samples, N regions, M gt instances in the batch (sample order), C classes.
The flat row of an instance is ``b * N + region_label``.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from mmdet.structures import DetDataSample

from ...box_ops import box_xyxy_to_cxcywh, input_shape_of  # noqa: F401 (re-exported)


def as_array(values, dtype) -> np.ndarray:
    """A tensor (any device), array, list or mmdet box type as a numpy array."""
    values = getattr(values, 'tensor', values)  # mmdet box types wrap a tensor
    if isinstance(values, Tensor):
        # called for every gt field of every sample of every batch: a CPU tensor without
        # autograd history is shared with numpy directly (detach + cpu are two more calls)
        if values.requires_grad or values.device.type != 'cpu':
            values = values.detach().cpu()
        values = values.numpy()
    return np.asarray(values, dtype=dtype)


def concat_arrays(values: Sequence, dtype) -> np.ndarray:
    """Per-sample values (tensors, arrays, lists or mmdet box types, each (M_i, ...))
    concatenated along the first axis as ONE numpy array (sum M_i, ...).

    The usual batch (all tensors) takes one ``torch.cat`` and one conversion instead of a
    conversion per sample (hundreds of calls per batch).
    """
    values = [getattr(v, 'tensor', v) for v in values]  # mmdet box types wrap a tensor
    if values and all(isinstance(v, Tensor) for v in values):
        return as_array(torch.cat(values), dtype)
    return np.concatenate([as_array(v, dtype) for v in values]) if values else \
        np.zeros(0, dtype)


def flat_region_rows(samples: Sequence[DetDataSample], num_regions: int,
                     owner: str) -> Tuple[np.ndarray, np.ndarray]:
    """Flat target row ``b * num_regions + label`` of every gt instance of the batch.

    Returns (rows (M,) int64, sample_of (M,) int64), concatenated in sample order.

    Raises:
        ValueError: a region label outside ``0..num_regions-1``, naming the image.
    """
    labels = [s.gt_instances.labels for s in samples]
    counts = [lab.shape[0] if isinstance(lab, Tensor) else len(lab) for lab in labels]
    flat_labels = concat_arrays(labels, np.int64).reshape(-1)
    sample_of = np.repeat(np.arange(len(samples), dtype=np.int64), counts)
    bad = (flat_labels < 0) | (flat_labels >= num_regions)
    if bad.any():
        first = int(sample_of[np.argmax(bad)])
        raise ValueError(f'{owner}: region label out of range 0..{num_regions - 1} in '
                         f'{samples[first].metainfo.get("img_path", "<unknown image>")}: '
                         f'{as_array(labels[first], np.int64).tolist()}')
    return sample_of * num_regions + flat_labels, sample_of


def _all_distinct(rows: np.ndarray, num_rows: int) -> bool:
    """No region listed twice in one image (the usual batch): every row can then be
    written directly, without the sort and grouped reduction a duplicate needs."""
    return not len(rows) or int(np.bincount(rows, minlength=num_rows).max()) <= 1


def _groups(rows: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Instances grouped by row: (stable order, first position of each group, its row).
    Stable, so each group keeps the input order (reductions add in that order)."""
    order = np.argsort(rows, kind='stable')
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    return order, starts, sorted_rows[starts]


def box_targets(samples: Sequence[DetDataSample], num_regions: int, owner: str
                ) -> Tuple[np.ndarray, np.ndarray]:
    """Region box targets of a batch.

    Boxes are divided by each sample's input (w, h, w, h); a region listed twice in one
    image gets the union box (min of the top-left, max of the bottom-right corners).

    Returns:
        present (B*N,) bool; boxes (B*N, 4) float32 normalised cxcywh, zeros where absent.
    """
    rows, sample_of = flat_region_rows(samples, num_regions, owner)
    num_rows = len(samples) * num_regions
    xyxy = np.zeros((num_rows, 4), np.float32)
    present = np.zeros(num_rows, bool)
    if len(rows):
        boxes = concat_arrays([s.gt_instances.bboxes for s in samples],
                              np.float32).reshape(-1, 4)
        shapes = np.array([input_shape_of(s) for s in samples], np.float32)  # (B, 2) h, w
        norm = boxes / shapes[:, [1, 0, 1, 0]][sample_of]
        if _all_distinct(rows, num_rows):
            xyxy[rows] = norm
        else:
            order, starts, rows = _groups(rows)
            norm = norm[order]
            xyxy[rows, :2] = np.minimum.reduceat(norm[:, :2], starts, axis=0)
            xyxy[rows, 2:] = np.maximum.reduceat(norm[:, 2:], starts, axis=0)
        present[rows] = True
    # absent rows stay zeros: their xyxy is zeros
    cxcywh = box_xyxy_to_cxcywh(torch.from_numpy(xyxy)).numpy()
    return present, cxcywh


def region_label_targets(samples: Sequence[DetDataSample], num_regions: int,
                         num_classes: int, owner: str) -> np.ndarray:
    """Per-region pathology labels (B*N, C) float32, zeros where a region is absent; a
    region listed twice gets the OR of its 0/1 labels (their sum clamped to 1)."""
    rows, _ = flat_region_rows(samples, num_regions, owner)
    num_rows = len(samples) * num_regions
    out = np.zeros((num_rows, num_classes), np.float32)
    if len(rows):
        labels = concat_arrays([s.gt_instances.pathology_labels for s in samples],
                               np.float32).reshape(-1, num_classes)
        if _all_distinct(rows, num_rows):
            out[rows] = np.minimum(labels, 1)
        else:
            order, starts, rows = _groups(rows)
            out[rows] = np.minimum(np.add.reduceat(labels[order], starts, axis=0), 1)
    return out
