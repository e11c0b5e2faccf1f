"""ADPDDataPreprocessor: grey uint8 images -> normalised 3-channel float batch on device."""
from __future__ import annotations

import math
from typing import List, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model.utils import stack_batch
from torch import Tensor

from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.models.utils.misc import samplelist_boxtype2tensor
from mmdet.registry import MODELS

# MIMIC-CXR grey-level statistics on the 0-255 scale (0.505 / 0.248 on 0-1).
CXR_MEAN = (0.505 * 255,)
CXR_STD = (0.248 * 255,)


@MODELS.register_module()
class ADPDDataPreprocessor(DetDataPreprocessor):
    """mmdet's detection preprocessor for grey chest X-rays.

    Images travel from the DataLoader workers as uint8 (1, H, W) (12x smaller than float
    RGB), either as a list or, with the ``adpd_collate`` collate function, already stacked
    into one (B, 1, H, W) tensor. Here the batch is moved to the device in ONE copy
    (asynchronous when the DataLoader pinned it), cast to float, normalised with one grey
    mean/std, padded to ``pad_size_divisor`` and repeated to 3 channels for ImageNet
    backbones. Images of different sizes are normalised one by one and padded bottom/right
    to a common size. 3-channel input is normalised with the same grey statistics and left
    as is. ``batch_input_shape`` and ``pad_shape`` are written into every data sample.

    Data samples (ground truth, metainfo) stay on the CPU by default
    (``samples_to_device=False``): the heads build their training targets for the whole
    batch there and copy each target tensor to the device once, instead of mmengine
    copying every sample's small tensors separately (about 4 tiny copies per sample).
    Predictions are returned on the CPU as well.

    Args:
        mean, std: one value each (0-255 scale); defaults are ADPD's 0.505/0.248.
        out_channels: channels handed to the backbone (1 or 3).
        channels_last: return the batch in ``torch.channels_last`` memory format (faster
            convolutions on GPUs with tensor cores); :class:`ADPD` converts its weights to
            the same format when this is set.
        samples_to_device: also move the data samples to the device (mmengine's default
            behaviour; slower, kept for components that need device-resident gt).
        **kwargs: forwarded to :class:`mmdet.models.DetDataPreprocessor` (e.g.
            ``pad_size_divisor``, ``non_blocking``); colour conversion is always off.
    """

    def __init__(self, mean: Sequence[float] = CXR_MEAN, std: Sequence[float] = CXR_STD,
                 out_channels: int = 3, channels_last: bool = False,
                 samples_to_device: bool = False, **kwargs) -> None:
        if len(mean) != 1 or len(std) != 1:
            raise ValueError('ADPDDataPreprocessor: mean and std take ONE grey value each, '
                             f'got mean={mean}, std={std}')
        if out_channels not in (1, 3):
            raise ValueError(f'ADPDDataPreprocessor: out_channels must be 1 or 3, '
                             f'got {out_channels}')
        kwargs.pop('bgr_to_rgb', None)
        kwargs.pop('rgb_to_bgr', None)
        super().__init__(mean=mean, std=std, bgr_to_rgb=False, rgb_to_bgr=False, **kwargs)
        self.out_channels = out_channels
        self.channels_last = channels_last
        self.samples_to_device = samples_to_device

    def _to_device(self, tensor: Tensor) -> Tensor:
        non_blocking = self._non_blocking or (tensor.device.type == 'cpu'
                                              and tensor.is_pinned())
        return tensor.to(self.device, non_blocking=non_blocking)

    def _normalise(self, images: Tensor) -> Tensor:
        # the same arithmetic as mmengine's ImgDataPreprocessor, so results are identical
        return (images.float() - self.mean) / self.std

    def batch_inputs(self, inputs: Union[Tensor, List[Tensor]]) -> Tensor:
        """uint8 (B, C, H, W) tensor or list of (C, H_i, W_i) -> normalised float
        (B, C, H_pad, W_pad) on the device (padded bottom/right with ``pad_value``)."""
        if isinstance(inputs, Tensor):
            if inputs.dim() != 4:
                raise ValueError('ADPDDataPreprocessor: a batched input must be (B, C, H, W), '
                                 f'got {tuple(inputs.shape)}')
            batch = self._normalise(self._to_device(inputs))
        elif len({tuple(img.shape) for img in inputs}) == 1:
            # one stack where the images are (uint8, cheap) and one copy to the device
            batch = self._normalise(self._to_device(torch.stack(list(inputs))))
        else:
            images = [self._normalise(self._to_device(img)) for img in inputs]
            return stack_batch(images, self.pad_size_divisor, self.pad_value)
        h, w = batch.shape[-2:]
        pad_h = math.ceil(h / self.pad_size_divisor) * self.pad_size_divisor - h
        pad_w = math.ceil(w / self.pad_size_divisor) * self.pad_size_divisor - w
        if pad_h or pad_w:
            batch = F.pad(batch, (0, pad_w, 0, pad_h), 'constant', self.pad_value)
        return batch

    def forward(self, data: dict, training: bool = False) -> dict:
        if self.samples_to_device:
            data = self.cast_data(data)
        inputs = data['inputs']
        data_samples = data.get('data_samples', None)
        batch_pad_shape = self._get_pad_shape(data)
        batch = self.batch_inputs(inputs)
        if data_samples is not None:
            batch_input_shape = tuple(batch.shape[-2:])
            for sample, pad_shape in zip(data_samples, batch_pad_shape):
                # set_field, not set_metainfo: the values are tuples of ints, and
                # set_metainfo deep-copies its dict (~1 ms per 256 samples of host time)
                sample.set_field(batch_input_shape, 'batch_input_shape',
                                 field_type='metainfo')
                sample.set_field(tuple(pad_shape), 'pad_shape', field_type='metainfo')
            if self.boxtype2tensor:
                samplelist_boxtype2tensor(data_samples)
            if self.pad_mask and training:
                self.pad_gt_masks(data_samples)
            if self.pad_seg and training:
                self.pad_gt_sem_seg(data_samples)
        if training and self.batch_augments is not None:
            for batch_aug in self.batch_augments:
                batch, data_samples = batch_aug(batch, data_samples)
        if batch.shape[1] == 1 and self.out_channels == 3:
            batch = batch.expand(-1, 3, -1, -1)
        if self.channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        else:
            batch = batch.contiguous()
        return {'inputs': batch, 'data_samples': data_samples}
