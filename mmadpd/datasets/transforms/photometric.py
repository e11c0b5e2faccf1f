"""Photometric training augmentations on uint8 grey images (one OpenCV call each).

mmdet's ``PhotoMetricDistortion`` works on float 3-channel images (HSV steps included)
and mmcv has no Gaussian blur transform, so these two small ones are written here.
"""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS


def brightness_contrast_lut(mean: float, brightness: float, contrast: float) -> np.ndarray:
    """256-entry uint8 lookup table ``v -> clip(brightness * (mean + contrast * (v - mean)))``
    (contrast around the image mean, brightness as a gain, as torchvision's ColorJitter)."""
    v = np.arange(256, dtype=np.float32)
    out = brightness * (mean + contrast * (v - mean))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


@TRANSFORMS.register_module()
class RandomBrightnessContrast(BaseTransform):
    """Random contrast (around the image mean) then brightness gain.

    Args:
        brightness: range of the brightness gain (0.8, 1.2).
        contrast: range of the contrast factor (0.8, 1.2).
        prob: probability to apply.
    """

    def __init__(self, brightness: Tuple[float, float] = (0.8, 1.2),
                 contrast: Tuple[float, float] = (0.8, 1.2), prob: float = 1.0) -> None:
        self.brightness = tuple(brightness)
        self.contrast = tuple(contrast)
        self.prob = float(prob)

    def transform(self, results: dict) -> dict:
        if np.random.rand() >= self.prob:
            return results
        img = results['img']
        b = np.random.uniform(*self.brightness)
        c = np.random.uniform(*self.contrast)
        lut = brightness_contrast_lut(cv2.mean(img)[0], b, c)
        results['img'] = cv2.LUT(img, lut)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(brightness={self.brightness}, '
                f'contrast={self.contrast}, prob={self.prob})')


@TRANSFORMS.register_module()
class RandomGaussianBlur(BaseTransform):
    """Gaussian blur with a random sigma, applied with probability ``prob``.

    Args:
        kernel_size: odd kernel side (3).
        sigma: range of the standard deviation in pixels (0.1, 1.0).
        prob: probability to apply (0.5).
    """

    def __init__(self, kernel_size: int = 3, sigma: Tuple[float, float] = (0.1, 1.0),
                 prob: float = 0.5) -> None:
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.kernel_size = int(kernel_size)
        self.sigma = tuple(sigma)
        self.prob = float(prob)

    def transform(self, results: dict) -> dict:
        if np.random.rand() >= self.prob:
            return results
        sigma = np.random.uniform(*self.sigma)
        k = self.kernel_size
        results['img'] = cv2.GaussianBlur(results['img'], (k, k), sigmaX=sigma, sigmaY=sigma)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(kernel_size={self.kernel_size}, '
                f'sigma={self.sigma}, prob={self.prob})')
