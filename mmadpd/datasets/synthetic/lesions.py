"""Pathology lesions of the phantoms: which kinds exist, where they are drawn, their masks
and additive densities (working grid), and the geometric region-label rule.

Every lesion kind carries the training classes (``anatomy.PATHOLOGIES`` names) its regions
become positive for and the CXR8 class of its NIH-style box:

============== ======================================================= ==============
kind           training classes                                        CXR8 box label
============== ======================================================= ==============
pneumonia      pneumonia, consolidation, airspace opacity              Pneumonia
infiltration   infiltration, lung opacity                              Infiltration
atelectasis    atelectasis                                             Atelectasis
effusion       pleural effusion                                        Effusion
cardiomegaly   enlarged cardiac silhouette                             Cardiomegaly
mass           mass/nodule (not otherwise specified)                   Mass
nodule         mass/nodule (not otherwise specified)                   Nodule
multi_nodules  multiple masses/nodules                                 (MIMIC only)
pneumothorax   pneumothorax                                            Pneumothorax
============== ======================================================= ==============

Each CXR8 label's ``anatomy.CXR8_MAPPING`` entry contains at least one of the kind's
training classes, so region predictions map onto the right NIH class.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

from mmadpd.anatomy import PATHOLOGIES, REGIONS

from .geometry import (SIDES, CanonicalGrid, Thorax, capsule, diaphragm_v, lung_mask,
                       medial_border, thorax_to_pixels)
from .textures import noise_patch

LESION_CLASSES: Dict[str, Tuple[str, ...]] = {
    'pneumonia': ('pneumonia', 'consolidation', 'airspace opacity'),
    'infiltration': ('infiltration', 'lung opacity'),
    'atelectasis': ('atelectasis',),
    'effusion': ('pleural effusion',),
    'cardiomegaly': ('enlarged cardiac silhouette',),
    'mass': ('mass/nodule (not otherwise specified)',),
    'nodule': ('mass/nodule (not otherwise specified)',),
    'multi_nodules': ('multiple masses/nodules',),
    'pneumothorax': ('pneumothorax',),
}
LESION_CXR8: Dict[str, Optional[str]] = {
    'pneumonia': 'Pneumonia', 'infiltration': 'Infiltration', 'atelectasis': 'Atelectasis',
    'effusion': 'Effusion', 'cardiomegaly': 'Cardiomegaly', 'mass': 'Mass',
    'nodule': 'Nodule', 'multi_nodules': None, 'pneumothorax': 'Pneumothorax',
}
LESION_KINDS: Tuple[str, ...] = tuple(LESION_CLASSES)

#: Default per-image probability of each lesion kind (independent draws, several per image
#: possible). Every CXR8 class ends up in ~12-25 % of the images.
DEFAULT_PREVALENCE: Dict[str, float] = {
    'pneumonia': 0.2, 'infiltration': 0.2, 'atelectasis': 0.2, 'effusion': 0.2,
    'cardiomegaly': 0.2, 'mass': 0.12, 'nodule': 0.15, 'multi_nodules': 0.07,
    'pneumothorax': 0.15,
}

_SIDE_REGIONS = ('lung', 'upper lung zone', 'mid lung zone', 'lower lung zone',
                 'hilar structures', 'apical zone', 'costophrenic angle')
_LUNG_ELIGIBLE = tuple(f'{s} {r}' for s in SIDES for r in _SIDE_REGIONS)
#: Regions a kind may label (its lesion is clipped to lung / heart, so only these overlap
#: in a clinically meaningful way).
ELIGIBLE_REGIONS: Dict[str, Tuple[str, ...]] = {
    k: _LUNG_ELIGIBLE for k in LESION_KINDS}
ELIGIBLE_REGIONS['effusion'] = _LUNG_ELIGIBLE + ('right hemidiaphragm', 'left hemidiaphragm')
ELIGIBLE_REGIONS['cardiomegaly'] = ('cardiac silhouette',)

#: Region-label rule thresholds (see ``region_labels``).
LESION_FRACTION = 0.25
REGION_FRACTION = 0.15
MIN_OVERLAP_PX = 4


@dataclass
class Lesion:
    """One lesion on the working grid.

    Attributes:
        kind: one of ``LESION_KINDS``.
        side: 'right' / 'left' (patient side) or 'both' / 'midline'.
        parts: boolean working masks of its connected parts (several for multiple nodules);
            the region rule is applied per part.
        density: float32 (h, w) density added to the image (None: drawn by the anatomy).
        suppress_texture: bool (h, w) mask where lung texture vanishes (pneumothorax).
    """

    kind: str
    side: str
    parts: List[np.ndarray]
    density: Optional[np.ndarray] = None
    suppress_texture: Optional[np.ndarray] = None
    attrs: dict = field(default_factory=dict)

    @property
    def mask(self) -> np.ndarray:
        out = self.parts[0].copy()
        for p in self.parts[1:]:
            out |= p
        return out

    @property
    def classes(self) -> Tuple[str, ...]:
        return LESION_CLASSES[self.kind]

    @property
    def cxr8_class(self) -> Optional[str]:
        return LESION_CXR8[self.kind]


def region_labels(region_masks: Mapping[str, np.ndarray], lesions: Sequence[Lesion]
                  ) -> Dict[str, List[str]]:
    """Training classes positive in each of the 29 ADPD regions.

    Rule: a region R eligible for a lesion's kind (``ELIGIBLE_REGIONS``) is positive for all
    of the kind's classes when, for at least one part L of the lesion,
    ``|L & R| >= LESION_FRACTION * |L|`` (at least a quarter of the lesion lies in R) OR
    ``|L & R| >= REGION_FRACTION * |R|`` (the lesion covers at least 15 % of R), and in
    either case ``|L & R| >= MIN_OVERLAP_PX`` working pixels. Areas are counted on the
    working grid. Image labels are the OR over regions.

    Returns:
        ``{region name: sorted list of class names}`` for every name in ``REGIONS``.
    """
    out: Dict[str, set] = {r: set() for r in REGIONS}
    areas = {r: int(np.count_nonzero(m)) for r, m in region_masks.items() if r in out}
    for lesion in lesions:
        for part in lesion.parts:
            part_area = int(np.count_nonzero(part))
            if part_area == 0:
                continue
            for r in ELIGIBLE_REGIONS[lesion.kind]:
                if not areas.get(r):
                    continue
                inter = int(np.count_nonzero(part & region_masks[r]))
                if inter >= MIN_OVERLAP_PX and (inter >= LESION_FRACTION * part_area
                                                or inter >= REGION_FRACTION * areas[r]):
                    out[r].update(lesion.classes)
    return {r: sorted(c, key=PATHOLOGIES.index) for r, c in out.items()}


# --------------------------------------------------------------------------- sampling

def sample_kinds(rng: np.random.Generator, prevalence: Mapping[str, float],
                 min_one: float = 0.0) -> List[str]:
    """Independent Bernoulli draw per kind (fixed order); with probability ``min_one`` an
    image that drew nothing gets one kind chosen uniformly among those with prevalence > 0."""
    kinds = [k for k in LESION_KINDS if rng.random() < prevalence.get(k, 0.0)]
    allowed = [k for k in LESION_KINDS if prevalence.get(k, 0.0) > 0]
    if not kinds and allowed and rng.random() < min_one:
        kinds = [allowed[int(rng.integers(len(allowed)))]]
    return kinds


def _blur(mask: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(0.5, sigma))


def _fill_poly(t: Thorax, grid: CanonicalGrid, u, v) -> np.ndarray:
    x, y = thorax_to_pixels(t, u, v)
    xw, yw = grid.to_working(x, y)
    pts = (np.stack([xw, yw], -1) * 16).astype(np.int32)
    canvas = np.zeros(grid.shape, np.uint8)
    cv2.fillPoly(canvas, [pts], 1, cv2.LINE_8, 4)
    return canvas.astype(bool)


def _pick_point(rng, candidates: np.ndarray, grid: CanonicalGrid) -> Optional[Tuple[float,
                                                                                      float]]:
    idx = np.flatnonzero(candidates)
    if idx.size == 0:
        return None
    k = idx[int(rng.integers(idx.size))]
    i, j = divmod(int(k), grid.shape[1])
    return float(grid.u[i, j]), float(grid.v[i, j])


def _iso_dist(grid: CanonicalGrid, cu: float, cv: float) -> np.ndarray:
    """Distance from (cu, cv) in units of the thorax half-width, isotropic in pixels."""
    return np.sqrt((grid.u - cu) ** 2 + ((grid.v - cv) * grid.sy / grid.sx) ** 2)


def _round_lesion(rng, t, grid, lung, lungs_inner, radius, amp, kind, side):
    """Sphere-projection density (dense centre, soft rim) with a lobulated outline."""
    for _ in range(12):
        c = _pick_point(rng, lungs_inner, grid)
        if c is None:
            return None
        d = _iso_dist(grid, *c)
        ang = np.arctan2((grid.v - c[1]) * grid.sy / grid.sx, grid.u - c[0])
        r = radius * (1 + 0.08 * np.sin(3 * ang + rng.uniform(0, 6.3))
                      + 0.05 * np.sin(5 * ang + rng.uniform(0, 6.3)))
        disk = d <= r
        area = np.count_nonzero(disk)
        if area and np.count_nonzero(disk & lung) >= 0.9 * area:
            prof = np.sqrt(np.clip(1 - (d / r) ** 2, 0, 1)).astype(np.float32)
            dens = amp * (0.35 + 0.65 * prof) * _blur(disk, 0.6)
            return Lesion(kind, side, [disk & lung], dens, attrs={'radius': radius})
    return None


def _pneumonia(rng, t, grid, lung, side):
    """Confluent lobar-like density: a union of overlapping soft blobs in one zone."""
    s, cp, lw = SIDES[side], t.cp_level[side], t.lung_width[side]
    u, v = grid.u, grid.v
    for _ in range(8):
        zone = rng.choice(3, p=[0.25, 0.35, 0.4])
        band = lung & (v >= zone * cp / 3 + 0.05) & (v < (zone + 1) * cp / 3 - 0.05) \
            & (u * s > 0.35) & (u * s < lw - 0.18)
        c = _pick_point(rng, band, grid)
        if c is None:
            continue
        radius = rng.uniform(0.24, 0.32)
        field_ = np.zeros(grid.shape, np.float32)
        for _ in range(4):
            cu = c[0] + rng.normal(0, radius * 0.3)
            cv_ = c[1] + rng.normal(0, radius * 0.25) * grid.sx / grid.sy
            field_ += np.exp(-(_iso_dist(grid, cu, cv_) / radius) ** 2)
        field_ *= 1 + 0.2 * noise_patch(rng, grid.shape, 'mid')
        mask = (field_ > 0.5 * field_.max()) & lung
        if np.count_nonzero(mask) < 0.4 * np.pi * (radius * grid.sx) ** 2:
            continue  # clipped away by the lung border: try another spot
        amp = rng.uniform(0.3, 0.38)
        dens = amp * _blur(mask, 1.2) * (0.9 + 0.1 * noise_patch(rng, grid.shape, 'fine'))
        return Lesion('pneumonia', side, [mask], dens)
    return None


class _Scene(NamedTuple):
    """What every lesion maker needs: the image's generator and its anatomy."""
    rng: np.random.Generator
    t: Thorax
    grid: CanonicalGrid
    lungs: Dict[str, np.ndarray]  # side -> lung mask
    heart: np.ndarray             # cardiac-silhouette mask
    ptx_side: Optional[str]       # side of the pneumothorax, if any (no effusion there)
    allow_bilateral: bool


