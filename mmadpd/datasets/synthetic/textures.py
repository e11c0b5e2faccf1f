"""Precomputed noise textures and line-drawn structures (vessels, ribs) of the phantoms.

The noise bank is built once per process from a FIXED seed, so every worker process holds
identical textures and an image's pixels depend only on its own random generator (which
picks the crop), never on which worker rendered it.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Tuple

import cv2
import numpy as np

from .geometry import SIDES, Thorax, medial_border, thorax_to_pixels

BANK_SIZE = 400
#: Gaussian sigmas (working pixels) of the band-pass noise scales.
NOISE_SCALES = {'fine': 1.0, 'mid': 3.0, 'coarse': 9.0}


@lru_cache(maxsize=1)
def noise_bank() -> dict:
    """``{scale: float32 array (2, BANK_SIZE, BANK_SIZE)}`` of zero-mean, unit-std noise."""
    rs = np.random.RandomState(20230501)
    bank = {}
    for name, sigma in NOISE_SCALES.items():
        layers = []
        for _ in range(2):
            white = rs.standard_normal((BANK_SIZE, BANK_SIZE)).astype(np.float32)
            low = cv2.GaussianBlur(white, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
            band = low - cv2.GaussianBlur(low, (0, 0), sigma * 4, borderType=cv2.BORDER_REFLECT)
            layers.append((band - band.mean()) / (band.std() + 1e-6))
        bank[name] = np.stack(layers)
    return bank


def noise_patch(rng: np.random.Generator, shape: Tuple[int, int], scale: str) -> np.ndarray:
    """A random (h, w) crop of the bank at ``scale`` (tiled when the grid is larger)."""
    layers = noise_bank()[scale]
    h, w = shape
    src = layers[int(rng.integers(len(layers)))]
    if h > BANK_SIZE or w > BANK_SIZE:
        src = np.tile(src, (-(-h // BANK_SIZE) + 1, -(-w // BANK_SIZE) + 1))
    y0 = int(rng.integers(src.shape[0] - h + 1))
    x0 = int(rng.integers(src.shape[1] - w + 1))
    return src[y0:y0 + h, x0:x0 + w]


def _to_working(t: Thorax, step: int, u, v) -> np.ndarray:
    x, y = thorax_to_pixels(t, u, v)
    # cv2 drawing with 4 fractional bits (shift=4) keeps thin lines smooth
    return np.stack([(x + 0.5) / step - 0.5, (y + 0.5) / step - 0.5], -1) * 16


def draw_vessels(rng: np.random.Generator, t: Thorax, step: int,
                 shape: Tuple[int, int]) -> np.ndarray:
    """Branching vessel-like lines radiating from both hila, float32 (h, w) in [0, 1].

    Vessels get thinner and fainter towards the periphery as in real lungs.
    """
    canvas = np.zeros(shape, np.float32)
    iso = t.lung_height_px / t.half_width_px  # keeps branch angles isotropic in pixels
    base_w = max(1.0, 0.012 * t.half_width_px / step)
    for side, s in SIDES.items():
        hil_u = s * (float(medial_border(t, side, np.array([0.48]))[0]) + 0.03)
        stack = []
        for k in range(7):
            ang = np.deg2rad(-75 + k * 25 + rng.normal(0, 8))
            stack.append((hil_u, 0.48 + rng.normal(0, 0.03), ang, 0.22 + 0.05 * rng.random(), 0))
        while stack:
            u0, v0, ang, length, depth = stack.pop()
            n = 6
            us = [u0]
            vs = [v0]
            a = ang
            for _ in range(n):
                a += rng.normal(0, 0.12)
                us.append(us[-1] + s * np.cos(a) * length / n)
                vs.append(vs[-1] + np.sin(a) * length / n * iso * 0.55)
            pts = _to_working(t, step, np.array(us), np.array(vs)).astype(np.int32)
            width = max(1, int(round(base_w * (1.8 - 0.45 * depth))))
            cv2.polylines(canvas, [pts], False, 1.0 - 0.18 * depth, width, cv2.LINE_AA, 4)
            if depth < 3:
                for da in (-0.45, 0.45):
                    stack.append((us[-1], vs[-1], a + da + rng.normal(0, 0.15),
                                  length * rng.uniform(0.6, 0.85), depth + 1))
    return canvas


def draw_ribs(rng: np.random.Generator, t: Thorax, step: int,
              shape: Tuple[int, int]) -> np.ndarray:
    """Posterior (brighter) and anterior (fainter) rib arcs, float32 (h, w) in [0, 1]."""
    canvas = np.zeros(shape, np.float32)
    thick = max(1, int(round(0.028 * t.lung_height_px / step)))
    tt = np.linspace(0.0, 1.0, 24)
    spacing = rng.uniform(0.095, 0.11)
    for side, s in SIDES.items():
        for k in range(11):
            v0 = -0.08 + k * spacing
            # posterior rib: leaves the spine, rises a little, curves down at the wall
            u = s * (0.1 + tt * (t.lung_width[side] + 0.06))
            v = v0 - 0.05 * np.sin(np.pi * tt * 0.8) + 0.2 * tt ** 2.5
            cv2.polylines(canvas, [_to_working(t, step, u, v).astype(np.int32)], False, 1.0,
                          thick, cv2.LINE_AA, 4)
            if 0 < k < 8:  # anterior rib: from the wall downwards to the sternum
                ua = s * (t.lung_width[side] + 0.02 - tt * 0.65)
                va = v0 + 0.16 + 0.22 * tt - 0.05 * tt ** 2
                cv2.polylines(canvas, [_to_working(t, step, ua, va).astype(np.int32)], False,
                              0.45, max(1, thick - 1), cv2.LINE_AA, 4)
    return canvas


def draw_vertebrae(t: Thorax, step: int, shape: Tuple[int, int]) -> np.ndarray:
    """Vertebral bodies with darker disc spaces along the midline, float32 (h, w)."""
    canvas = np.zeros(shape, np.float32)
    for k in range(22):
        v0 = -0.25 + k * 0.075
        corners_u = np.array([-0.1, 0.1, 0.1, -0.1])
        corners_v = np.array([v0, v0, v0 + 0.058, v0 + 0.058])
        pts = _to_working(t, step, corners_u, corners_v).astype(np.int32)
        cv2.fillPoly(canvas, [pts], 1.0, cv2.LINE_AA, 4)
    return canvas
