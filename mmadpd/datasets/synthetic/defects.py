"""Realistic defects injected into a fraction of the MIMIC / ImaGenome-style records.

Each affected image gets exactly one defect; ``OUT/chest-imagenome/phantom_defects.json``
maps its dicom_id to the defect name so converter tests can check that every one is
handled under its reason:

=====================  ==================================================================
defect                 what is written (expected converter behaviour)
=====================  ==================================================================
negative_coords        one region's ``original_x1/y1`` (and 224-frame x1/y1) < 0
                       (clip or drop that box)
out_of_image_coords    one region's ``original_x2/y2`` beyond the image size
                       (clip or drop that box)
zero_area_box          one region with x2 == x1 (drop that box)
duplicate_bbox_name    a region listed twice with shifted boxes (reference: union box)
few_regions            only 3 ADPD regions have boxes (skip image: < 5 valid regions)
lateral_view           ViewPosition LATERAL in the CSVs, viewpoint "LL" (skip: not frontal)
missing_image          the JPEG is not written (skip: missing file)
truncated_jpeg         the JPEG is cut after 60 % of its bytes (skip: unreadable image)
missing_key            the scene graph lacks its ``objects`` key (skip: malformed graph)
missing_scene_graph    listed in the splits but no scene graph file / zip entry (skip)
=====================  ==================================================================
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from mmadpd.anatomy import REGIONS

DEFECTS = ('negative_coords', 'out_of_image_coords', 'zero_area_box', 'duplicate_bbox_name',
           'few_regions', 'lateral_view', 'missing_image', 'truncated_jpeg', 'missing_key',
           'missing_scene_graph')


def assign_defects(rng: np.random.Generator, num_images: int, rate: float) -> Dict[int, str]:
    """``{image index: defect}`` for ``round(rate * num_images)`` random images, cycling
    through ``DEFECTS`` so that every kind appears once there are >= 10 affected images."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f'defect rate must lie in [0, 1], got {rate}')
    n = int(round(rate * num_images))
    order = rng.permutation(num_images)[:n]
    return {int(i): DEFECTS[k % len(DEFECTS)] for k, i in enumerate(sorted(order.tolist()))}


def _adpd_objects(sg: dict) -> List[dict]:
    return [o for o in sg['objects'] if o['bbox_name'] in REGIONS]


def apply_scene_graph_defect(rng: np.random.Generator, sg: dict, defect: str, width: int,
                             height: int) -> dict:
    """Corrupt the scene graph ``sg`` (in place, also returned) for box / key defects."""
    objs = _adpd_objects(sg)
    obj = objs[int(rng.integers(len(objs)))] if objs else None
    if defect == 'negative_coords' and obj:
        d = int(rng.integers(5, 40))
        obj['original_x1'] = -d
        obj['original_y1'] = -int(rng.integers(1, 30))
        obj['x1'], obj['y1'] = -max(1, d // 8), -1
    elif defect == 'out_of_image_coords' and obj:
        obj['original_x2'] = width + int(rng.integers(5, 60))
        obj['original_y2'] = height + int(rng.integers(5, 60))
        obj['x2'], obj['y2'] = 224 + int(rng.integers(1, 10)), 224 + int(rng.integers(1, 10))
    elif defect == 'zero_area_box' and obj:
        obj['original_x2'] = obj['original_x1']
        obj['x2'] = obj['x1']
    elif defect == 'duplicate_bbox_name' and obj:
        dup = dict(obj)
        shift = max(2, (obj['original_x2'] - obj['original_x1']) // 4)
        dup['original_x1'] += shift
        dup['original_x2'] = min(width, dup['original_x2'] + shift)
        sg['objects'].append(dup)
    elif defect == 'few_regions':
        keep = {o['bbox_name'] for o in objs[:3]}
        sg['objects'] = [o for o in sg['objects'] if o['bbox_name'] in keep]
    elif defect == 'lateral_view':
        sg['viewpoint'] = 'LL'
    elif defect == 'missing_key':
        del sg['objects']
    for o in sg.get('objects', []):  # keep width/height consistent with edited corners
        o['width'], o['height'] = o['x2'] - o['x1'], o['y2'] - o['y1']
        o['original_width'] = o['original_x2'] - o['original_x1']
        o['original_height'] = o['original_y2'] - o['original_y1']
    return sg