def _cardiomegaly(sc: _Scene, kind: str, side: str) -> List[Lesion]:
    return [Lesion(kind, 'midline', [sc.heart.copy()], None)]


def _pneumonia_lesion(sc: _Scene, kind: str, side: str) -> List[Lesion]:
    les = _pneumonia(sc.rng, sc.t, sc.grid, sc.lungs[side], side)
    return [] if les is None else [les]


def _infiltration(sc: _Scene, kind: str, side: str) -> List[Lesion]:
    """Patchy density in a round envelope of the mid and upper lung."""
    rng, grid, lung = sc.rng, sc.grid, sc.lungs[side]
    u, v, s = grid.u, grid.v, SIDES[side]
    band = lung & (v > 0.2) & (v < sc.t.cp_level[side] - 0.1) & (u * s > 0.3) \
        & (u * s < sc.t.lung_width[side] - 0.15)
    c = _pick_point(rng, band, grid)
    if c is None:
        return []
    radius = rng.uniform(0.26, 0.36)
    env = (_iso_dist(grid, *c) <= radius) & lung
    patches = env & (noise_patch(rng, grid.shape, 'mid') > -0.35)
    if np.count_nonzero(env) < MIN_OVERLAP_PX:
        return []
    amp = rng.uniform(0.24, 0.3)
    dens = amp * _blur(patches, 0.9) + 0.1 * _blur(env, 2.0)
    return [Lesion(kind, side, [env], dens)]


