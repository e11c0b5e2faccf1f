"""Generate the phantom data set in the real MIMIC-CXR-JPG / Chest ImaGenome / NIH CXR8
layouts (``generate_dataset``; the CLI ``tools/dataset_converters/make_synthetic_cxr.py``
is a thin face over it).

Layout under ``out_dir``::

    mimic-cxr-jpg/files/pXX/pSUBJECT/sSTUDY/DICOMID.jpg
    mimic-cxr-jpg/mimic-cxr-2.0.0-metadata.csv, mimic-cxr-2.0.0-split.csv.gz (the official
        split, ~97 % train: not the ImaGenome one; see ``plan``)
    chest-imagenome/silver_dataset/scene_graph/<dicom_id>_SceneGraph.json, scene_graph.zip
    chest-imagenome/silver_dataset/splits/{train,valid,test}.csv, images_to_avoid.csv
    chest-imagenome/phantom_defects.json          {dicom_id: defect}  (not a real file)
    cxr8/images/NNNNNNNN_NNN.png, BBox_List_2017.csv, Data_Entry_2017_v2020.csv
    cxr8/phantom_truth.json                       region boxes + labels (not a real file)
    phantom_summary.json                          arguments and counts (marks the folder)

Every byte depends only on the arguments (not on ``workers``): images are rendered from
per-image generators and all files are written in a fixed order with fixed settings.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import sys
import time
from typing import Callable, Dict, Iterable, List, Mapping, Optional

import cv2

from mmadpd.anatomy import PATHOLOGIES, REGIONS

from .cxr8_train import write_cxr8_train
from .io import json_bytes, write_bytes, write_csv, write_csv_gz, write_zip
from .lesions import DEFAULT_PREVALENCE, LESION_KINDS
from .plan import plan_cxr8, plan_mimic
from .workers import init_worker, mimic_image_path, render_cxr8, render_mimic

SUBDIRS = ('mimic-cxr-jpg', 'chest-imagenome', 'cxr8')
MARKER = 'phantom_summary.json'
METADATA_COLUMNS = ('dicom_id', 'subject_id', 'study_id', 'PerformedProcedureStepDescription',
                    'ViewPosition', 'Rows', 'Columns', 'StudyDate', 'StudyTime',
                    'ProcedureCodeSequence_CodeMeaning', 'ViewCodeSequence_CodeMeaning',
                    'PatientOrientationCodeSequence_CodeMeaning')
SPLIT_COLUMNS = ('subject_id', 'study_id', 'dicom_id', 'path', 'ViewPosition')
BBOX_HEADER = 'Image Index,Finding Label,Bbox [x,y,w,h],,,'
DATA_ENTRY_HEADER = ('Image Index', 'Finding Labels', 'Follow-up #', 'Patient ID',
                     'Patient Age', 'Patient Gender', 'View Position',
                     'OriginalImage[Width', 'Height]', 'OriginalImagePixelSpacing[x', 'y]')
_VIEW_TEXT = {'PA': ('CHEST (PA AND LAT)', 'postero-anterior', 'Erect'),
              'AP': ('CHEST (PORTABLE AP)', 'antero-posterior', 'Recumbent'),
              'LATERAL': ('CHEST (PA AND LAT)', 'lateral', 'Erect')}


def _prepare_out_dir(out_dir: str) -> None:
    """Refuse to overwrite folders this generator did not write; clear its own."""
    existing = [d for d in SUBDIRS if os.path.isdir(os.path.join(out_dir, d))
                and os.listdir(os.path.join(out_dir, d))]
    if existing and not os.path.isfile(os.path.join(out_dir, MARKER)):
        raise FileExistsError(f'{out_dir} already holds {existing} not written by the '
                              f'phantom generator (no {MARKER}); refusing to overwrite')
    for d in existing:
        shutil.rmtree(os.path.join(out_dir, d))
    os.makedirs(out_dir, exist_ok=True)


def _run(func: Callable, tasks: List, workers: int, label: str, progress: bool) -> List:
    """Map ``func`` over ``tasks`` (ordered results), in a process pool when workers > 1."""
    results: List = []
    step = max(1, len(tasks) // 10)

    def report(k):
        if progress and (k % step == 0 or k == len(tasks)):
            print(f'  {label}: {k}/{len(tasks)}', flush=True)

    if workers <= 1 or len(tasks) < 2:
        for task in tasks:
            results.append(func(task))
            report(len(results))
        return results
    methods = mp.get_all_start_methods()
    ctx = mp.get_context('fork' if 'fork' in methods else 'spawn')
    # OpenCV's thread pool does not survive fork(): a child that touches it while the
    # parent's pool threads exist can deadlock. Run OpenCV sequentially in the parent while
    # the workers are forked (what mmengine does for DataLoader workers), then restore.
    prev_threads = cv2.getNumThreads()
    cv2.setNumThreads(0)
    try:
        with ctx.Pool(workers, initializer=init_worker) as pool:
            for res in pool.imap(func, tasks, chunksize=4):
                results.append(res)
                report(len(results))
    finally:
        cv2.setNumThreads(prev_threads)
    return results


def _split_row(rec: Mapping) -> list:
    path = mimic_image_path(rec)[:-4] + '.dcm'  # the silver splits name the DICOM
    return [rec['subject_id'], rec['study_id'], rec['dicom_id'], path, rec['view']]


def _write_mimic_tables(recs: List[dict], mimic_root: str, silver: str) -> None:
    meta_rows = []
    for r in recs:
        desc, view_text, orient = _VIEW_TEXT[r['view']]
        meta_rows.append([r['dicom_id'], r['subject_id'], r['study_id'], desc, r['view'],
                          r['height'], r['width'], r['study_date'], r['study_time'], desc,
                          view_text, orient])
    write_csv(os.path.join(mimic_root, 'mimic-cxr-2.0.0-metadata.csv'), METADATA_COLUMNS,
              meta_rows)
    write_csv_gz(os.path.join(mimic_root, 'mimic-cxr-2.0.0-split.csv.gz'),
                 ('dicom_id', 'study_id', 'subject_id', 'split'),
                 [[r['dicom_id'], r['study_id'], r['subject_id'], r['mimic_split']]
                  for r in recs])
    for split in ('train', 'valid', 'test'):
        rows = [_split_row(r) for r in recs if r['split'] == split]
        write_csv(os.path.join(silver, 'splits', f'{split}.csv'), ('',) + SPLIT_COLUMNS,
                  [[i] + row for i, row in enumerate(rows)])
    write_csv(os.path.join(silver, 'splits', 'images_to_avoid.csv'), SPLIT_COLUMNS,
              [_split_row(r) for r in recs if r['gold']])


def _write_cxr8_tables(recs: List[dict], results: List[dict], root: str) -> None:
    lines = [BBOX_HEADER]
    entries = []
    truth = {}
    for rec, res in zip(recs, results):
        for cls, (x, y, w, h) in res['boxes']:
            label = 'Infiltrate' if cls == 'Infiltration' else cls  # the box file's spelling
            lines.append(f'{rec["image"]},{label},{x!r},{y!r},{w!r},{h!r}')
        findings = '|'.join(c for c, _ in res['boxes']) or 'No Finding'
        entries.append([rec['image'], findings, rec['follow_up'], rec['patient_id'],
                        rec['age'], rec['gender'], rec['view'], rec['orig_width'],
                        rec['orig_height'], rec['spacing'], rec['spacing']])
        truth[rec['image']] = res['truth']
    write_bytes(os.path.join(root, 'BBox_List_2017.csv'), ('\n'.join(lines) + '\n').encode())
    write_csv(os.path.join(root, 'Data_Entry_2017_v2020.csv'), DATA_ENTRY_HEADER, entries)
    write_bytes(os.path.join(root, 'phantom_truth.json'),
                json_bytes({'regions': list(REGIONS), 'pathologies': list(PATHOLOGIES),
                            'images': truth}, sort_keys=True))


def _count(labels: Iterable[Iterable[str]]) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for labs in labels:
        for c in labs:
            out[c] = out.get(c, 0) + 1
    return dict(sorted(out.items()))


def generate_dataset(out_dir: str, seed: int = 0, num_train: int = 1600, num_val: int = 200,
                     num_test: int = 200, num_cxr8: int = 400, size: int = 512,
                     defect_rate: float = 0.01, workers: int = 1,
                     prevalence: Optional[Mapping[str, float]] = None,
                     progress: bool = False, num_cxr8_train: int = 0) -> dict:
    """Write the phantom data set (see the module docstring for the layout).

    Args:
        out_dir: output root (created; folders a previous phantom run wrote are replaced,
            anything else there is left alone or, if it collides, refused).
        seed: master seed; same seed + arguments -> byte-identical files.
        num_train, num_val, num_test: MIMIC / ImaGenome-style images per split.
        num_cxr8: NIH-style images (square PNG).
        size: nominal long side of MIMIC images (varied +-10 %, non-square) and the side of
            CXR8 images, in pixels.
        defect_rate: fraction of MIMIC images carrying one defect (0 = clean set).
        workers: rendering processes.
        prevalence: per lesion kind probability (default ``DEFAULT_PREVALENCE``); CXR8
            images never get multiple nodules (its box format holds one box per class).
        progress: print progress lines.
        num_cxr8_train: image-label-only NIH-style training images and the official list
            files (:mod:`.cxr8_train`); 0 (default) writes none of them.

    Returns:
        Summary dict: arguments, counts per split, per-class image counts, defects, seconds.
    """
    if size < 64:
        raise ValueError(f'size must be >= 64 px, got {size}')
    if min(num_train, num_val, num_test, num_cxr8) < 0:
        raise ValueError('image counts must be >= 0')
    unknown = set(prevalence or {}) - set(LESION_KINDS)
    if unknown:
        raise ValueError(f'unknown lesion kinds in prevalence: {sorted(unknown)}; '
                         f'known: {list(LESION_KINDS)}')
    prev = dict(DEFAULT_PREVALENCE if prevalence is None else prevalence)
    prev_cxr8 = dict(prev, multi_nodules=0.0)
    start = time.time()
    _prepare_out_dir(out_dir)
    mimic_root = os.path.join(out_dir, 'mimic-cxr-jpg')
    silver = os.path.join(out_dir, 'chest-imagenome', 'silver_dataset')
    graph_dir = os.path.join(silver, 'scene_graph')
    cxr8_root = os.path.join(out_dir, 'cxr8')

    recs = plan_mimic(seed, num_train, num_val, num_test, size, defect_rate)
    if progress:
        print(f'rendering {len(recs)} MIMIC-style images and {num_cxr8} CXR8-style images '
              f'at {size} px with {workers} worker(s)', flush=True)
    mimic_res = _run(render_mimic, [(seed, r, mimic_root, graph_dir, prev) for r in recs],
                     workers, 'mimic', progress)
    os.makedirs(graph_dir, exist_ok=True)
    n_zip = write_zip(os.path.join(silver, 'scene_graph.zip'), graph_dir, 'scene_graph')
    _write_mimic_tables(recs, mimic_root, silver)
    defects = {r['dicom_id']: r['defect'] for r in recs if r['defect']}
    write_bytes(os.path.join(out_dir, 'chest-imagenome', 'phantom_defects.json'),
                json_bytes(defects, sort_keys=True, indent=1))

    cxr8_recs = plan_cxr8(seed, num_cxr8, size)
    cxr8_res = _run(render_cxr8, [(seed, r, os.path.join(cxr8_root, 'images'), prev_cxr8)
                                  for r in cxr8_recs], workers, 'cxr8', progress)
    _write_cxr8_tables(cxr8_recs, cxr8_res, cxr8_root)
    cxr8_train = write_cxr8_train(
        seed, num_cxr8_train, size, cxr8_root, cxr8_recs, prev,
        lambda f, tasks, label: _run(f, tasks, workers, label, progress)) \
        if num_cxr8_train > 0 else {}

    summary = {
        'arguments': {'seed': seed, 'num_train': num_train, 'num_val': num_val,
                      'num_test': num_test, 'num_cxr8': num_cxr8, 'size': size,
                      'defect_rate': defect_rate, 'prevalence': prev},
        'mimic_images': {s: sum(r['split'] == s for r in recs)
                         for s in ('train', 'valid', 'test')},
        'mimic_official_split': {s: sum(r['mimic_split'] == s for r in recs)
                                 for s in ('train', 'validate', 'test')},
        'scene_graphs': n_zip,
        'gold_images': sum(r['gold'] for r in recs),
        'defects': _count([[d] for d in defects.values()]),
        'mimic_class_counts': _count(r['image_labels'] for r in mimic_res),
        'cxr8_images': len(cxr8_recs),
        'cxr8_box_images': sum(bool(r['boxes']) for r in cxr8_res),
        'cxr8_class_counts': _count([c for c, _ in r['boxes']] for r in cxr8_res),
        **cxr8_train,
    }
    write_bytes(os.path.join(out_dir, MARKER), json_bytes(summary, sort_keys=True, indent=1))
    summary['seconds'] = round(time.time() - start, 2)
    summary['out_dir'] = os.path.abspath(out_dir)
    if progress:
        print(f'wrote {sum(summary["mimic_images"].values())} MIMIC-style images '
              f'({summary["scene_graphs"]} scene graphs, {len(defects)} with defects) and '
              f'{len(cxr8_recs)} CXR8-style images ({summary["cxr8_box_images"]} with boxes) '
              f'to {summary["out_dir"]} in {summary["seconds"]} s', file=sys.stdout,
              flush=True)
    return summary
