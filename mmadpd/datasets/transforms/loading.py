"""Grey image and annotation loading.

``LoadGreyImageFromFile`` keeps chest X-rays single-channel uint8 end to end: the data
preprocessor repeats the channel on the device, so DataLoader workers ship 1/3 of the
bytes (and no float copies).

``LoadADPDAnnotations`` turns ``data_info['instances']`` into numpy arrays (boxes stay
plain (N, 4) float32 xyxy arrays throughout mmadpd's pipelines, not mmdet
``HorizontalBoxes``: cheaper per sample, and every transform keeps the per-instance extras
such as ``gt_pathology_labels`` aligned through ``box_ops.keep_instances``).
"""
from __future__ import annotations

import os.path as osp
from typing import Optional

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.registry import TRANSFORMS

_JPEG_EXT = ('.jpg', '.jpeg')


def to_grey_uint8(img: np.ndarray, path: str = '') -> np.ndarray:
    """Any OpenCV-decoded image -> (H, W) uint8.

    Colour input is converted with OpenCV's luma weights; 16-bit (or wider) input is
    scaled so the image's maximum becomes 255 (zero stays zero), because the stored bit
    depth (12, 14, 16 bit) of medical PNGs varies and is not recorded in the file.
    """
    if img.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if img.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        img = cv2.cvtColor(img, code) if img.shape[2] in (3, 4) else img[..., 0]
    if img.dtype != np.uint8:
        if not np.issubdtype(img.dtype, np.number):
            raise ValueError(f'{path}: unsupported pixel type {img.dtype}')
        peak = float(img.max()) if img.size else 0.0
        img = np.clip(img.astype(np.float32) * (255.0 / peak if peak > 0 else 0.0) + 0.5,
                      0, 255).astype(np.uint8)
    return img


def read_grey(path: str, backend_args: Optional[dict] = None) -> np.ndarray:
    """Read an image file as (H, W) uint8 grey.

    JPEGs are decoded straight to grey (no colour conversion); other formats are read
    unchanged and converted with :func:`to_grey_uint8`.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be decoded (both naming ``path``).
    """
    is_jpeg = path.lower().endswith(_JPEG_EXT)
    flag = cv2.IMREAD_GRAYSCALE if is_jpeg else cv2.IMREAD_UNCHANGED
    if backend_args is None:
        img = cv2.imread(path, flag)
        if img is None and not osp.isfile(path):
            raise FileNotFoundError(f'{path}: image file not found')
    else:
        from mmengine import fileio
        buf = np.frombuffer(fileio.get(path, backend_args=backend_args), np.uint8)
        img = cv2.imdecode(buf, flag)
    if img is None:
        raise ValueError(f'{path}: image cannot be decoded (corrupt or unsupported file)')
    return to_grey_uint8(img, path)


@TRANSFORMS.register_module()
class LoadGreyImageFromFile(BaseTransform):
    """Load ``results['img_path']`` as a (H, W) uint8 grey image.

    Added keys: ``img``, ``img_shape`` and ``ori_shape`` (both (h, w)).

    Args:
        backend_args: mmengine file backend arguments (None: local files via OpenCV).
    """

    def __init__(self, backend_args: Optional[dict] = None) -> None:
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        img = read_grey(results['img_path'], self.backend_args)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(backend_args={self.backend_args})'


@TRANSFORMS.register_module()
class LoadADPDAnnotations(BaseTransform):
    """``data_info['instances']`` -> numpy ground truth.

    Added keys:
        ``gt_bboxes`` (N, 4) float32 xyxy in the pixels of the image as it is at this
        point of the pipeline (load after geometric test transforms to keep ORIGINAL
        pixels); ``gt_bboxes_labels`` (N,) int64; ``gt_ignore_flags`` (N,) bool;
        ``gt_pathology_labels`` (N, P) uint8 when the instances carry
        ``pathology_labels``; ``gt_image_labels`` (P,) uint8 when the data info carries
        image-level ``pathology_labels``.
    """

    def transform(self, results: dict) -> dict:
        instances = results.get('instances', [])
        n = len(instances)
        results['gt_bboxes'] = np.array([i['bbox'] for i in instances],
                                        dtype=np.float32).reshape(n, 4)
        results['gt_bboxes_labels'] = np.array([i['bbox_label'] for i in instances],
                                               dtype=np.int64)
        results['gt_ignore_flags'] = np.array([bool(i.get('ignore_flag', 0))
                                               for i in instances], dtype=bool)
        if n and 'pathology_labels' in instances[0]:
            results['gt_pathology_labels'] = np.array(
                [i['pathology_labels'] for i in instances], dtype=np.uint8)
        elif 'pathology_labels' in results:
            results['gt_pathology_labels'] = np.zeros(
                (0, len(results['pathology_labels'])), np.uint8)
        if 'pathology_labels' in results:
            results['gt_image_labels'] = np.asarray(results['pathology_labels'], np.uint8)
        return results