def _atelectasis(sc: _Scene, kind: str, side: str) -> List[Lesion]:
    """A basal wedge (60 %) or a plate-like band in the lower zone."""
    rng, t, grid, lung = sc.rng, sc.t, sc.grid, sc.lungs[side]
    u, v, s = grid.u, grid.v, SIDES[side]
    cp, lw = t.cp_level[side], t.lung_width[side]
    dia_lat = float(diaphragm_v(t, side, np.array([0.85 * lw]))[0])
    if rng.random() < 0.6:  # wedge: base on the diaphragm, apex towards the hilum
        top_v = rng.uniform(0.55, 0.68) * cp
        pu = s * np.array([0.32, rng.uniform(0.45, 0.6), 0.95 * lw, 0.95 * lw])
        pv = np.array([top_v, top_v - 0.02, dia_lat - 0.06, cp + 0.05])
        pu = np.append(pu, s * 0.3)
        pv = np.append(pv, float(diaphragm_v(t, side, np.array([0.3]))[0]) + 0.02)
        mask = _fill_poly(t, grid, pu, pv) & lung
        amp = rng.uniform(0.3, 0.38)
        attrs = {'shape': 'wedge'}
    else:  # plate-like (linear) atelectasis in the lower zone
        v0 = rng.uniform(0.7, 0.8) * cp
        end = (s * (lw - 0.12), v0 + rng.uniform(-.03, .06))
        mask = capsule(u, v, (s * 0.3, v0), end, 0.045, 0.035) & lung
        amp = rng.uniform(0.35, 0.42)
        attrs = {'shape': 'linear'}
    if np.count_nonzero(mask) < MIN_OVERLAP_PX:
        return []
    return [Lesion(kind, side, [mask], amp * _blur(mask, 1.0), attrs=attrs)]


