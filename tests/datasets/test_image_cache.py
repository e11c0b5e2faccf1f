"""The resized JPEG cache is reused only while its source is unchanged (issue 21)."""
import os

import cv2
import numpy as np

from mmadpd.datasets.converters import image_cache


def test_cache_is_rewritten_when_the_source_changes(tmp_path):
    src, dst = str(tmp_path / 'src.jpg'), str(tmp_path / 'cache' / 'dst.jpg')
    cv2.imwrite(src, np.full((400, 300), 40, np.uint8))
    assert image_cache.write_cached_image(src, dst, 300, 400, 100) == (100, 133)
    first = os.stat(dst).st_mtime_ns
    image_cache.write_cached_image(src, dst, 300, 400, 100)
    assert os.stat(dst).st_mtime_ns == first  # unchanged source: reused
    # same pixel size, other content (a re-downloaded or corrected image)
    cv2.imwrite(src, np.full((400, 300), 200, np.uint8))
    os.utime(src, ns=(first + 10 ** 9, first + 10 ** 9))
    image_cache.write_cached_image(src, dst, 300, 400, 100)
    assert abs(int(cv2.imread(dst, cv2.IMREAD_GRAYSCALE).mean()) - 200) <= 2
    assert not [f for f in os.listdir(tmp_path / 'cache') if f.endswith('.tmp.jpg')]


def test_cache_without_the_source_key_is_not_trusted(tmp_path):
    src, dst = str(tmp_path / 'src.jpg'), str(tmp_path / 'dst.jpg')
    cv2.imwrite(src, np.full((400, 300), 40, np.uint8))
    cv2.imwrite(dst, np.full((133, 100), 250, np.uint8))  # right size, other image
    image_cache.write_cached_image(src, dst, 300, 400, 100)
    assert abs(int(cv2.imread(dst, cv2.IMREAD_GRAYSCALE).mean()) - 40) <= 2
