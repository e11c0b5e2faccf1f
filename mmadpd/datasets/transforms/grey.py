"""``ConvertToGrey``: the step after mmcv's/mmdet's image loaders that makes their output
a chest X-ray as mmadpd's pipelines expect it, (H, W) uint8 grey.

The test pipelines start with ``LoadImageFromFile`` (``color_type='unchanged'``) so that
mmdet's ``DetInferencer`` and ``inference_detector`` recognise the loader and swap it for
their file/array loaders; this transform then converts whatever they decoded (grey, BGR,
BGRA, 16-bit) exactly as ``LoadGreyImageFromFile`` would.
"""
from __future__ import annotations

from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS

from .loading import to_grey_uint8


@TRANSFORMS.register_module()
class ConvertToGrey(BaseTransform):
    """``results['img']`` (H, W), (H, W, 1), (H, W, 3) BGR or (H, W, 4) BGRA, any integer or
    float dtype -> (H, W) uint8 (see :func:`loading.to_grey_uint8`; wider than 8 bit is
    scaled so the image's maximum becomes 255).

    Updates ``img`` and ``img_shape``; ``ori_shape`` is left as the loader set it (the
    conversion changes no pixel positions).
    """

    def transform(self, results: dict) -> dict:
        img = to_grey_uint8(results['img'], str(results.get('img_path') or 'array input'))
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        return results
