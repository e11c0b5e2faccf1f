"""Pack a pipeline result into ``inputs`` + ``DetDataSample`` (the mmadpd data contract).

* ``inputs``: uint8 tensor (1, H, W) for grey images ((C, H, W) if a colour image got
  here); the model's ``ADPDDataPreprocessor`` casts, normalises and repeats channels on
  the device.
* ``data_sample.gt_instances``: ``bboxes`` (N, 4) float32 xyxy in the pixels of the image
  at the end of the pipeline (network input for training; ORIGINAL pixels in the test
  pipeline, where annotations are loaded after the resize), ``labels`` (N,) int64, and
  ``pathology_labels`` (N, P) float32 0/1 when present (ImaGenome).
* ``data_sample.gt_image_labels``: (P,) float32 0/1 image-level labels (ImaGenome).
* metainfo: ``img_id``, ``img_path``, ``ori_shape``, ``img_shape``, ``scale_factor``
  ((w, h) scale, (1, 1) if never resized), ``pad_shape`` (= ``img_shape`` when not
  padded) and ``crop_offset`` when a crop was applied: ``orig = net / scale_factor +
  crop_offset``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from .box_ops import as_box_array

DEFAULT_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                     'pad_shape', 'crop_offset')


@TRANSFORMS.register_module()
class PackADPDInputs(BaseTransform):
    """See the module docstring.

    Args:
        meta_keys: keys copied into the data sample's metainfo when present
            (``scale_factor`` and ``pad_shape`` get defaults when absent).
    """

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim == 2:
            inputs = torch.from_numpy(np.ascontiguousarray(img))[None]
        else:
            inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))

        sample = DetDataSample()
        if 'gt_bboxes' in results:
            gt = InstanceData()
            gt.bboxes = torch.from_numpy(as_box_array(results['gt_bboxes']).copy())
            gt.labels = torch.from_numpy(
                np.asarray(results['gt_bboxes_labels'], dtype=np.int64).copy())
            if results.get('gt_pathology_labels') is not None:
                gt.pathology_labels = torch.from_numpy(
                    np.asarray(results['gt_pathology_labels'], dtype=np.float32))
            sample.gt_instances = gt
        if results.get('gt_image_labels') is not None:
            sample.gt_image_labels = torch.from_numpy(
                np.asarray(results['gt_image_labels'], dtype=np.float32))

        shape = tuple(img.shape[:2])
        meta = {}
        for key in self.meta_keys:
            if key in results:
                meta[key] = results[key]
        meta.setdefault('img_shape', shape)
        meta.setdefault('ori_shape', shape)
        meta.setdefault('scale_factor', (1.0, 1.0))
        meta['pad_shape'] = tuple(results.get('pad_shape', meta['img_shape']))[:2]
        sample.set_metainfo(meta)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
