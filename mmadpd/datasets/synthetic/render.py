"""Render a phantom to an 8-bit grey radiograph.

Densities are composed on the working grid (brighter = more attenuating, 0-1 scale):
air outside the body, soft tissue, dark lungs with vessel and parenchymal texture, brighter
mediastinum / heart / abdomen, brightest bones (spine, clavicles, rib arcs), plus the
lesions' additive densities. The sum is blurred, upsampled to full resolution, and gets
quantum noise, a random window (contrast) and gamma before 8-bit quantisation.
"""
from __future__ import annotations

from typing import Dict, Sequence

import cv2
import numpy as np

from .geometry import CanonicalGrid, Thorax, diaphragm_v, ellipse
from .lesions import Lesion
from .textures import draw_ribs, draw_vertebrae, draw_vessels, noise_patch


def _soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma)


def render_density(rng: np.random.Generator, t: Thorax, grid: CanonicalGrid,
                   masks: Dict[str, np.ndarray], lesions: Sequence[Lesion]) -> np.ndarray:
    """Float32 density map (h, w) on the working grid, roughly in [0, 1]."""
    u, v = grid.u, grid.v
    shape = grid.shape
    edge = max(0.8, 1.2 * 256 / max(shape))  # softness of organ borders (working px)
    au = np.abs(u)
    # body outline: neck above the apices, shoulders and chest wall, patient-size dependent
    shoulder = np.clip((v + 0.3) / 0.32, 0, 1)
    shoulder = shoulder * shoulder * (3 - 2 * shoulder)  # smoothstep: neck -> shoulders
    half = 0.4 + (t.body_width + 0.25 - 0.4) * shoulder \
        - 0.12 * np.clip(v - 0.9, 0, None) - 0.2 * np.clip(v - 0.15, 0, 0.6)
    body = _soft(au <= half, 2.0 * edge)
    dens = 0.04 + 0.5 * body * (1.0 + 0.06 * (t.body_width - 1.2))

    lungs = masks['right lung'] | masks['left lung']
    lung_soft = _soft(lungs, edge)
    suppress = np.zeros(shape, np.float32)
    for les in lesions:
        if les.suppress_texture is not None:
            suppress = np.maximum(suppress, _soft(les.suppress_texture, 0.8))
    texture_gain = lung_soft * (1.0 - suppress)
    # lungs darkest laterally at mid height; bases and hila overlap more soft tissue
    lung_shape = (1.0 - 0.3 * np.clip((v - 0.65) / 0.35, 0, 1)
                  - 0.12 * np.exp(-((au - 0.3) / 0.18) ** 2)
                  - 0.15 * np.clip((0.12 - v) / 0.12, 0, 1))
    dens -= rng.uniform(0.28, 0.34) * lung_soft * lung_shape

    heart = masks['cardiac silhouette']
    dens += 0.05 * _soft(heart, edge) + 0.05 * _soft(masks['mediastinum'], 2 * edge)
    below = np.zeros(shape, bool)
    for side in ('right', 'left'):
        below |= (v > diaphragm_v(t, side, u) + 0.005) & ((u < 0) == (side == 'right'))
    cage = au < np.maximum(t.lung_width['right'], t.lung_width['left']) + 0.04
    dens += 0.08 * _soft(below & (v > 0.5) & cage, edge) * body
    bubble = ellipse(u, v, 0.45, float(diaphragm_v(t, 'left', np.array([0.45]))[0]) + 0.09,
                     0.15, 0.06)
    dens -= 0.16 * _soft(bubble, 2 * edge)
    trachea = masks['trachea']
    dens -= 0.1 * _soft(trachea, edge)

    bones = 0.05 * _soft((au < 0.11) & (v > -0.6), edge)
    bones += 0.05 * _soft(draw_vertebrae(t, grid.step, shape) > 0.5, edge)
    bones += 0.2 * _soft(masks['right clavicle'] | masks['left clavicle'], edge)
    inside = _soft((au < t.lung_width['right'] + 0.12) & (v > -0.25) & (v < 1.05), 3.0)
    bones += 0.05 * _soft(draw_ribs(rng, t, grid.step, shape), 0.8) * inside
    dens += bones

    vessels = _soft(draw_vessels(rng, t, grid.step, shape), 1.0)
    dens += 0.14 * vessels * texture_gain
    dens += 0.03 * noise_patch(rng, shape, 'mid') * texture_gain
    dens += 0.04 * noise_patch(rng, shape, 'fine') * texture_gain

    for les in lesions:
        if les.density is not None:
            dens += les.density
    # slow exposure gradient (anode heel, positioning)
    gx, gy = rng.normal(0, 0.04, size=2)
    h, w = shape
    ramp = (gx * (np.arange(w, dtype=np.float32)[None, :] / w - 0.5)
            + gy * (np.arange(h, dtype=np.float32)[:, None] / h - 0.5))
    return (dens * (1.0 + ramp)).astype(np.float32)


def finish_image(rng: np.random.Generator, dens: np.ndarray, width: int, height: int,
                 view: str) -> np.ndarray:
    """Blur, upsample, add noise and apply a random window/gamma -> uint8 (height, width)."""
    dens = cv2.GaussianBlur(dens, (0, 0), rng.uniform(0.5, 1.0))
    if dens.shape != (height, width):
        dens = cv2.resize(dens, (width, height), interpolation=cv2.INTER_LINEAR)
    dens = dens + rng.normal(0, rng.uniform(0.004, 0.01), size=dens.shape).astype(np.float32)
    lo = rng.uniform(0.0, 0.06)
    hi = rng.uniform(0.78, 0.9) + (0.05 if view == 'AP' else 0.0)
    img = np.clip((dens - lo) / (hi - lo), 0, 1)
    img = img ** rng.uniform(0.8, 1.2)
    return (img * 255 + 0.5).astype(np.uint8)
