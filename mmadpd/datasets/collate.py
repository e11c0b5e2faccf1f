"""``adpd_collate``: mmengine's ``pseudo_collate`` that also stacks the images.

Runs inside the DataLoader workers. Same-shaped image tensors (the uint8 (1, H, W)
training crops) become ONE (B, 1, H, W) tensor there, so a batch crosses the process
boundary as one shared-memory block, is pinned once (``pin_memory=True``) and reaches the
device in one copy; :class:`ADPDDataPreprocessor` then normalises it without a per-image
loop. Images of different shapes (e.g. a test set without letterbox) stay a list, exactly
as ``pseudo_collate`` returns them.

The data samples come back as a :class:`~mmadpd.datasets.sample_list.SampleList`: a list
of the same samples which, when a worker sends it to the main process, packs the small gt
tensors of the whole batch into a few tensors (one shared-memory block each instead of
~4 per sample; the main process receives a 128-sample batch in a few ms instead of
~200 ms) and unpacks them on arrival.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import FUNCTIONS

from .sample_list import SampleList


def stack_if_same_shape(images: Sequence[Any]) -> Any:
    """A list of tensors with one shape and dtype -> stacked (B, ...) tensor; anything
    else is returned unchanged."""
    if (len(images) == 0 or not all(isinstance(img, torch.Tensor) for img in images)
            or len({(tuple(img.shape), img.dtype) for img in images}) != 1):
        return images
    return torch.stack(list(images))


@FUNCTIONS.register_module()
def adpd_collate(data_batch: Sequence[dict]) -> Any:
    """Collate a list of ``dict(inputs=..., data_samples=...)`` (see the module
    docstring): ``inputs`` stacked when the shapes agree, ``data_samples`` a
    :class:`SampleList`, everything else as ``pseudo_collate`` does it."""
    batch = pseudo_collate(data_batch)
    if isinstance(batch, dict) and isinstance(batch.get('inputs'), (list, tuple)):
        batch['inputs'] = stack_if_same_shape(batch['inputs'])
    if isinstance(batch, dict) and isinstance(batch.get('data_samples'), list):
        batch['data_samples'] = SampleList(batch['data_samples'])
    return batch
