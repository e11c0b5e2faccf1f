"""Parametric frontal thorax of one phantom and the masks of its anatomical regions.

Coordinate frames (all numpy, no torch):

* image pixels ``(x, y)``: x to the right, y down, origin at the top-left corner of the
  full-resolution image (``width`` x ``height``). The patient's RIGHT is on the image's LEFT.
* canonical thorax frame ``(u, v)``: the thorax before rotation, with ``u`` = horizontal
  offset from the midline in units of the thorax half-width (``u < 0`` = image left =
  patient right) and ``v`` = height below the lung apices in units of the lung height
  (``v = 0`` apex, ``v ~ 1`` costophrenic angles). ``thorax_to_pixels`` / ``CanonicalGrid``
  convert between the two (a similarity transform: scale, rotation about the thorax centre,
  translation).

Masks are evaluated on a *working grid*: every ``step``-th pixel of the full image
(``step`` = 1 for small images, 2 at 512 px) to keep generation fast; boxes computed from
them are mapped back to full-resolution pixels by ``mask_box``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from mmadpd.anatomy import REGIONS, UNUSED_REGIONS

SIDES = {'right': -1.0, 'left': 1.0}  # sign of u on the image (patient right = image left)


@dataclass
class Thorax:
    """Parameters of one sampled thorax (canonical units unless stated otherwise)."""

    width: int               # full image size in pixels
    height: int
    view: str                # 'PA' or 'AP'
    cx: float                # thorax centre in pixels (rotation centre, v = 0.5)
    cy: float
    half_width_px: float     # thorax half-width (u = 1) in pixels
    lung_height_px: float    # apex-to-costophrenic height (v: 0 -> 1) in pixels
    angle_deg: float         # in-plane rotation about (cx, cy), degrees (+-5)
    lung_width: Dict[str, float]      # lateral extent of each lung (|u| of the wall)
    cp_level: Dict[str, float]        # v of each costophrenic angle
    dome_height: Dict[str, float]     # how far each hemidiaphragm dome rises above its CP
    upper_mediastinum: float          # half-width of the upper mediastinum
    heart_cx: float                   # heart ellipse centre u (> 0: towards patient left)
    heart_cy: float                   # heart ellipse centre v
    heart_a: float                    # heart half-width (= cardiothoracic ratio)
    heart_b: float                    # heart half-height
    trachea_u: float
    carina_v: float
    clavicle_v: float                 # v of the clavicles' sternal ends
    body_width: float                 # soft-tissue half-width (patient size)

    @property
    def ctr(self) -> float:
        """Cardiothoracic ratio: heart width / inner thorax width."""
        return 2 * self.heart_a / (self.lung_width['right'] + self.lung_width['left'])

    @property
    def heart_top(self) -> float:
        return self.heart_cy - self.heart_b


def sample_thorax(rng: np.random.Generator, width: int, height: int, view: str = 'PA',
                  enlarged_heart: bool = False) -> Thorax:
    """Draw the anatomy of one phantom so that the thorax fits inside ``width`` x ``height``.

    ``enlarged_heart`` sets the cardiothoracic ratio to 0.56-0.66 (normal: 0.38-0.47; AP
    views magnify the heart by a further ~0.03, staying below 0.5 when normal).
    """
    ap = view == 'AP'
    half_w = width * rng.uniform(0.30, 0.38)
    lung_h = 2 * half_w * rng.uniform(0.82, 1.0) * (0.93 if ap else 1.0)
    # Keep neck (0.2 lung heights) above and abdomen (0.25) below inside the frame.
    fit = min(1.0, 0.9 * height / (1.45 * lung_h), 0.86 * width / (2.3 * half_w))
    half_w, lung_h = half_w * fit, lung_h * fit
    top_min, top_max = 0.2 * lung_h, height - 1.25 * lung_h
    apex_y = rng.uniform(top_min, max(top_min, min(top_max, top_min + 0.12 * height)))
    cx = width / 2 + rng.normal(0, 0.025) * width
    cy = apex_y + 0.5 * lung_h
    cp_right = rng.uniform(0.9, 0.98)  # right hemidiaphragm usually higher (the liver)
    cp_left = min(1.05, cp_right + rng.uniform(0.0, 0.07))
    if enlarged_heart:
        ctr = rng.uniform(0.56, 0.66)
    else:
        ctr = rng.uniform(0.38, 0.45) + (0.03 if ap else 0.0)
    lung_w = {'right': rng.uniform(0.92, 1.0), 'left': rng.uniform(0.92, 1.0)}
    heart_a = ctr * (lung_w['right'] + lung_w['left']) / 2
    return Thorax(
        width=width, height=height, view=view, cx=cx, cy=cy,
        half_width_px=half_w, lung_height_px=lung_h,
        angle_deg=rng.uniform(-5, 5),
        lung_width=lung_w,
        cp_level={'right': cp_right, 'left': cp_left},
        dome_height={'right': rng.uniform(0.1, 0.16), 'left': rng.uniform(0.08, 0.14)},
        upper_mediastinum=rng.uniform(0.14, 0.2) * (1.1 if ap else 1.0),
        heart_cx=rng.uniform(0.1, 0.17),
        heart_cy=rng.uniform(0.72, 0.78),
        heart_a=heart_a,
        heart_b=rng.uniform(0.24, 0.3),
        trachea_u=rng.normal(0, 0.02),
        carina_v=rng.uniform(0.28, 0.34),
        clavicle_v=rng.uniform(0.06, 0.12) - (0.06 if ap else 0.0),
        body_width=rng.uniform(1.15, 1.4),
    )


def thorax_to_pixels(t: Thorax, u, v) -> Tuple[np.ndarray, np.ndarray]:
    """Canonical ``(u, v)`` -> full-resolution pixel ``(x, y)`` (arrays broadcast)."""
    th = np.deg2rad(t.angle_deg)
    du = np.asarray(u, dtype=np.float64) * t.half_width_px
    dv = (np.asarray(v, dtype=np.float64) - 0.5) * t.lung_height_px
    return (t.cx + np.cos(th) * du - np.sin(th) * dv,
            t.cy + np.sin(th) * du + np.cos(th) * dv)


class CanonicalGrid:
    """Canonical coordinates of every working-grid pixel.

    Attributes:
        step: subsampling of the full image (working pixel ``(i, j)`` is full pixel
            ``(j * step, i * step)`` at its top-left corner).
        shape: working grid (h, w).
        u, v: float32 arrays (h, w), canonical coordinates of the working pixel centres.
        sx, sy: pixels-per-canonical-unit of ``u`` and ``v`` on the WORKING grid, used to
            build round (isotropic) shapes.
    """

    def __init__(self, t: Thorax, step: int = 1):
        self.step = int(step)
        h = -(-t.height // self.step)
        w = -(-t.width // self.step)
        self.shape = (h, w)
        ys = (np.arange(h, dtype=np.float64) + 0.5) * self.step - 0.5
        xs = (np.arange(w, dtype=np.float64) + 0.5) * self.step - 0.5
        th = np.deg2rad(t.angle_deg)
        dx = xs[None, :] - t.cx
        dy = ys[:, None] - t.cy
        self.u = ((np.cos(th) * dx + np.sin(th) * dy) / t.half_width_px).astype(np.float32)
        self.v = ((-np.sin(th) * dx + np.cos(th) * dy) / t.lung_height_px
                  + 0.5).astype(np.float32)
        self.sx = t.half_width_px / self.step
        self.sy = t.lung_height_px / self.step
        self.full_size = (t.width, t.height)

    def to_working(self, x, y):
        """Full-resolution pixel coordinates -> working-grid pixel coordinates."""
        return (np.asarray(x) + 0.5) / self.step - 0.5, (np.asarray(y) + 0.5) / self.step - 0.5


def mask_box(mask: np.ndarray, step: int, full_size: Tuple[int, int]
             ) -> Optional[Tuple[int, int, int, int]]:
    """Box ``(x1, y1, x2, y2)`` in full-resolution pixels (x2/y2 exclusive) of a working
    mask, or None when the mask is empty."""
    cols = np.flatnonzero(mask.any(axis=0))
    if cols.size == 0:
        return None
    rows = np.flatnonzero(mask.any(axis=1))
    w, h = full_size
    return (int(cols[0] * step), int(rows[0] * step),
            int(min(w, (cols[-1] + 1) * step)), int(min(h, (rows[-1] + 1) * step)))


# --------------------------------------------------------------------------- outlines

def diaphragm_v(t: Thorax, side: str, u: np.ndarray) -> np.ndarray:
    """v of the hemidiaphragm under ``|u|``: a dome peaking at |u| ~ 0.45, lowest at the
    costophrenic angle (lateral) and sloping into the cardiophrenic angle (medial)."""
    au = np.abs(u)
    return t.cp_level[side] - t.dome_height[side] * np.exp(-((au - 0.45) / 0.33) ** 2)


def heart_half_extent(t: Thorax, v: np.ndarray) -> np.ndarray:
    """Horizontal half-extent of the heart ellipse at height v (0 outside its span)."""
    q = 1.0 - ((v - t.heart_cy) / t.heart_b) ** 2
    return t.heart_a * np.sqrt(np.clip(q, 0.0, None))


def medial_border(t: Thorax, side: str, v: np.ndarray) -> np.ndarray:
    """|u| of a lung's medial border: mediastinum, aortic knob (left) and heart."""
    s = SIDES[side]
    med = np.full_like(v, t.upper_mediastinum)
    if side == 'left':  # aortic knob bulges into the left upper lung
        med = np.maximum(med, t.upper_mediastinum + 0.08 * np.exp(-((v - 0.24) / 0.07) ** 2))
    ext = heart_half_extent(t, v)
    heart_edge = s * t.heart_cx + ext  # |u| of the heart border on this side
    inside = ext > 0
    return np.where(inside, np.maximum(med, heart_edge), med)


