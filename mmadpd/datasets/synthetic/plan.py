"""Identifiers and metadata of every phantom image, planned up front in the main process.

Planning uses its own generator (seeded from ``(seed, PLAN_STREAM)``) so ids, splits,
sizes, views, defects and gold images do not depend on the rendering or on the number of
workers. Patients are split-disjoint; each patient has 1-3 studies (one frontal image each).

Two splits, as in the real data: ``split`` is Chest ImaGenome's (``num_train`` /
``num_val`` / ``num_test`` images); ``mimic_split`` is MIMIC-CXR-JPG's official one, drawn
independently per patient with its own generator: ~0.8 % of the patients ``validate``,
~1.5 % ``test`` (at least one each once there are 3 patients), the rest ``train``.
"""
from __future__ import annotations

from typing import List

import numpy as np

from .defects import assign_defects

PLAN_STREAM, MIMIC_STREAM, CXR8_STREAM = 7, 1, 2
SPLITS = ('train', 'valid', 'test')  # Chest ImaGenome's split files
#: MIMIC-CXR's official split: fraction of the patients per non-train value
MIMIC_SPLIT_FRACTIONS = (('validate', 0.008), ('test', 0.015))
_REASONS = ('___F with cough and fever, evaluate for pneumonia',
            '___M with shortness of breath', 'History: ___ with chest pain',
            '___ year old woman with dyspnea, eval for effusion',
            'Evaluate for interval change', '___M s/p line placement, assess position')


def _dicom_id(rng: np.random.Generator) -> str:
    return '-'.join(f'{int(x):08x}' for x in rng.integers(0, 2 ** 32, size=5))


def mimic_size(rng: np.random.Generator, size: int):
    """(width, height): long side ``size`` +- 10 %, portrait (85 %) or landscape."""
    long_side = int(round(size * rng.uniform(0.9, 1.1)))
    short_side = int(round(long_side * rng.uniform(0.78, 0.95)))
    return (short_side, long_side) if rng.random() < 0.85 else (long_side, short_side)


def plan_mimic(seed: int, num_train: int, num_val: int, num_test: int, size: int,
               defect_rate: float) -> List[dict]:
    """One record per MIMIC-style image, in output order (train, valid, test)."""
    rng = np.random.default_rng([seed, PLAN_STREAM, 0])
    records: List[dict] = []
    subject, study = 10000000, 50000000
    for split, n in zip(SPLITS, (num_train, num_val, num_test)):
        left = n
        while left > 0:
            subject += int(rng.integers(1, 4000))
            gender = 'F' if rng.random() < 0.5 else 'M'
            age = int(rng.integers(2, 9)) * 10
            year = int(rng.integers(2110, 2190))
            n_studies = min(left, int(rng.integers(1, 4)))
            prior = None
            for order in range(1, n_studies + 1):
                study += int(rng.integers(1, 9000))
                view = 'PA' if rng.random() < 0.55 else 'AP'
                width, height = mimic_size(rng, size)
                month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
                hh, mm, ss = (int(x) for x in rng.integers(0, [24, 60, 60]))
                did = _dicom_id(rng)
                records.append({
                    'index': len(records), 'split': split, 'mimic_split': 'train',
                    'subject_id': subject, 'study_id': study, 'dicom_id': did,
                    'view': view, 'width': width, 'height': height, 'gender': gender,
                    'age_decile': f'{age}-{age + 10}',
                    'reason_for_exam': _REASONS[int(rng.integers(len(_REASONS)))],
                    'study_order': order, 'prior_dicom_id': prior,
                    'study_date': year * 10000 + month * 100 + day,
                    'study_time': f'{hh:02d}{mm:02d}{ss:02d}.{int(rng.integers(1000)):03d}',
                    'study_datetime': f'{year}-{month:02d}-{day:02d} {hh:02d}:{mm:02d}:{ss:02d}',
                    'defect': None, 'gold': False,
                })
                prior = did
                year += 1
            left -= n_studies
    for i, defect in assign_defects(rng, len(records), defect_rate).items():
        records[i]['defect'] = defect
        if defect == 'lateral_view':
            records[i]['view'] = 'LATERAL'
    # gold-standard images (images_to_avoid.csv): ~2 %, clean, at least one from train
    clean = [r for r in records if r['defect'] is None]
    if len(records) >= 3 and clean:
        n_gold = max(1, int(round(0.02 * len(records))))
        pick = rng.permutation(len(clean))[:n_gold].tolist()
        train = [k for k, r in enumerate(clean) if r['split'] == 'train']
        if train and not any(clean[k]['split'] == 'train' for k in pick):
            pick[0] = train[int(rng.integers(len(train)))]
        for k in pick:
            clean[k]['gold'] = True
    assign_mimic_split(records, seed)
    return records


def assign_mimic_split(records: List[dict], seed: int) -> None:
    """Set ``mimic_split`` per patient (see the module docstring), in place."""
    patients = list(dict.fromkeys(r['subject_id'] for r in records))
    if len(patients) < 3:
        return
    order = np.random.default_rng([seed, PLAN_STREAM, 2]).permutation(len(patients))
    value = {}
    start = 0
    for name, fraction in MIMIC_SPLIT_FRACTIONS:
        n = max(1, int(round(fraction * len(patients))))
        value.update((patients[int(k)], name) for k in order[start:start + n])
        start += n
    for r in records:
        r['mimic_split'] = value.get(r['subject_id'], 'train')


def plan_cxr8(seed: int, num_images: int, size: int, stream: int = 1,
              first_patient: int = 1) -> List[dict]:
    """One record per NIH-style image: patients with 1-3 follow-ups each, numbered from
    ``first_patient``; ``stream`` separates the box images' plan from other sets'."""
    rng = np.random.default_rng([seed, PLAN_STREAM, stream])
    records: List[dict] = []
    patient = first_patient - 1
    while len(records) < num_images:
        patient += 1
        gender = 'F' if rng.random() < 0.5 else 'M'
        age = int(rng.integers(20, 86))
        orig_w, orig_h = (int(x) for x in rng.integers(2000, 3056, size=2))
        spacing = round(float(rng.uniform(0.139, 0.168)), 3)
        for follow_up in range(min(num_images - len(records), int(rng.integers(1, 4)))):
            records.append({
                'index': len(records), 'image': f'{patient:08d}_{follow_up:03d}.png',
                'patient_id': patient, 'follow_up': follow_up, 'age': age + follow_up // 2,
                'gender': gender, 'view': 'PA' if rng.random() < 0.55 else 'AP',
                'width': size, 'height': size, 'orig_width': orig_w, 'orig_height': orig_h,
                'spacing': spacing,
            })
    return records
