"""Top-1 box per class per image (the CXR8 protocol; CXR8 never has two boxes of one class
in one image, so a second box of a class can only be a false positive)."""
from __future__ import annotations

import numpy as np


def top1_per_class(scores, labels) -> np.ndarray:
    """Indices of the boxes to keep: the highest-scoring box of every label.

    Args:
        scores: (K,) confidence of each box of ONE image.
        labels: (K,) integer class index of each box.

    Returns:
        (K',) int64 indices into the inputs, sorted ascending (the input order is kept, so
        later tie-breaking stays deterministic). Of equal scores the earlier box wins.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if scores.shape != labels.shape:
        raise ValueError(f'scores {scores.shape} and labels {labels.shape} differ in length')
    keep = []
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        # argmax returns the first maximum -> earlier box wins a tie
        keep.append(idx[int(np.argmax(scores[idx]))])
    return np.sort(np.asarray(keep, dtype=np.int64))
