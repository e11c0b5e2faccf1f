"""README mosaic of phantoms with region and lesion boxes."""
import os

import cv2
import numpy as np

from mmadpd.datasets.synthetic import render_mosaic
from mmadpd.datasets.synthetic.mosaic import MOSAIC_KINDS

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_render_mosaic(tmp_path):
    path = str(tmp_path / 'mosaic.png')
    mosaic = render_mosaic(path, tile=120, size=192)
    assert len(MOSAIC_KINDS) == 8
    assert mosaic.shape[0] == 2 * 120 and mosaic.ndim == 3
    assert os.path.getsize(path) < 300 * 1024
    saved = cv2.imread(path)
    assert saved.shape == mosaic.shape
    b, g, r = (saved[..., k].astype(int) for k in range(3))
    red = (r > 200) & (g < 60) & (b < 60)         # lesion boxes
    colourful = (np.abs(r - g) > 60) | (np.abs(g - b) > 60)  # region boxes
    assert red.sum() > 8 * 40 and colourful.sum() > red.sum()
    # every tile holds a lesion box
    for row in range(2):
        for col in range(4):
            tile = red[row * 120:(row + 1) * 120, col * mosaic.shape[1] // 4:
                       (col + 1) * mosaic.shape[1] // 4]
            assert tile.any(), (row, col)


def test_committed_mosaic_is_small():
    path = os.path.join(REPO, 'resources', 'phantom_mosaic.png')
    assert os.path.isfile(path) and os.path.getsize(path) < 300 * 1024
