"""A mosaic of phantoms with their region boxes (thin, coloured) and lesion boxes (red),
used in the README and as a quick visual check of the generator."""
from __future__ import annotations

import os
from typing import Optional, Sequence

import cv2
import numpy as np

from mmadpd.anatomy import REGIONS

from .phantom import make_phantom

#: One lesion kind combination per tile so the mosaic shows every kind.
MOSAIC_KINDS = (('pneumonia',), ('effusion',), ('cardiomegaly',), ('mass',),
                ('nodule', 'infiltration'), ('pneumothorax',), ('atelectasis',),
                ('multi_nodules',))


def render_mosaic(out_path: Optional[str] = None, seed: int = 0, tile: int = 300,
                  cols: int = 4, kinds: Sequence[Sequence[str]] = MOSAIC_KINDS,
                  size: int = 512) -> np.ndarray:
    """Render ``len(kinds)`` phantoms (``size`` px, half PA / half AP), draw region boxes
    and lesion boxes, tile them ``cols`` wide at ``tile`` px height and optionally save a
    palette PNG to ``out_path`` (small enough for a README).

    Returns:
        The mosaic as a BGR uint8 array (rows * tile, cols * tile_w, 3).
    """
    tiles = []
    for i, ks in enumerate(kinds):
        rng = np.random.default_rng([seed, 99, i])
        w = int(round(size * 0.85))
        ph = make_phantom(rng, w, size, 'PA' if i % 2 == 0 else 'AP', kinds=list(ks))
        scale = tile / size
        img = cv2.cvtColor(cv2.resize(ph.image, (int(round(w * scale)), tile),
                                      interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR)
        for k, name in enumerate(REGIONS):
            box = ph.boxes.get(name)
            if box is None:
                continue
            hue = int(180 * k / len(REGIONS))
            color = cv2.cvtColor(np.uint8([[[hue, 200, 255]]]), cv2.COLOR_HSV2BGR)[0, 0]
            x1, y1, x2, y2 = (int(round(c * scale)) for c in box)
            cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), tuple(int(c) for c in color), 1)
        for les, box in zip(ph.lesions, ph.lesion_boxes):
            x1, y1, x2, y2 = (int(round(c * scale)) for c in box)
            cv2.rectangle(img, (x1, y1), (x2 - 1, y2 - 1), (0, 0, 255), 2)
            cv2.putText(img, les.kind, (x1, max(10, y1 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                        (0, 0, 255), 1, cv2.LINE_AA)
        tiles.append(img)
    tw = max(t.shape[1] for t in tiles)
    tiles = [cv2.copyMakeBorder(t, 0, 0, 0, tw - t.shape[1], cv2.BORDER_CONSTANT, value=0)
             for t in tiles]
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    mosaic = np.vstack([np.hstack(tiles[r:r + cols]) for r in range(0, len(tiles), cols)])
    if out_path:
        from PIL import Image  # pillow ships with matplotlib; palette PNGs stay small
        os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
        rgb = Image.fromarray(cv2.cvtColor(mosaic, cv2.COLOR_BGR2RGB))
        rgb.quantize(colors=80, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE) \
            .save(out_path, optimize=True)
    return mosaic
