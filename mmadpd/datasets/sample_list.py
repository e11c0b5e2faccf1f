"""``SampleList``: a batch's data samples that cross the worker->main process boundary
with their small tensors packed into a few batch tensors.

Why: a DataLoader worker hands every tensor of a batch to the main process through its
own shared-memory block, and with PyTorch's default ``file_descriptor`` sharing strategy
the main process fetches each block's file descriptor in a separate round trip to the
worker. An ADPD training batch of 128 samples holds ~512 tiny tensors (gt boxes, region
labels, pathology labels, image labels): receiving it cost the MAIN process ~200 ms on a
2-core machine (measured, see the closing note of issue 8), which alone caps the training
loop at a few hundred samples/s whatever the GPU. Packed, the same batch is a handful of
tensors and costs the main process about 1-5 ms.

How: pickling a :class:`SampleList` (what the worker does to send it) concatenates each
``gt_instances`` tensor field of all samples into one tensor (plus per-sample counts) and
stacks each per-sample tensor data field (e.g. ``gt_image_labels``); unpickling (in the
main process) splits them back into per-sample tensors, which are views of the batch
tensors. Everything else (metainfo, fields that cannot be packed) travels unchanged. In
one process (``num_workers=0``) nothing is pickled and nothing changes: it is a list.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List, Sequence, Tuple

import torch
from mmengine.structures import BaseDataElement, InstanceData

INSTANCES = 'gt_instances'


def _same_layout(values: Sequence[Any], trailing: bool) -> bool:
    """All values are tensors of one dtype and shape (``trailing``: all but dim 0)."""
    if not values or not all(isinstance(v, torch.Tensor) for v in values):
        return False
    if trailing and any(v.dim() == 0 for v in values):
        return False
    shapes = {(v.dtype, tuple(v.shape[1:] if trailing else v.shape)) for v in values}
    return len(shapes) == 1


def _packable_instance_keys(samples: Sequence[BaseDataElement]) -> List[str]:
    insts = [s.get(INSTANCES) for s in samples]
    if not insts or not all(isinstance(i, InstanceData) for i in insts):
        return []
    return [k for k in insts[0].keys()
            if all(k in i for i in insts) and _same_layout([i.get(k) for i in insts], True)]


def _packable_sample_keys(samples: Sequence[BaseDataElement]) -> List[str]:
    return [k for k in samples[0].keys()
            if k != INSTANCES and all(k in s for s in samples)
            and _same_layout([s.get(k) for s in samples], False)]


def pack_samples(samples: Sequence[BaseDataElement]
                 ) -> Tuple[List[BaseDataElement], Dict[str, Any]]:
    """Split a batch of data samples into skeletons (everything but the packed tensors; the
    input samples are not modified) and the packed tensors::

        packed = dict(counts=(B,) long, instances={key: (sum of N_i, ...)},
                      samples={key: (B, ...)})
    """
    samples = list(samples)
    if not samples or not all(isinstance(s, BaseDataElement) for s in samples):
        return samples, {}
    inst_keys = _packable_instance_keys(samples)
    sample_keys = _packable_sample_keys(samples)
    skeletons = []
    for s in samples:
        skel = type(s)(metainfo=s.metainfo)
        for key in s.keys():
            if key == INSTANCES and isinstance(s.get(key), InstanceData):
                inst = s.get(key)
                light = InstanceData(metainfo=inst.metainfo)
                for ikey in inst.keys():
                    if ikey not in inst_keys:
                        light.set_field(inst.get(ikey), ikey)
                skel.set_field(light, key)
            elif key not in sample_keys:
                skel.set_field(s.get(key), key)
        skeletons.append(skel)
    packed: Dict[str, Any] = dict(instances={}, samples={})
    if inst_keys:
        insts = [s.get(INSTANCES) for s in samples]
        packed['counts'] = torch.tensor([len(i.get(inst_keys[0])) for i in insts])
        packed['instances'] = {k: torch.cat([i.get(k) for i in insts]) for k in inst_keys}
    packed['samples'] = {k: torch.stack([s.get(k) for s in samples]) for k in sample_keys}
    return skeletons, packed


def unpack_samples(skeletons: List[BaseDataElement], packed: Dict[str, Any]) -> 'SampleList':
    """Inverse of :func:`pack_samples`: per-sample fields become views of the packed
    tensors. Returns a :class:`SampleList` (so it packs again if sent on)."""
    if packed.get('instances'):
        counts = packed['counts'].tolist()
        for key, flat in packed['instances'].items():
            for skel, part in zip(skeletons, flat.split(counts)):
                skel.get(INSTANCES).set_field(part, key)
    for key, stacked in packed.get('samples', {}).items():
        for skel, value in zip(skeletons, stacked.unbind(0)):
            skel.set_field(value, key)
    return SampleList(skeletons)


class SampleList(list):
    """A list of data samples that pickles with its small tensors packed (see the module
    docstring). ``adpd_collate`` returns the batch's data samples as one."""

    def __reduce__(self):
        skeletons, packed = pack_samples(self)
        return unpack_samples, (skeletons, packed)

    # copy.copy / copy.deepcopy would otherwise go through __reduce__ (pack + unpack);
    # the DataLoader's pin-memory thread copies every batch's lists with copy.copy.
    def __copy__(self) -> 'SampleList':
        return SampleList(self)

    def __deepcopy__(self, memo: dict) -> 'SampleList':
        return SampleList(copy.deepcopy(list(self), memo))
