"""ADPDDataPreprocessor: grey uint8 images -> normalised 3-channel float batch on device."""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmdet.registry import MODELS

# MIMIC-CXR grey-level statistics on the 0-255 scale (0.505 / 0.248 on 0-1).
CXR_MEAN = (0.505 * 255,)
CXR_STD = (0.248 * 255,)


@MODELS.register_module()
class ADPDDataPreprocessor(DetDataPreprocessor):
    """mmdet's detection preprocessor for grey chest X-rays.

    Images travel from the DataLoader workers as uint8 (1, H, W) (12x smaller than float
    RGB); here they are moved to the device, cast to float, normalised with one grey
    mean/std, stacked (padded to ``pad_size_divisor`` if sizes differ) and repeated to 3
    channels for ImageNet backbones. 3-channel input is normalised with the same grey
    statistics and left as is. ``batch_input_shape`` is written into every data sample.

    Args:
        mean, std: one value each (0-255 scale); defaults are ADPD's 0.505/0.248.
        out_channels: channels handed to the backbone (1 or 3).
        channels_last: return the batch in ``torch.channels_last`` memory format (faster
            convolutions on GPUs with tensor cores).
        **kwargs: forwarded to :class:`mmdet.models.DetDataPreprocessor` (e.g.
            ``pad_size_divisor``); colour conversion is always off.
    """

    def __init__(self, mean: Sequence[float] = CXR_MEAN, std: Sequence[float] = CXR_STD,
                 out_channels: int = 3, channels_last: bool = False,
                 **kwargs) -> None:
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

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        inputs = data['inputs']
        if inputs.shape[1] == 1 and self.out_channels == 3:
            inputs = inputs.expand(-1, 3, -1, -1)
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        else:
            inputs = inputs.contiguous()
        data['inputs'] = inputs
        return data
