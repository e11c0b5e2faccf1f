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
* Image-level labels (``image_labels``): ``'regions'`` (default) is the OR over the 29
  regions' labels, including regions whose box was dropped (the finding is still in the
  report); ``'all_attributes'`` adds the training classes of attribute entries of every
  other ``bbox_name`` (``neck``, ``left chest wall``, the 7 unused regions, ...), as the
  reference code pools them.
* Nothing is dropped silently: :func:`graph_labels` also returns the ``|yes|`` labels that
  are not training classes and the training classes found only outside the 29 regions,
  which the converter counts in its report.
* A used value of the wrong type (a ``bbox_name`` that is not a string, a coordinate that
  is boolean, non-numeric, NaN or infinite) raises :class:`SceneGraphValueError`.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, NamedTuple, Sequence, Set, Tuple

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


#: The paper keeps images with at least this many valid region boxes.
MIN_REGIONS = 5
#: How image-level labels are pooled (see the module docstring).
IMAGE_LABEL_POOLINGS: Tuple[str, ...] = ('regions', 'all_attributes')


class SceneGraphKeyError(KeyError):
    """A scene graph (or one of its used objects) lacks a required key."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ''


class SceneGraphValueError(ValueError):
    """A used scene-graph value has the wrong type or is not a finite number."""


def _bbox_name(entry: Any, what: str) -> Any:
    """``entry['bbox_name']`` (None when absent); anything but a string raises."""
    if not isinstance(entry, Mapping):
        raise SceneGraphValueError(f'an {what} entry is a {type(entry).__name__}, '
                                   'not an object')
    name = entry.get('bbox_name')
    if name is not None and not isinstance(name, str):
        raise SceneGraphValueError(f'an {what} entry has a {type(name).__name__} '
                                   f'bbox_name ({str(name)[:40]!r})')
    return name


def _coordinate(obj: Mapping[str, Any], key: str, name: str) -> float:
    """A finite float; booleans, NaN, infinities and non-numbers raise (JSON allows the
    literals ``NaN``/``Infinity`` and ``float()`` accepts ``True`` and ``"nan"``)."""
    value = obj[key]
    if isinstance(value, bool):
        raise SceneGraphValueError(f'object {name!r} has a boolean {key}')
    try:
        out = float(value)
    except (TypeError, ValueError, OverflowError):
        raise SceneGraphValueError(f'object {name!r} has a non-numeric {key} '
                                   f'({str(value)[:40]!r})') from None
    if not math.isfinite(out):
        raise SceneGraphValueError(f'object {name!r} has a non-finite {key} ({value!r})')
    return out


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
        SceneGraphKeyError: an object of one of the 29 regions lacks a coordinate key.
        SceneGraphValueError: an object is not a JSON object or has a non-string
            ``bbox_name``, or a region's coordinate is not a finite number.
    """
    boxes: Dict[int, Box] = {}
    seen: Dict[int, int] = {}
    events: List[Event] = []
    for obj in objects:
        name = _bbox_name(obj, 'objects')
        if name not in REGION_INDEX:
            continue
        missing = [k for k in OBJECT_KEYS if k not in obj]
        if missing:
            raise SceneGraphKeyError(f'object {name!r} has no {missing[0]!r} key')
        x1, y1, x2, y2 = (_coordinate(obj, k, name) for k in OBJECT_KEYS[1:])
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
    return graph_labels(attributes).regions


class GraphLabels(NamedTuple):
    """Labels of one scene graph (indices into ``REGIONS`` / ``PATHOLOGIES``)."""
    regions: Dict[int, Set[int]]  # region -> positive classes (regions without any: absent)
    image: Set[int]               # image-level positive classes (per the pooling)
    ignored: Set[str]             # '|yes|' labels that are no training class: 'category|label'
    outside_regions: Set[int]     # classes positive only in entries of other bbox_names


def graph_labels(attributes: Sequence[Mapping[str, Any]],
                 image_labels: str = 'regions') -> GraphLabels:
    """Region, image and unused labels of a scene graph's ``attributes`` list.

    Args:
        attributes: the scene graph's ``attributes`` entries.
        image_labels: ``'regions'`` or ``'all_attributes'`` (see the module docstring).

    Raises:
        SceneGraphValueError: an entry is not an object or its ``bbox_name`` is not a string.
    """
    if image_labels not in IMAGE_LABEL_POOLINGS:
        raise ValueError(f'image_labels must be one of {IMAGE_LABEL_POOLINGS}, '
                         f'got {image_labels!r}')
    regions: Dict[int, Set[int]] = {}
    ignored: Set[str] = set()
    elsewhere: Set[int] = set()
    for entry in attributes:
        idx = REGION_INDEX.get(_bbox_name(entry, 'attributes'))
        for text in _attribute_strings(entry.get('attributes', [])):
            parts = text.split('|')
            if len(parts) != 3 or parts[1] != 'yes':
                continue
            cls = PATHOLOGY_INDEX.get(parts[2]) if parts[0] in POSITIVE_CATEGORIES else None
            if cls is None:
                ignored.add(f'{parts[0]}|{parts[2]}')
            elif idx is None:
                elsewhere.add(cls)
            else:
                regions.setdefault(idx, set()).add(cls)
    image = set().union(*regions.values()) if regions else set()
    outside = elsewhere - image
    if image_labels == 'all_attributes':
        image |= outside
    return GraphLabels(regions, image, ignored, outside)


def multi_hot(indices, num_classes: int = len(PATHOLOGIES)) -> List[int]:
    """``{2, 5}`` -> ``[0, 0, 1, 0, 0, 1, 0, ...]`` (length ``num_classes``)."""
    out = [0] * num_classes
    for i in indices:
        out[i] = 1
    return out
