"""The phantom CXR8 **training** set: image-label-only NIH-style images for the
CAM-family baselines, written in the real files' format next to the box images.

Adds to ``cxr8/`` (called by :func:`~.generate.generate_dataset` when
``num_cxr8_train > 0``)::

    images/NNNNNNNN_NNN.png          the training images (new patients only)
    Data_Entry_2017_v2020.csv        their rows appended after the box images' rows
    train_val_list.txt               one image name per line: the training images
    test_list.txt                    the box images (as in the real data: every box image
                                     is in the official test list)

Labels are the CXR8 classes of the drawn lesions (``|``-joined, ``No Finding`` when
none); there is no box file entry for these images. Each image has its own generator
``(seed, CXR8_TRAIN_STREAM, index)`` and the plan its own stream, so the box images'
bytes are the same with or without a training set.
"""
from __future__ import annotations

import os
from typing import Callable, List, Mapping

import cv2
import numpy as np

from mmadpd.anatomy import CXR8_CLASSES

from .io import write_bytes
from .phantom import make_phantom
from .plan import plan_cxr8
from .workers import PNG_COMPRESSION

CXR8_TRAIN_STREAM = 3
TRAIN_PLAN_STREAM = 3  # plan_cxr8's stream 1 plans the box images
TRAIN_LIST, TEST_LIST = 'train_val_list.txt', 'test_list.txt'


def plan_cxr8_train(seed: int, num_images: int, size: int, first_patient: int) -> List[dict]:
    """One record per training image (its own plan stream); patients numbered from
    ``first_patient`` (after the box images' patients: the two sets are patient-disjoint)."""
    return plan_cxr8(seed, num_images, size, stream=TRAIN_PLAN_STREAM,
                     first_patient=first_patient)


def render_cxr8_train(task) -> dict:
    """Render one training PNG (worker unit); return its image name and CXR8 labels."""
    seed, rec, images_dir, prevalence = task
    rng = np.random.default_rng([seed, CXR8_TRAIN_STREAM, rec['index']])
    ph = make_phantom(rng, rec['width'], rec['height'], rec['view'], prevalence)
    ok, buf = cv2.imencode('.png', ph.image, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    write_bytes(os.path.join(images_dir, rec['image']), buf.tobytes())
    present = {les.cxr8_class for les in ph.lesions}
    return {'image': rec['image'], 'labels': [c for c in CXR8_CLASSES if c in present]}


def write_cxr8_train(seed: int, num_images: int, size: int, cxr8_root: str,
                     box_records: List[dict], prevalence: Mapping[str, float],
                     run: Callable[[Callable, List, str], List]) -> dict:
    """Render the training images and write the list files (see the module docstring).

    Args:
        box_records: the box images' plan records (``image``, ``patient_id``), already
            written with their ``Data_Entry_2017_v2020.csv`` rows.
        run: ``run(func, tasks, label)`` mapping a worker unit over tasks in order.

    Returns:
        ``{'cxr8_train_images', 'cxr8_train_class_counts'}``.
    """
    first = max((r['patient_id'] for r in box_records), default=0) + 1
    recs = plan_cxr8_train(seed, num_images, size, first)
    results = run(render_cxr8_train,
                  [(seed, r, os.path.join(cxr8_root, 'images'), prevalence) for r in recs],
                  'cxr8 train')
    entry = os.path.join(cxr8_root, 'Data_Entry_2017_v2020.csv')
    with open(entry, 'rb') as f:
        text = f.read().decode()
    rows = [','.join(str(v) for v in (
        r['image'], '|'.join(res['labels']) or 'No Finding', r['follow_up'],
        r['patient_id'], r['age'], r['gender'], r['view'], r['orig_width'],
        r['orig_height'], r['spacing'], r['spacing'])) for r, res in zip(recs, results)]
    write_bytes(entry, (text + ''.join(row + '\n' for row in rows)).encode())
    write_bytes(os.path.join(cxr8_root, TRAIN_LIST),
                ''.join(r['image'] + '\n' for r in recs).encode())
    write_bytes(os.path.join(cxr8_root, TEST_LIST),
                ''.join(r['image'] + '\n' for r in box_records).encode())
    counts = {c: sum(c in res['labels'] for res in results) for c in CXR8_CLASSES}
    return {'cxr8_train_images': len(recs), 'cxr8_train_class_counts': counts}