def _effusion(sc: _Scene, kind: str, side: str) -> List[Lesion]:
    """Fluid at the lung base with a meniscus; bilateral in 25 % (never beside a
    pneumothorax)."""
    rng, t, grid = sc.rng, sc.t, sc.grid
    u, v = grid.u, grid.v
    sides = [side]
    if sc.allow_bilateral and rng.random() < 0.25:
        sides = ['right', 'left']
    out = []
    for sd in sides:
        if sd == sc.ptx_side:
            continue
        sg, lw_s, cp_s = SIDES[sd], t.lung_width[sd], t.cp_level[sd]
        med = medial_border(t, sd, v)
        rel = np.clip((u * sg - med) / np.maximum(lw_s - med, 1e-3), 0, 1)
        level = cp_s - rng.uniform(0.2, 0.38) - 0.12 * rel ** 2  # meniscus: higher
        mask = sc.lungs[sd] & (v >= level)                        # at the wall
        if np.count_nonzero(mask) < MIN_OVERLAP_PX:
            continue
        depth = np.clip((v - level) / 0.06, 0, 1)
        amp = rng.uniform(0.4, 0.48)
        dens = amp * _blur(mask, 1.0) * (0.55 + 0.45 * depth)
        out.append(Lesion(kind, sd, [mask], dens))
    return out


def _inner_lung(sc: _Scene, side: str) -> np.ndarray:
    """Where a round lesion's centre may lie: away from apex, base and borders."""
    v, u, s = sc.grid.v, sc.grid.u, SIDES[side]
    return sc.lungs[side] & (v > 0.15) & (v < sc.t.cp_level[side] - 0.15) & (u * s > 0.3) \
        & (u * s < sc.t.lung_width[side] - 0.12)