def lung_mask(t: Thorax, side: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of one lung (evaluable at any canonical coordinates)."""
    s = SIDES[side]
    au = u * s  # > 0 on this lung's side
    lw = t.lung_width[side]
    lat = lw * (0.93 + 0.07 * np.clip(v, 0, 1))
    cap_c, cap_r = 0.52 * lw, 0.44 * lw  # rounded apex: half-ellipse cap
    cap = ((au - cap_c) / cap_r) ** 2 + ((v - 0.26) / 0.26) ** 2 <= 1.0
    body = (v >= 0.26) & (au <= lat)
    return (cap | body) & (au >= medial_border(t, side, v)) & (v <= diaphragm_v(t, side, u))


def heart_mask(t: Thorax, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    dia = np.where(u < 0, diaphragm_v(t, 'right', u), diaphragm_v(t, 'left', u))
    inside = ((u - t.heart_cx) / t.heart_a) ** 2 + ((v - t.heart_cy) / t.heart_b) ** 2 <= 1
    return inside & (v <= dia + 0.03)


def ellipse(u, v, cu, cv, au, av):
    return ((u - cu) / au) ** 2 + ((v - cv) / av) ** 2 <= 1.0


def capsule(u, v, p0, p1, radius_u, radius_v):
    """Thick segment from p0 to p1 (canonical), distance measured in scaled units."""
    pu, pv = u / radius_u, v / radius_v
    a = np.array([p0[0] / radius_u, p0[1] / radius_v])
    b = np.array([p1[0] / radius_u, p1[1] / radius_v])
    d = b - a
    tt = np.clip(((pu - a[0]) * d[0] + (pv - a[1]) * d[1]) / float(d @ d), 0, 1)
    return (pu - a[0] - tt * d[0]) ** 2 + (pv - a[1] - tt * d[1]) ** 2 <= 1.0


def clavicle_endpoints(t: Thorax, side: str):
    s = SIDES[side]
    return ((s * 0.1, t.clavicle_v + 0.06), (s * 1.12, t.clavicle_v - 0.07))


# --------------------------------------------------------------------------- regions

def region_masks(t: Thorax, grid: CanonicalGrid, include_unused: bool = True
                 ) -> Dict[str, np.ndarray]:
    """Boolean working-grid masks of the 29 ADPD regions (and the 7 unused silver ones).

    Geometry (canonical units): lung zones are vertical thirds of each lung between its apex
    and its costophrenic angle; the apical zone is the top 18 %; hilar structures an ellipse
    straddling the medial border at mid height; costophrenic angles the lower-lateral corner
    of each lung; hemidiaphragms a band along the dome; trachea / carina / spine on the
    midline; aortic arch the knob left of the trachea; svc right of the trachea above the
    heart; the abdomen below both domes. Regions overlap as real ones do (a zone lies inside
    its lung, the heart inside the mediastinum, ...).
    """
    u, v = grid.u, grid.v
    m: Dict[str, np.ndarray] = {}
    heart = heart_mask(t, u, v)
    for side in ('right', 'left'):
        s = SIDES[side]
        lung = lung_mask(t, side, u, v)
        cp = t.cp_level[side]
        third = cp / 3.0
        au = u * s
        lw = t.lung_width[side]
        med_mid = float(medial_border(t, side, np.array([0.45]))[0])
        dia = diaphragm_v(t, side, u)
        m[f'{side} lung'] = lung
        m[f'{side} upper lung zone'] = lung & (v < third)
        m[f'{side} mid lung zone'] = lung & (v >= third) & (v < 2 * third)
        m[f'{side} lower lung zone'] = lung & (v >= 2 * third)
        m[f'{side} hilar structures'] = ellipse(au, v, med_mid + 0.1, 0.47, 0.17, 0.11)
        m[f'{side} apical zone'] = lung & (v < 0.18 * cp)
        m[f'{side} costophrenic angle'] = lung & (au > 0.62 * lw) & (v > cp - 0.16)
        m[f'{side} hemidiaphragm'] = ((np.abs(v - dia) < 0.035) & (au > 0.14)
                                      & (au < lw + 0.02) & ~(heart & (v < dia - 0.01)))
    tu = t.trachea_u
    m['trachea'] = (np.abs(u - tu) < 0.07) & (v > -0.2) & (v < t.carina_v)
    m['spine'] = (np.abs(u) < 0.12) & (v > -0.25) & (v < 1.35)
    m['right clavicle'] = capsule(u, v, *clavicle_endpoints(t, 'right'), 0.05, 0.035)
    m['left clavicle'] = capsule(u, v, *clavicle_endpoints(t, 'left'), 0.05, 0.035)
    m['aortic arch'] = ellipse(u, v, t.upper_mediastinum + 0.02, 0.24, 0.12, 0.075)
    med_r = medial_border(t, 'right', v)
    med_l = medial_border(t, 'left', v)
    dia_mid = np.where(u < 0, diaphragm_v(t, 'right', u), diaphragm_v(t, 'left', u))
    mediastinum = (u > -med_r) & (u < med_l) & (v > 0.08) & (v < dia_mid + 0.02)
    m['mediastinum'] = mediastinum
    m['upper mediastinum'] = mediastinum & (v < t.heart_top + 0.04)
    m['svc'] = (u > -t.upper_mediastinum - 0.02) & (u < tu - 0.04) & (v > 0.14) \
        & (v < t.heart_top + 0.1)
    m['cardiac silhouette'] = heart
    ra_u = t.heart_cx - t.heart_a + 0.1
    m['cavoatrial junction'] = ellipse(u, v, ra_u, t.heart_top + 0.09, 0.08, 0.05)
    m['right atrium'] = heart & (u < t.heart_cx - 0.35 * t.heart_a) & (v > t.heart_cy - 0.12)
    m['carina'] = ellipse(u, v, tu, t.carina_v, 0.11, 0.05)
    below = v > dia_mid + 0.02
    m['abdomen'] = below & (np.abs(u) < 1.0) & (v < dia_mid + 0.5)
    if include_unused:
        for side, sgn in SIDES.items():
            edge = t.heart_cx + sgn * t.heart_a * 0.8
            dv = float(diaphragm_v(t, side, np.array([edge]))[0])
            m[f'{side} cardiophrenic angle'] = ellipse(u, v, edge, dv - 0.04, 0.09, 0.06)
            m[f'{side} cardiac silhouette'] = heart & ((u - t.heart_cx) * sgn > -0.08)
            m[f'{side} upper abdomen'] = below & (u * sgn > 0) & (np.abs(u) < 0.95) \
                & (v < dia_mid + 0.25)
        m['descending aorta'] = (u > 0.05) & (u < 0.17) & (v > 0.26) & (v < 0.98)
    for name in m:  # keep the masks' order fixed
        assert name in REGIONS or name in UNUSED_REGIONS, name
    return m


def region_boxes(masks: Dict[str, np.ndarray], grid: CanonicalGrid
                 ) -> Dict[str, Optional[Tuple[int, int, int, int]]]:
    """Full-resolution ``(x1, y1, x2, y2)`` box of every region mask (None if off-image)."""
    return {name: mask_box(mask, grid.step, grid.full_size) for name, mask in masks.items()}
