"""Deterministic, patient-disjoint two-way split of the CXR8 box images.

Procedure (independent of ``PYTHONHASHSEED``, dict/set order and the platform):

1. count the boxes of every patient;
2. order the patients by ``sha256(f"{seed}:{patient_id}")`` (hex digest, ties impossible
   in practice, broken by the patient id);
3. walk that order and give each patient -- with all of their images -- to the part that
   holds fewer boxes so far (``val`` on a tie).

Step 3 keeps the two parts within one patient's box count of each other (at most 4 on the
real file), so "about half of the boxes in each part" holds for every seed.
"""
from __future__ import annotations

import hashlib
from typing import Dict, Mapping, Tuple

SPLITS: Tuple[str, str] = ('val', 'test')


def patient_order_key(seed: int, patient_id: str) -> Tuple[str, str]:
    """Sort key of a patient: sha256 of ``"{seed}:{patient_id}"``, then the id."""
    digest = hashlib.sha256(f'{seed}:{patient_id}'.encode('utf-8')).hexdigest()
    return digest, str(patient_id)


def split_patients(boxes_per_patient: Mapping[str, int], seed: int = 0) -> Dict[str, str]:
    """Assign every patient to ``'val'`` or ``'test'`` (see the module docstring).

    Args:
        boxes_per_patient: patient id (as a string) -> number of boxes.
        seed: changes the order in which patients are dealt out.

    Returns:
        patient id -> ``'val'`` | ``'test'``.
    """
    totals = {name: 0 for name in SPLITS}
    assignment: Dict[str, str] = {}
    for patient in sorted(boxes_per_patient, key=lambda p: patient_order_key(seed, p)):
        part = min(SPLITS, key=lambda name: (totals[name], SPLITS.index(name)))
        assignment[patient] = part
        totals[part] += int(boxes_per_patient[patient])
    return assignment


def split_images(image_patients: Mapping[str, str], image_boxes: Mapping[str, int],
                 seed: int = 0) -> Dict[str, str]:
    """Image -> split, patient-disjoint (all images of a patient share one part).

    Args:
        image_patients: image name -> patient id.
        image_boxes: image name -> number of boxes on it.
        seed: see :func:`split_patients`.
    """
    per_patient: Dict[str, int] = {}
    for image, patient in image_patients.items():
        per_patient[patient] = per_patient.get(patient, 0) + int(image_boxes.get(image, 0))
    by_patient = split_patients(per_patient, seed)
    return {image: by_patient[patient] for image, patient in image_patients.items()}


def check_patient_disjoint(image_patients: Mapping[str, str],
                           image_split: Mapping[str, str]) -> None:
    """Raise ValueError if a patient has images in both parts."""
    seen: Dict[str, str] = {}
    for image, patient in image_patients.items():
        part = image_split[image]
        if seen.setdefault(patient, part) != part:
            raise ValueError(f'patient {patient} has images in both split parts '
                             f'(e.g. {image})')
