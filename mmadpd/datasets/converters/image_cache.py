"""Pre-resized grey JPEG cache (``imagenome_to_coco --resize-short-side N``).

Training at GPU speed is bound by decoding full-size (~2500x3000) MIMIC-CXR JPEGs; a cache
whose short side is ``N`` (256 is plenty for a 224-px network) decodes ~100x faster.

The cached image is grey, its short side is ``N`` (images already smaller are not enlarged),
and its long side keeps the aspect ratio (rounded). The scale per axis is
``(new_w / W, new_h / H)``; the converter multiplies the boxes by it, and the COCO JSON's
``file_name``, ``width`` and ``height`` refer to the cached image.

A cached file is reused only while its source is unchanged: its first segment is a JPEG
comment holding the source's size and modification time (:func:`source_key`), so a source
replaced by another image (even one of the same pixel size) is decoded again.
"""
from __future__ import annotations

import os
import struct
from typing import Tuple

import cv2

from .io_utils import jpeg_info

JPEG_QUALITY = 95
_COM = b'\xff\xfe'  # JPEG comment marker


def source_key(src: str) -> bytes:
    """What a cached copy of ``src`` depends on besides its size: the source's byte size
    and modification time (ns), as the text of the cache file's JPEG comment."""
    st = os.stat(src)
    return f'mmadpd-cache-source size={st.st_size} mtime_ns={st.st_mtime_ns}'.encode()


def _with_comment(jpeg: bytes, text: bytes) -> bytes:
    """``jpeg`` with a COM segment holding ``text`` right after its SOI marker."""
    return jpeg[:2] + _COM + struct.pack('>H', len(text) + 2) + text + jpeg[2:]


def _cached_source_key(dst: str) -> bytes:
    """The comment written by :func:`write_cached_image` (b'' if there is none)."""
    with open(dst, 'rb') as f:
        head = f.read(6)
        if len(head) < 6 or head[:2] != b'\xff\xd8' or head[2:4] != _COM:
            return b''
        return f.read(struct.unpack('>H', head[4:6])[0] - 2)


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

    An existing ``dst`` of the expected size made from the same source file (same byte size
    and modification time, see :func:`source_key`) is kept, so re-runs only add missing
    or stale files.

    Returns:
        ``(new_w, new_h)``.

    Raises:
        ValueError: naming ``src`` when OpenCV cannot decode it.
    """
    new_w, new_h = cached_size(width, height, short_side)
    key = source_key(src)
    if os.path.isfile(dst):
        try:
            if _cached_source_key(dst) == key and jpeg_info(dst) == (new_w, new_h):
                return new_w, new_h
        except (OSError, ValueError):
            pass  # stale, or broken by an interrupted run: rewrite it
    img = cv2.imread(src, _reduced_read_flag(width, height, short_side))
    if img is None:
        raise ValueError(f'{src}: OpenCV cannot decode the image')
    if (img.shape[1], img.shape[0]) != (new_w, new_h):
        img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_AREA)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    ok, encoded = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError(f'{src}: could not encode the cached image')
    tmp = f'{dst}.tmp.jpg'
    try:
        with open(tmp, 'wb') as f:
            f.write(_with_comment(encoded.tobytes(), key))
        os.replace(tmp, dst)
    except OSError:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return new_w, new_h
