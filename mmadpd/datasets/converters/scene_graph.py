"""Chest ImaGenome scene graph -> region boxes and region pathology labels (pure).

Rules (the paper's filters, made explicit; ``anatomy.REGIONS`` fixes the region order):

* Boxes come from ``original_x1/y1/x2/y2`` (pixels of the MIMIC-CXR-JPG image), never from
  the 224-px ``x1..y2`` frame. Objects whose ``bbox_name`` is not one of the 29 regions
  are ignored.
* Each box is clamped to the image ``[0, W] x [0, H]`` (event ``region_clamped``); a box
  with no area left (``x2 <= x1`` or ``y2 <= y1``) is dropped (``region_empty``).
* A ``bbox_name`` that occurs more than once gives the union (enclosing box) of its valid
  boxes (``region_duplicate``), as the reference implementation does.
* Labels: region ``r`` is positive for pathology ``X`` iff one of the attribute strings of
  an ``attributes`` entry with ``bbox_name == r`` is ``anatomicalfinding|yes|X`` or
  ``disease|yes|X`` with ``X`` in ``anatomy.PATHOLOGIES``; all else is negative.
* Image-level labels are the OR over the 29 regions' labels, including regions whose box
  was dropped (the finding is still in the report).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Sequence, Set, Tuple

from mmadpd.anatomy import PATHOLOGIES, POSITIVE_CATEGORIES, REGIONS

REGION_INDEX: Dict[str, int] = {name: i for i, name in enumerate(REGIONS)}
PATHOLOGY_INDEX: Dict[str, int] = {name: i for i, name in enumerate(PATHOLOGIES)}
#: Top-level keys a scene graph must have.
REQUIRED_KEYS: Tuple[str, ...] = ('image_id', 'objects', 'attributes')
#: Keys every used object must have.
OBJECT_KEYS: Tuple[str, ...] = ('bbox_name', 'original_x1', 'original_y1', 'original_x2',
                                'original_y2')

Box = List[float]
Event = Tuple[str, str]  # (reason, region name)


class SceneGraphKeyError(KeyError):
    """A scene graph (or one of its used objects) lacks a required key."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ''


def check_keys(graph: Mapping[str, Any]) -> None:
    """Raise :class:`SceneGraphKeyError` naming the first missing top-level key."""
    if not isinstance(graph, Mapping):
        raise SceneGraphKeyError(f'scene graph is a {type(graph).__name__}, not an object')
    for key in REQUIRED_KEYS:
        if key not in graph:
            raise SceneGraphKeyError(f'scene graph has no {key!r} key')
    if not isinstance(graph['objects'], list) or not isinstance(graph['attributes'], list):
        raise SceneGraphKeyError('scene graph "objects"/"attributes" are not lists')


def region_boxes(objects: Sequence[Mapping[str, Any]], width: float,
                 height: float) -> Tuple[Dict[int, Box], List[Event]]:
    """Valid region boxes of one image.

    Args:
        objects: the scene graph's ``objects`` list.
        width, height: size of the image in pixels (boxes are clamped to it).

    Returns:
        ``({region index: [x1, y1, x2, y2]}, events)``; boxes in original pixels, xyxy;
        events are ``(reason, bbox_name)`` for every clamp, drop and union.

    Raises:
        SceneGraphKeyError: an object of one of the 29 regions lacks a coordinate key or
            has a non-numeric coordinate.
    """
    boxes: Dict[int, Box] = {}
    seen: Dict[int, int] = {}
    events: List[Event] = []
    for obj in objects:
        name = obj.get('bbox_name') if isinstance(obj, Mapping) else None
        if name not in REGION_INDEX:
            continue
        missing = [k for k in OBJECT_KEYS if k not in obj]
        if missing:
            raise SceneGraphKeyError(f'object {name!r} has no {missing[0]!r} key')
        try:
            x1, y1, x2, y2 = (float(obj[k]) for k in OBJECT_KEYS[1:])
        except (TypeError, ValueError):
            raise SceneGraphKeyError(f'object {name!r} has a non-numeric coordinate') \
                from None
        idx = REGION_INDEX[name]
        seen[idx] = seen.get(idx, 0) + 1
        cx1, cy1 = min(max(x1, 0.0), width), min(max(y1, 0.0), height)
        cx2, cy2 = min(max(x2, 0.0), width), min(max(y2, 0.0), height)
        if (cx1, cy1, cx2, cy2) != (x1, y1, x2, y2):
            events.append(('region_clamped', name))
        if cx2 <= cx1 or cy2 <= cy1:
            events.append(('region_empty', name))
            continue
        if idx in boxes:
            old = boxes[idx]
            boxes[idx] = [min(old[0], cx1), min(old[1], cy1), max(old[2], cx2),
                          max(old[3], cy2)]
        else:
            boxes[idx] = [cx1, cy1, cx2, cy2]
    for idx, count in seen.items():
        if count > 1:
            events.append(('region_duplicate', REGIONS[idx]))
    return boxes, events


def _attribute_strings(value: Any):
    """Yield the strings of an ``attributes`` value (a list of lists of strings; a flat
    list or a single string is accepted too)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _attribute_strings(item)


def region_labels(attributes: Sequence[Mapping[str, Any]]) -> Dict[int, Set[int]]:
    """Positive pathology indices per region index (regions without any: absent)."""
    labels: Dict[int, Set[int]] = {}
    for entry in attributes:
        if not isinstance(entry, Mapping):
            continue
        idx = REGION_INDEX.get(entry.get('bbox_name'))
        if idx is None:
            continue
        for text in _attribute_strings(entry.get('attributes', [])):
            parts = text.split('|')
            if len(parts) != 3 or parts[0] not in POSITIVE_CATEGORIES or parts[1] != 'yes':
                continue
            cls = PATHOLOGY_INDEX.get(parts[2])
            if cls is not None:
                labels.setdefault(idx, set()).add(cls)
    return labels


def multi_hot(indices, num_classes: int = len(PATHOLOGIES)) -> List[int]:
    """``{2, 5}`` -> ``[0, 0, 1, 0, 0, 1, 0, ...]`` (length ``num_classes``)."""
    out = [0] * num_classes
    for i in indices:
        out[i] = 1
    return out
