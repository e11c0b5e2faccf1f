"""One complete phantom: anatomy + lesions + region labels + rendered image.

``make_phantom`` is the single entry point the writers, the mosaic and the tests use; its
output depends only on its random generator and arguments (never on the process).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from mmadpd.anatomy import PATHOLOGIES, REGIONS

from .geometry import CanonicalGrid, Thorax, mask_box, region_boxes, region_masks, \
    sample_thorax
from .lesions import DEFAULT_PREVALENCE, Lesion, make_lesions, region_labels, sample_kinds
from .render import finish_image, render_density

Box = Tuple[int, int, int, int]


@dataclass
class Phantom:
    """A rendered phantom.

    Attributes:
        image: uint8 (height, width) grey image.
        thorax: the sampled anatomy parameters.
        grid: the working grid the masks live on (``grid.step`` px per working px).
        masks: region name -> bool working mask (29 ADPD regions + 7 unused).
        boxes: region name -> full-resolution (x1, y1, x2, y2) box (x2/y2 exclusive), None
            when the region lies outside the image.
        labels: ADPD region name -> sorted positive training classes (``region_labels``).
        lesions: the lesions (working-grid masks).
        lesion_boxes: full-resolution box of each lesion (parallel to ``lesions``).
    """

    image: np.ndarray
    thorax: Thorax
    grid: CanonicalGrid
    masks: Dict[str, np.ndarray]
    boxes: Dict[str, Optional[Box]]
    labels: Dict[str, List[str]]
    lesions: List[Lesion]
    lesion_boxes: List[Box]

    @property
    def image_labels(self) -> List[str]:
        """Image-level positive classes (OR over regions), in ``PATHOLOGIES`` order."""
        seen: Dict[str, None] = {}
        for r in REGIONS:
            for c in self.labels[r]:
                seen[c] = None
        return sorted(seen, key=PATHOLOGIES.index)


def working_step(width: int, height: int) -> int:
    """Subsampling of the mask/density grid: ~256 working px along the long side."""
    return max(1, int(round(max(width, height) / 256)))


def make_phantom(rng: np.random.Generator, width: int, height: int, view: str = 'PA',
                 prevalence: Optional[Mapping[str, float]] = None,
                 kinds: Optional[Sequence[str]] = None, allow_bilateral: bool = True,
                 min_one: float = 0.0) -> Phantom:
    """Sample and render one phantom.

    Args:
        rng: the image's own generator (seeded from (seed, stream, index) by the caller).
        width, height: full image size in pixels.
        view: 'PA' or 'AP' (AP: magnified heart, higher clavicles, lower contrast).
        prevalence: per-kind probability (default ``DEFAULT_PREVALENCE``).
        kinds: force exactly these lesion kinds instead of drawing them.
        allow_bilateral: allow bilateral effusions (off for CXR8-style images, which hold
            at most one box per class).
        min_one: probability that an image that drew no lesion gets one anyway.
    """
    prevalence = DEFAULT_PREVALENCE if prevalence is None else prevalence
    if kinds is None:
        kinds = sample_kinds(rng, prevalence, min_one)
    kinds = list(kinds)
    thorax = sample_thorax(rng, width, height, view, enlarged_heart='cardiomegaly' in kinds)
    grid = CanonicalGrid(thorax, working_step(width, height))
    masks = region_masks(thorax, grid)
    lesions = make_lesions(rng, thorax, grid, kinds, masks['cardiac silhouette'],
                           allow_bilateral=allow_bilateral)
    labels = region_labels(masks, lesions)
    dens = render_density(rng, thorax, grid, masks, lesions)
    image = finish_image(rng, dens, width, height, view)
    boxes = region_boxes(masks, grid)
    lesion_boxes = [mask_box(les.mask, grid.step, grid.full_size) for les in lesions]
    keep = [i for i, b in enumerate(lesion_boxes) if b is not None]
    return Phantom(image, thorax, grid, masks, boxes, labels, [lesions[i] for i in keep],
                   [lesion_boxes[i] for i in keep])
