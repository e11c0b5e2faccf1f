"""Per-image work units (run in worker processes): render, encode, write one image.

Each unit seeds its own generator from ``(seed, stream, index)``, so its bytes do not
depend on which process runs it or in which order.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional

import cv2
import numpy as np

from mmadpd.anatomy import CXR8_CLASSES, REGIONS

from .defects import apply_scene_graph_defect
from .io import json_bytes, write_bytes
from .phantom import make_phantom
from .plan import CXR8_STREAM, MIMIC_STREAM
from .scene_graph import build_scene_graph

JPEG_QUALITY = 90
PNG_COMPRESSION = 3


def init_worker() -> None:
    """Worker start-up. OpenCV already runs sequentially (the parent set 0 threads before
    forking: one process per core, and a forked OpenCV thread pool must not be touched)."""


def mimic_image_path(rec: Mapping) -> str:
    """``files/pXX/pSUBJECT/sSTUDY/DICOMID.jpg`` relative to the MIMIC-CXR-JPG root."""
    sub = str(rec['subject_id'])
    return f'files/p{sub[:2]}/p{sub}/s{rec["study_id"]}/{rec["dicom_id"]}.jpg'


def render_mimic(task) -> dict:
    """Render one MIMIC-style image and write its JPEG and scene graph (with its defect)."""
    seed, rec, mimic_root, graph_dir, prevalence = task
    rng = np.random.default_rng([seed, MIMIC_STREAM, rec['index']])
    view = rec['view'] if rec['view'] in ('PA', 'AP') else 'PA'
    ph = make_phantom(rng, rec['width'], rec['height'], view, prevalence)
    defect: Optional[str] = rec['defect']
    ok, buf = cv2.imencode('.jpg', ph.image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    data = buf.tobytes()
    if defect == 'truncated_jpeg':
        data = data[:int(len(data) * 0.6)]
    if defect != 'missing_image':
        write_bytes(os.path.join(mimic_root, mimic_image_path(rec)), data)
    meta = dict(rec, viewpoint='LL' if rec['view'] == 'LATERAL' else rec['view'])
    sg = build_scene_graph(rng, meta, rec['width'], rec['height'], ph.boxes, ph.labels)
    if defect:
        apply_scene_graph_defect(np.random.default_rng([seed, MIMIC_STREAM, rec['index'], 1]),
                                 sg, defect, rec['width'], rec['height'])
    if defect != 'missing_scene_graph':
        write_bytes(os.path.join(graph_dir, f'{rec["dicom_id"]}_SceneGraph.json'),
                    json_bytes(sg))
    return {'dicom_id': rec['dicom_id'], 'image_labels': ph.image_labels,
            'lesions': [les.kind for les in ph.lesions]}


def render_cxr8(task) -> dict:
    """Render one NIH-style square PNG; return its lesion boxes and region truth."""
    seed, rec, images_dir, prevalence = task
    rng = np.random.default_rng([seed, CXR8_STREAM, rec['index']])
    ph = make_phantom(rng, rec['width'], rec['height'], rec['view'], prevalence,
                      allow_bilateral=False, min_one=0.9)
    ok, buf = cv2.imencode('.png', ph.image, [cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION])
    write_bytes(os.path.join(images_dir, rec['image']), buf.tobytes())
    boxes = {}
    for les, box in zip(ph.lesions, ph.lesion_boxes):
        cls = les.cxr8_class
        if cls is None or cls in boxes:  # NIH: at most one box per class and image
            continue
        x1, y1, x2, y2 = box
        boxes[cls] = [float(x1), float(y1), float(x2 - x1), float(y2 - y1)]
    return {
        'image': rec['image'],
        'boxes': [(c, boxes[c]) for c in CXR8_CLASSES if c in boxes],
        'truth': {'width': rec['width'], 'height': rec['height'],
                  'region_boxes': [list(ph.boxes[r]) if ph.boxes[r] is not None else None
                                   for r in REGIONS],
                  'region_pathologies': [ph.labels[r] for r in REGIONS]},
        'image_labels': ph.image_labels,
    }
