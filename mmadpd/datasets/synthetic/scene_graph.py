"""Chest ImaGenome silver scene graph (``<dicom_id>_SceneGraph.json``) of one phantom.

Keys and encodings follow FACTS.md section 7: objects carry a 224 x 224 letter-boxed frame
(``x1 .. height``: the image scaled so its long side is 224 and centred on the square,
rounded to ints) and the ``original_*`` pixel box; attribute entries hold LISTS OF LISTS of
``"category|yes|label"`` / ``"category|no|label"`` strings (one inner list per report
phrase) with parallel ``attributes_ids`` / ``phrases`` / cue lists. A region is positive for
class X exactly when one of its strings is ``anatomicalfinding|yes|X`` or
``disease|yes|X``; ``nlp``, ``texture``, ``technicalassessment`` and ``tubesandlines``
strings are decoys a converter must ignore.
"""
from __future__ import annotations

import zlib
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmadpd.anatomy import DISEASES, REGIONS, UNUSED_REGIONS

from .lesions import LESION_CLASSES

#: Regions mentioned in reports that never get a box (converters must tolerate them).
BOXLESS_REGIONS = ('neck', 'left chest wall', 'right chest wall')
_NEGATABLE = sorted({c for cs in LESION_CLASSES.values() for c in cs})


def _code(prefix: str, text: str, digits: int) -> str:
    """Stable fake identifier (UMLS-like CUI, attribute id) derived from ``text``."""
    return f'{prefix}{zlib.crc32(text.encode()) % 10 ** digits:0{digits}d}'


def category(label: str) -> str:
    return 'disease' if label in DISEASES else 'anatomicalfinding'


def frame_224(box: Sequence[float], width: int, height: int) -> Tuple[int, int, int, int]:
    """Original-pixel ``(x1, y1, x2, y2)`` -> the 224 letter-boxed frame (rounded ints)."""
    s = 224.0 / max(width, height)
    px, py = (224 - width * s) / 2, (224 - height * s) / 2
    x1, y1, x2, y2 = box
    return (int(round(x1 * s + px)), int(round(y1 * s + py)),
            int(round(x2 * s + px)), int(round(y2 * s + py)))


def make_object(dicom_id: str, name: str, box: Sequence[int], width: int,
                height: int) -> dict:
    x1, y1, x2, y2 = frame_224(box, width, height)
    ox1, oy1, ox2, oy2 = (int(b) for b in box)
    return {
        'object_id': f'{dicom_id}_{name}', 'x1': x1, 'y1': y1, 'x2': x2, 'y2': y2,
        'width': x2 - x1, 'height': y2 - y1, 'bbox_name': name,
        'synsets': [_code('C', name, 7)], 'name': name[:1].upper() + name[1:],
        'original_x1': ox1, 'original_y1': oy1, 'original_x2': ox2, 'original_y2': oy2,
        'original_width': ox2 - ox1, 'original_height': oy2 - oy1,
    }


def _attribute_entry(dicom_id: str, study_id: int, name: str, phrases: List[dict],
                     phrase_counter: List[int]) -> dict:
    """``phrases``: [{'strings': [...], 'text': str, 'severity': [...], 'texture': [...],
    'comparison': [...]}] -> one ``attributes`` entry."""
    ids = []
    for p in phrases:
        phrase_counter[0] += 1
        ids.append(f'{study_id}|{phrase_counter[0]}')
    return {
        name: True, 'bbox_name': name, 'synsets': [_code('C', name, 7)],
        'name': name[:1].upper() + name[1:],
        'attributes': [list(p['strings']) for p in phrases],
        'attributes_ids': [[_code('CL', s.split('|', 2)[2], 3) for s in p['strings']]
                           for p in phrases],
        'phrases': [p['text'] for p in phrases], 'phrase_IDs': ids,
        'sections': ['finalreport' for _ in phrases],
        'comparison_cues': [list(p.get('comparison', [])) for p in phrases],
        'temporal_cues': [[] for _ in phrases],
        'severity_cues': [list(p.get('severity', [])) for p in phrases],
        'texture_cues': [list(p.get('texture', [])) for p in phrases],
        'object_id': f'{dicom_id}_{name}',
    }


