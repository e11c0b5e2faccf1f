"""Chest ImaGenome silver scene graphs + MIMIC-CXR-JPG -> COCO JSON (one file per split).

Inputs: scene graph folder or ``scene_graph.zip``; ``splits/{train,valid,test}.csv``
(-> ``train``, ``val``, ``test``); ``images_to_avoid.csv`` (gold images, excluded from
every split); the MIMIC-CXR-JPG root (``files/pXX/pSUBJECT/sSTUDY/DICOM.jpg``); and
``mimic-cxr-2.0.0-metadata.csv`` (``ViewPosition``).

Per image, in this order (the first failing check names the skip reason):

1. ``gold_image``: listed in ``images_to_avoid.csv``;
2. ``non_frontal_view``: a view is known (metadata, split CSV, then the scene graph's
   ``viewpoint``) and one of the known views is not ``PA``/``AP``;
3. ``missing_scene_graph`` / ``unreadable_scene_graph`` (not JSON) /
   ``scene_graph_missing_key`` (see :mod:`.scene_graph`);
4. ``missing_image`` / ``corrupt_image`` (no SOI/frame header, or no EOI marker at the end:
   a truncated file), checked from the header and the last bytes, without decoding;
5. ``too_few_regions``: fewer than 5 valid region boxes after the rules of
   :mod:`.scene_graph` (clamp, drop empty, union duplicates; those repairs are counted per
   region as ``region_clamped``, ``region_empty``, ``region_duplicate``).

Output ``OUT/imagenome_{train,val,test}.json`` (COCO; the contract in the module docs of
``mmadpd.datasets.imagenome``), ``OUT/imagenome_skipped.json`` (per reason: count and the
list of dicom ids, or ``dicom_id:region`` for region events) and ``OUT/images``: a symlink
to the MIMIC-CXR-JPG root, or with ``resize_short_side`` the pre-resized grey JPEG cache
(:mod:`.image_cache`; boxes scaled, ``width``/``height`` of the cached file). Box
coordinates are rounded to 1/1000 px. Annotation files are streamed to disk (constant
memory for ~240k graphs), and identical inputs give byte-identical outputs whatever the
number of workers.
"""
from __future__ import annotations

import csv
import json
import multiprocessing as mp
import os
import os.path as osp
import shutil
import sys
import time
import zipfile
from collections import OrderedDict
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

import cv2

from mmadpd.anatomy import PATHOLOGIES, REGIONS

from .image_cache import write_cached_image
from .io_utils import jpeg_info, link_images, open_text, write_json
from .scene_graph import SceneGraphKeyError, check_keys, multi_hot, region_boxes, \
    region_labels
from .skips import SkipReport, StrictModeError

#: split CSV name -> output split name
SPLIT_FILES = OrderedDict([('train', 'train.csv'), ('val', 'valid.csv'),
                           ('test', 'test.csv')])
FRONTAL_VIEWS = ('PA', 'AP')
MIN_REGIONS = 5

IMAGE_SKIP_REASONS = OrderedDict([
    ('gold_image', 'listed in images_to_avoid.csv (gold standard)'),
    ('non_frontal_view', 'view is not PA/AP'),
    ('missing_scene_graph', 'no scene graph file for the dicom id'),
    ('unreadable_scene_graph', 'scene graph is not valid JSON'),
    ('scene_graph_missing_key', 'scene graph (or a region object) lacks a required key'),
    ('missing_image', 'MIMIC-CXR-JPG file not found'),
    ('corrupt_image', 'JPEG truncated or unreadable'),
    ('too_few_regions', f'fewer than {MIN_REGIONS} valid region boxes'),
])
REGION_EVENT_REASONS = OrderedDict([
    ('region_clamped', 'box clamped to the image (kept)'),
    ('region_empty', 'box empty after clamping (region dropped)'),
    ('region_duplicate', 'bbox_name repeated (union box kept)'),
])


