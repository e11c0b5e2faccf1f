"""One fixed colour per target class (the same class has the same colour in every figure)."""
from __future__ import annotations

from typing import List, Tuple

from matplotlib import colormaps


def class_colors(num_classes: int) -> List[Tuple[float, float, float]]:
    """RGB colours in [0, 1] for class indices 0..num_classes-1 (tab10, then tab20, then
    evenly spaced hues)."""
    if num_classes <= 10:
        cmap, n = colormaps['tab10'], 10
    elif num_classes <= 20:
        cmap, n = colormaps['tab20'], 20
    else:
        cmap, n = colormaps['hsv'], num_classes + 1
    return [tuple(float(v) for v in cmap(i / n if n > 20 else i)[:3])
            for i in range(num_classes)]