def build_scene_graph(rng: np.random.Generator, meta: dict, width: int, height: int,
                      boxes: Dict[str, Optional[Tuple[int, int, int, int]]],
                      labels: Dict[str, List[str]]) -> dict:
    """Scene graph dict of one image.

    Args:
        rng: the image's generator (decides decoy mentions and unused-region objects).
        meta: dicom_id, subject_id, study_id, viewpoint, gender, age_decile,
            reason_for_exam, study_order, study_datetime, prior_dicom_id (or None).
        width, height: original image size.
        boxes: region name -> original-pixel box or None (29 ADPD + 7 unused names).
        labels: ADPD region -> positive training classes (the ground truth to encode).
    """
    did, study = meta['dicom_id'], int(meta['study_id'])
    names = [r for r in REGIONS if boxes.get(r) is not None]
    unused = [r for r in UNUSED_REGIONS if boxes.get(r) is not None and rng.random() < 0.6]
    objects = [make_object(did, n, boxes[n], width, height) for n in names + unused]

    counter = [0]
    attributes = []
    abnormal = [r for r in REGIONS if labels.get(r)]
    for r in REGIONS:
        pos = labels.get(r, [])
        phrases = []
        if pos:
            strings = [f'{category(c)}|yes|{c}' for c in pos]
            texture = ['patchy'] if 'infiltration' in pos else []
            strings += [f'texture|yes|{t}' for t in texture] + ['nlp|yes|abnormal']
            phrases.append({'strings': strings, 'text': f'{", ".join(pos).capitalize()} '
                            f'in the {r}.', 'texture': texture,
                            'severity': [['mild', 'moderate', 'severe'][int(rng.integers(3))]]
                            if rng.random() < 0.5 else []})
        if (pos and rng.random() < 0.3) or (not pos and rng.random() < 0.25):
            negs = [c for c in _NEGATABLE if c not in pos]
            pick = sorted({negs[int(i)] for i in rng.integers(len(negs), size=2)})
            phrases.append({'strings': [f'{category(c)}|no|{c}' for c in pick]
                            + ['nlp|yes|normal'],
                            'text': f'No {" or ".join(pick)} in the {r}.'})
        if r.endswith('lung') and rng.random() < 0.1:
            phrases.append({'strings': ['technicalassessment|yes|low lung volumes'],
                            'text': 'Low lung volumes.'})
        if phrases:
            attributes.append(_attribute_entry(did, study, r, phrases, counter))
    for r in BOXLESS_REGIONS:
        if rng.random() < 0.35:
            strings = (['tubesandlines|yes|endotracheal tube'] if r == 'neck'
                       else ['anatomicalfinding|no|subcutaneous air', 'nlp|yes|normal'])
            attributes.append(_attribute_entry(did, study, r, [
                {'strings': strings, 'text': f'{r.capitalize()} unremarkable.'}], counter))

    relationships = []
    prior = meta.get('prior_dicom_id')
    if prior:
        for r in abnormal[:2]:
            relationships.append({
                'relationship_id': f'{did}_{prior}_{r}', 'predicate': '["No change"]',
                'synsets': [_code('C', 'no change', 7)],
                'relationship_names': ['comparison|yes|no change'],
                'relationship_contexts': [1.0],
                'phrase': f'Unchanged findings in the {r}.',
                'attributes': [f'{category(c)}|yes|{c}' for c in labels[r]],
                'bbox_name': r, 'subject_id': f'{did}_{r}', 'object_id': f'{prior}_{r}',
            })
    return {
        'image_id': did, 'viewpoint': meta['viewpoint'], 'patient_id': int(meta['subject_id']),
        'study_id': study, 'gender': meta['gender'], 'age_decile': meta['age_decile'],
        'reason_for_exam': meta['reason_for_exam'], 'StudyOrder': int(meta['study_order']),
        'StudyDateTime': meta['study_datetime'], 'objects': objects,
        'attributes': attributes, 'relationships': relationships,
    }