class Task(NamedTuple):
    split: str
    dicom_id: str
    subject_id: str
    study_id: str
    rel_path: str          # relative to the MIMIC-CXR-JPG root, '.jpg'
    views: Tuple[str, ...]  # known views (metadata, split CSV), may be empty
    gold: bool


class Options(NamedTuple):
    scene_graphs: str
    images_root: str
    cache_dir: Optional[str]
    short_side: Optional[int]
    min_regions: int = MIN_REGIONS


# ----------------------------------------------------------------------------- reading
def _read_csv_rows(path: str) -> Iterator[Dict[str, str]]:
    with open_text(path) as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or 'dicom_id' not in reader.fieldnames:
            raise ValueError(f'{path}: no "dicom_id" column')
        yield from reader


def read_dicom_ids(path: str) -> set:
    return {row['dicom_id'].strip() for row in _read_csv_rows(path)}


def read_metadata_views(path: str) -> Dict[str, str]:
    """``mimic-cxr-2.0.0-metadata.csv`` -> {dicom_id: ViewPosition}."""
    return {row['dicom_id'].strip(): (row.get('ViewPosition') or '').strip()
            for row in _read_csv_rows(path)}


def jpg_rel_path(row: Dict[str, str]) -> str:
    """Image path relative to the MIMIC-CXR-JPG root (split CSV ``path`` with .jpg)."""
    path = (row.get('path') or '').strip()
    if path:
        return osp.splitext(path)[0] + '.jpg'
    sid = row['subject_id'].strip()
    return f'files/p{sid[:2]}/p{sid}/s{row["study_id"].strip()}/{row["dicom_id"].strip()}.jpg'


def build_tasks(splits_dir: str, metadata: str, images_to_avoid: Optional[str]) -> List[Task]:
    """One task per split-CSV row, in file order (train, val, test)."""
    views = read_metadata_views(metadata)
    gold = read_dicom_ids(images_to_avoid) if images_to_avoid else set()
    tasks = []
    for split, name in SPLIT_FILES.items():
        path = osp.join(splits_dir, name)
        for row in _read_csv_rows(path):
            dicom = row['dicom_id'].strip()
            known = tuple(v for v in (views.get(dicom, ''),
                                      (row.get('ViewPosition') or '').strip()) if v)
            tasks.append(Task(split, dicom, row['subject_id'].strip(),
                              row['study_id'].strip(), jpg_rel_path(row), known,
                              dicom in gold))
    return tasks