def _mass_or_nodule(sc: _Scene, kind: str, side: str) -> List[Lesion]:
    rng = sc.rng
    radius = rng.uniform(0.13, 0.2) if kind == 'mass' else rng.uniform(0.055, 0.08)
    inner = _inner_lung(sc, side)
    amp = rng.uniform(0.38, 0.46) if kind == 'mass' else rng.uniform(0.42, 0.5)
    les = _round_lesion(rng, sc.t, sc.grid, sc.lungs[side], inner, radius, amp, kind, side)
    return [] if les is None else [les]


def _multi_nodules(sc: _Scene, kind: str, side: str) -> List[Lesion]:
    """3-5 small nodules on random sides: one lesion with several parts (>= 2)."""
    rng = sc.rng
    parts, dens = [], np.zeros(sc.grid.shape, np.float32)
    for _ in range(int(rng.integers(3, 6))):
        sd = 'right' if rng.random() < 0.5 else 'left'
        inner = _inner_lung(sc, sd)
        les = _round_lesion(rng, sc.t, sc.grid, sc.lungs[sd], inner, rng.uniform(0.05, 0.07),
                            rng.uniform(0.42, 0.5), kind, sd)
        if les is not None:
            parts.extend(les.parts)
            dens = np.maximum(dens, les.density)
    return [Lesion(kind, 'both', parts, dens)] if len(parts) >= 2 else []


def _pneumothorax(sc: _Scene, kind: str, side: str) -> List[Lesion]:
    """Air between the wall and the lung collapsed towards its medial base (on
    ``ptx_side``, drawn before the loop), with a visible pleural edge."""
    rng, t, grid, sd = sc.rng, sc.t, sc.grid, sc.ptx_side
    u, v = grid.u, grid.v
    lung = sc.lungs[sd]
    collapse = rng.uniform(0.22, 0.34)
    cu, cv_ = SIDES[sd] * 0.3, 0.9  # lung collapses towards the medial base
    k = 1.0 - collapse
    shrunk = lung_mask(t, sd, cu + (u - cu) / k, cv_ + (v - cv_) / k)
    ptx = lung & ~shrunk & (v < 0.8 * t.cp_level[sd])
    if np.count_nonzero(ptx) < MIN_OVERLAP_PX:
        return []
    edge = shrunk & ~cv2.erode(shrunk.astype(np.uint8), np.ones((3, 3),
                                                               np.uint8)).astype(bool)
    edge &= lung & (v < 0.8 * t.cp_level[sd])
    dens = -0.12 * _blur(ptx, 0.8) + 0.2 * _blur(edge, 0.6) + 0.05 * (shrunk & lung)
    return [Lesion(kind, sd, [ptx], dens, suppress_texture=ptx,
                   attrs={'collapse': collapse})]


_MAKERS = {
    'cardiomegaly': _cardiomegaly, 'pneumonia': _pneumonia_lesion,
    'infiltration': _infiltration, 'atelectasis': _atelectasis, 'effusion': _effusion,
    'mass': _mass_or_nodule, 'nodule': _mass_or_nodule, 'multi_nodules': _multi_nodules,
    'pneumothorax': _pneumothorax,
}


def make_lesions(rng: np.random.Generator, t: Thorax, grid: CanonicalGrid,
                 kinds: Sequence[str], heart: np.ndarray,
                 allow_bilateral: bool = True) -> List[Lesion]:
    """Build the lesions of ``kinds`` (``heart`` = cardiac-silhouette mask for
    cardiomegaly). Kinds that find no room are silently dropped (rare)."""
    lungs = {s: lung_mask(t, s, grid.u, grid.v) for s in SIDES}
    ptx_side = None
    if 'pneumothorax' in kinds:
        ptx_side = 'right' if rng.random() < 0.5 else 'left'
    scene = _Scene(rng, t, grid, lungs, heart, ptx_side, allow_bilateral)
    out: List[Lesion] = []
    for kind in kinds:
        # a side is drawn for every kind, used or not, so each lesion's draws stay put
        side = 'right' if rng.random() < 0.5 else 'left'
        out.extend(_MAKERS.get(kind, lambda *a: [])(scene, kind, side))
    return out
