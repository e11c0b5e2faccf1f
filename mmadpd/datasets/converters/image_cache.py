"""Pre-resized grey JPEG cache (``imagenome_to_coco --resize-short-side N``).

Training at GPU speed is bound by decoding full-size (~2500x3000) MIMIC-CXR JPEGs; a cache
whose short side is ``N`` (256 is plenty for a 224-px network) decodes ~100x faster.

The cached image is grey, its short side is ``N`` (images already smaller are not enlarged),
and its long side keeps the aspect ratio (rounded). The scale per axis is
``(new_w / W, new_h / H)``; the converter multiplies the boxes by it, and the COCO JSON's
``file_name``, ``width`` and ``height`` refer to the cached image.
"""
from __future__ import annotations

import os
from typing import Tuple

import cv2

from .io_utils import jpeg_info

JPEG_QUALITY = 95


def cached_size(width: int, height: int, short_side: int) -> Tuple[int, int]:
    """``(new_w, new_h)`` of the cached copy of a ``width x height`` image."""
    short = min(width, height)
    if short <= short_side:
        return width, height
    scale = short_side / short
    if width <= height:
        return short_side, max(1, int(round(height * scale)))
    return max(1, int(round(width * scale))), short_side


def _reduced_read_flag(width: int, height: int, short_side: int) -> int:
    """The cheapest libjpeg DCT-domain reduction that still leaves ``short_side`` px."""
    short = min(width, height)
    for factor, flag in ((8, cv2.IMREAD_REDUCED_GRAYSCALE_8),
                         (4, cv2.IMREAD_REDUCED_GRAYSCALE_4),
                         (2, cv2.IMREAD_REDUCED_GRAYSCALE_2)):
        if short // factor >= short_side:
            return flag
    return cv2.IMREAD_GRAYSCALE


def write_cached_image(src: str, dst: str, width: int, height: int,
                       short_side: int) -> Tuple[int, int]:
    """Write the resized grey copy of ``src`` (``width x height``) to ``dst``.

    An existing ``dst`` of the expected size is kept (re-runs only add missing files).

    Returns:
        ``(new_w, new_h)``.

    Raises:
        ValueError: naming ``src`` when OpenCV cannot decode it.
    """
    new_w, new_h = cached_size(width, height, short_side)
    if os.path.isfile(dst):
        try:
            if jpeg_info(dst) == (new_w, new_h):
                return new_w, new_h
        except ValueError:
            pass  # a broken cache file from an interrupted run: rewrite it
    img = cv2.imread(src, _reduced_read_flag(width, height, short_side))
    if img is None:
        raise ValueError(f'{src}: OpenCV cannot decode the image')
    if (img.shape[1], img.shape[0]) != (new_w, new_h):
        img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_AREA)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    tmp = f'{dst}.tmp.jpg'
    if not cv2.imwrite(tmp, img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
        raise ValueError(f'{dst}: could not write the cached image')
    os.replace(tmp, dst)
    return new_w, new_h