class SceneGraphSource:
    """Reads ``<dicom_id>_SceneGraph.json`` from a folder or a zip (any folder inside)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.zip: Optional[zipfile.ZipFile] = None
        self.members: Dict[str, str] = {}
        if osp.isfile(path) and zipfile.is_zipfile(path):
            self.zip = zipfile.ZipFile(path)
            self.members = {osp.basename(n): n for n in self.zip.namelist()
                            if n.endswith('_SceneGraph.json')}
        elif not osp.isdir(path):
            raise FileNotFoundError(f'{path}: scene graph folder or zip not found')

    def locate(self, dicom_id: str) -> Tuple[str, bool]:
        """``(path for messages, exists)``."""
        name = f'{dicom_id}_SceneGraph.json'
        if self.zip is not None:
            member = self.members.get(name)
            return (f'{self.path}:{member or name}', member is not None)
        path = osp.join(self.path, name)
        return path, osp.isfile(path)

    def read(self, dicom_id: str) -> bytes:
        name = f'{dicom_id}_SceneGraph.json'
        if self.zip is not None:
            return self.zip.read(self.members[name])
        with open(osp.join(self.path, name), 'rb') as f:
            return f.read()


# ----------------------------------------------------------------------------- one image
def _fmt(v: float) -> float:
    v = round(v, 3)
    return int(v) if v == int(v) else v


def convert_one(task: Task, opts: Options, source: SceneGraphSource) -> dict:
    """Convert one split row.

    Returns:
        ``{'dicom_id', 'split', 'skip': reason or None, 'path' (file named in the skip
        message), 'detail', 'sg_path' (scene graph location), 'events':
        [(reason, 'dicom:region')], 'image': JSON text of the image entry without its id,
        'annotations': [JSON text of an annotation without id/image_id]}``.
    """
    sg_path, exists = source.locate(task.dicom_id)
    out = dict(dicom_id=task.dicom_id, split=task.split, skip=None, path='', detail='',
               sg_path=sg_path, events=[], image='', annotations=[])

    def skip(reason: str, path: str, detail: str = '') -> dict:
        out.update(skip=reason, path=path, detail=detail)
        return out

    if task.gold:
        return skip('gold_image', sg_path)
    if any(v not in FRONTAL_VIEWS for v in task.views):
        return skip('non_frontal_view', sg_path, f'view {task.views}')
    if not exists:
        return skip('missing_scene_graph', sg_path)
    try:
        graph = json.loads(source.read(task.dicom_id))
    except (ValueError, UnicodeDecodeError) as exc:
        return skip('unreadable_scene_graph', sg_path, str(exc)[:80])
    try:
        check_keys(graph)
    except SceneGraphKeyError as exc:
        return skip('scene_graph_missing_key', sg_path, str(exc))
    viewpoint = str(graph.get('viewpoint') or '').strip()
    view = task.views[0] if task.views else viewpoint
    if viewpoint and viewpoint not in FRONTAL_VIEWS:
        return skip('non_frontal_view', sg_path, f'scene graph viewpoint {viewpoint!r}')

    img_path = osp.join(opts.images_root, task.rel_path)
    if not osp.isfile(img_path):
        return skip('missing_image', img_path)
    try:
        width, height = jpeg_info(img_path)
    except (OSError, ValueError) as exc:
        return skip('corrupt_image', img_path, str(exc))

    try:
        boxes, events = region_boxes(graph['objects'], width, height)
    except SceneGraphKeyError as exc:
        return skip('scene_graph_missing_key', sg_path, str(exc))
    out['events'] = [(reason, f'{task.dicom_id}:{name}') for reason, name in events]
    if len(boxes) < opts.min_regions:
        return skip('too_few_regions', sg_path, f'{len(boxes)} valid regions')

    sx = sy = 1.0
    out_w, out_h = width, height
    if opts.short_side:
        try:
            out_w, out_h = write_cached_image(img_path, osp.join(opts.cache_dir,
                                                                 task.rel_path),
                                              width, height, opts.short_side)
        except ValueError as exc:
            return skip('corrupt_image', img_path, str(exc))
        sx, sy = out_w / width, out_h / height

    labels = region_labels(graph['attributes'])
    image_positive = set().union(*labels.values()) if labels else set()
    image = OrderedDict(
        file_name=task.rel_path, width=out_w, height=out_h,
        patient_id=int(task.subject_id) if task.subject_id.isdigit() else task.subject_id,
        study_id=int(task.study_id) if task.study_id.isdigit() else task.study_id,
        dicom_id=task.dicom_id, view=view, pathology_labels=multi_hot(image_positive))
    out['image'] = json.dumps(image, separators=(',', ':'))[1:-1]
    for idx in sorted(boxes):
        x1, y1, x2, y2 = boxes[idx]
        x1, x2 = _fmt(x1 * sx), _fmt(x2 * sx)
        y1, y2 = _fmt(y1 * sy), _fmt(y2 * sy)
        w, h = _fmt(x2 - x1), _fmt(y2 - y1)
        ann = OrderedDict(category_id=idx + 1, bbox=[x1, y1, w, h], area=_fmt(w * h),
                          iscrowd=0, pathology_labels=multi_hot(labels.get(idx, ())))
        out['annotations'].append(json.dumps(ann, separators=(',', ':'))[1:-1])
    return out


# ----------------------------------------------------------------------------- workers
_WORKER: dict = {}


def _init_worker(opts: Options) -> None:
    _WORKER['opts'] = opts
    _WORKER['source'] = SceneGraphSource(opts.scene_graphs)


def _work(task: Task) -> dict:
    return convert_one(task, _WORKER['opts'], _WORKER['source'])


class _SplitWriter:
    """Streams one COCO file: images and annotations go to two temporary files that are
    joined at the end (so memory stays flat and ids stay in input order)."""

    def __init__(self, out_dir: str, split: str) -> None:
        self.path = osp.join(out_dir, f'imagenome_{split}.json')
        self.img_tmp = open(self.path + '.images.tmp', 'w', encoding='utf-8')
        self.ann_tmp = open(self.path + '.annotations.tmp', 'w', encoding='utf-8')
        self.num_images = 0
        self.num_annotations = 0

    def add(self, image_body: str, ann_bodies: List[str]) -> None:
        self.num_images += 1
        sep = ',' if self.num_images > 1 else ''
        self.img_tmp.write(f'{sep}{{"id":{self.num_images},{image_body}}}')
        for body in ann_bodies:
            self.num_annotations += 1
            sep = ',' if self.num_annotations > 1 else ''
            self.ann_tmp.write(f'{sep}{{"id":{self.num_annotations},'
                               f'"image_id":{self.num_images},{body}}}')

    def close(self, header: dict) -> None:
        self.img_tmp.close()
        self.ann_tmp.close()
        info = json.dumps(header['info'], separators=(',', ':'))
        cats = json.dumps(header['categories'], separators=(',', ':'))
        paths = json.dumps(header['pathologies'], separators=(',', ':'))
        tmp = self.path + '.tmp'
        with open(tmp, 'w', encoding='utf-8') as out:
            out.write(f'{{"info":{info},"images":[')
            with open(self.img_tmp.name, encoding='utf-8') as f:
                shutil.copyfileobj(f, out)
            out.write('],"annotations":[')
            with open(self.ann_tmp.name, encoding='utf-8') as f:
                shutil.copyfileobj(f, out)
            out.write(f'],"categories":{cats},"pathologies":{paths}}}\n')
        os.replace(tmp, self.path)
        os.remove(self.img_tmp.name)
        os.remove(self.ann_tmp.name)

    def abort(self) -> None:
        for f in (self.img_tmp, self.ann_tmp):
            f.close()
            if osp.exists(f.name):
                os.remove(f.name)


def _prepare_image_dir(out_dir: str, images_root: str, short_side: Optional[int]) -> str:
    link = osp.join(out_dir, 'images')
    if short_side:
        if osp.islink(link):
            os.remove(link)
        os.makedirs(link, exist_ok=True)
        return f'{link}/ (grey JPEG cache, short side {short_side})'
    if osp.isdir(link) and not osp.islink(link):
        raise ValueError(f'{link} is a resized image cache from an earlier '
                         '--resize-short-side run; use another --out-dir or remove it')
    return link_images(out_dir, images_root)


def convert_imagenome(scene_graphs: str, splits_dir: str, images_root: str, metadata: str,
                      out_dir: str, images_to_avoid: Optional[str] = None,
                      workers: int = 1, strict: bool = False,
                      resize_short_side: Optional[int] = None,
                      progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Run the conversion (see the module docstring); returns a summary dict with
    ``kept`` {split: images}, ``annotations`` {split: n}, ``skipped`` / ``region_events``
    (reason -> count, ids), ``seconds`` and ``graphs_per_s``.

    Raises:
        FileNotFoundError / ValueError: unreadable inputs (naming the file).
        StrictModeError: with ``strict``, at the first skipped or repaired record.
    """
    if images_to_avoid is None:
        default = osp.join(splits_dir, 'images_to_avoid.csv')
        images_to_avoid = default if osp.isfile(default) else None
    for path in [osp.join(splits_dir, n) for n in SPLIT_FILES.values()] + [metadata]:
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: file not found')
    if not osp.isdir(images_root):
        raise FileNotFoundError(f'{images_root}: MIMIC-CXR-JPG root not found')
    if resize_short_side is not None and resize_short_side < 1:
        raise ValueError(f'--resize-short-side must be positive, got {resize_short_side}')
    SceneGraphSource(scene_graphs)  # fail fast on a wrong path
    os.makedirs(out_dir, exist_ok=True)
    tasks = build_tasks(splits_dir, metadata, images_to_avoid)
    images_note = _prepare_image_dir(out_dir, images_root, resize_short_side)
    opts = Options(scene_graphs, images_root,
                   osp.join(out_dir, 'images') if resize_short_side else None,
                   resize_short_side)

    skipped = SkipReport(IMAGE_SKIP_REASONS, strict=strict)
    regions = SkipReport(REGION_EVENT_REASONS, strict=strict)
    writers = OrderedDict((s, _SplitWriter(out_dir, s)) for s in SPLIT_FILES)
    workers = max(1, int(workers))
    start = time.perf_counter()
    pool = None
    try:
        if workers > 1:
            # OpenCV's thread pool does not survive fork(): sequential OpenCV in the
            # parent while the workers are forked (as mmengine's DataLoader does)
            cv2.setNumThreads(0)
            pool = mp.get_context().Pool(workers, _init_worker, (opts,))
            results = pool.imap(_work, tasks, chunksize=16)
        else:
            _init_worker(opts)
            results = map(_work, tasks)
        bar = _progress(results, len(tasks), progress)
        for res in bar:
            for reason, record in res['events']:
                regions.add(reason, record, res['sg_path'])
            if res['skip']:
                skipped.add(res['skip'], res['dicom_id'], res['path'], res['detail'])
                continue
            writers[res['split']].add(res['image'], res['annotations'])
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
    seconds = time.perf_counter() - start

    header = dict(
        info=OrderedDict(description='Chest ImaGenome silver regions (mmadpd '
                         'imagenome_to_coco)', resize_short_side=resize_short_side),
        categories=[OrderedDict(id=i + 1, name=n) for i, n in enumerate(REGIONS)],
        pathologies=list(PATHOLOGIES))
    summary: dict = OrderedDict(kept=OrderedDict(), annotations=OrderedDict(), outputs=[])
    for split, writer in writers.items():
        writer.close(dict(header, info=OrderedDict(header['info'], split=split)))
        summary['kept'][split] = writer.num_images
        summary['annotations'][split] = writer.num_annotations
        summary['outputs'].append(writer.path)
    summary['total'] = len(tasks)
    summary['skipped'] = skipped.to_dict()
    summary['region_events'] = regions.to_dict()
    summary['seconds'] = round(seconds, 3)
    summary['workers'] = workers
    summary['graphs_per_s'] = round(len(tasks) / max(seconds, 1e-9), 1)
    skip_path = osp.join(out_dir, 'imagenome_skipped.json')
    write_json(skip_path, OrderedDict(
        (k, summary[k]) for k in ('total', 'kept', 'skipped', 'region_events')), indent=1)
    summary['outputs'].append(skip_path)

    log(skipped.table(f'ImaGenome: {len(tasks)} split rows, images skipped by reason:'))
    log(regions.table('ImaGenome: region boxes repaired or dropped:'))
    log('kept images: ' + ', '.join(f'{s} {n}' for s, n in summary['kept'].items()))
    log(f'{len(tasks)} scene graphs in {seconds:.1f} s with {workers} worker(s): '
        f'{summary["graphs_per_s"]} graphs/s '
        f'({summary["graphs_per_s"] / workers:.1f} per worker)')
    log(f'images: {images_note}')
    for path in summary['outputs']:
        log(f'wrote {path}')
    return summary


def _progress(results, total: int, enabled: bool):
    if not enabled:
        return results
    from tqdm import tqdm
    return tqdm(results, total=total, desc='scene graphs', unit='graph', file=sys.stderr,
                mininterval=1.0, smoothing=0.1)


__all__ = ['convert_imagenome', 'convert_one', 'build_tasks', 'SceneGraphSource',
           'IMAGE_SKIP_REASONS', 'REGION_EVENT_REASONS', 'StrictModeError', 'Task',
           'Options']
