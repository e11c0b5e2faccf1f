"""Class groups reported separately (e.g. ``nih8`` and ``nih8_cig``)."""
from __future__ import annotations

from typing import Dict, List, Mapping, Sequence


def group_indices(class_names: Sequence[str],
                  groups: Mapping[str, Sequence[str]]) -> Dict[str, List[int]]:
    """Indices of each group's classes in ``class_names``.

    A group is returned only when ALL its classes are present (a partial group would be a
    different number under the same name); groups that are missing classes are skipped.
    """
    index = {name: i for i, name in enumerate(class_names)}
    out: Dict[str, List[int]] = {}
    for group, members in groups.items():
        if members and all(m in index for m in members):
            out[group] = [index[m] for m in members]
    return out
