"""Chest ImaGenome silver scene graphs + MIMIC-CXR-JPG -> COCO JSON (one file per split).

Inputs: scene graph folder or ``scene_graph.zip`` (:mod:`.imagenome_source`); the split
(:mod:`.imagenome_splits`: ``split_source='mimic'``, the default and the paper's,
MIMIC-CXR-JPG's ``mimic-cxr-2.0.0-split.csv.gz``; or ``'imagenome'``, Chest ImaGenome's
``splits/{train,valid,test}.csv``); ``images_to_avoid.csv`` (gold images, excluded under
both); the MIMIC-CXR-JPG root (``files/pXX/pSUBJECT/sSTUDY/DICOM.jpg``); and
``mimic-cxr-2.0.0-metadata.csv`` (``ViewPosition``).

Records are the split file's data rows plus the scene graphs no row lists; each one is
either kept or skipped under exactly one reason (checked at the end: read = kept +
skipped). Before any image is looked at: ``malformed_split_row``, ``duplicate_split_row``
and ``not_in_split`` (a scene graph of an image the split does not list). Then per image,
in this order (the first failing check names the reason):

1. ``gold_image``: listed in ``images_to_avoid.csv``;
2. ``non_frontal_view``: a view is known (metadata, split CSV, then the scene graph's
   ``viewpoint``) and one of the known views is not ``PA``/``AP``;
3. ``missing_scene_graph`` / ``unreadable_scene_graph`` (bad zip member, not JSON) /
   ``scene_graph_missing_key`` / ``malformed_scene_graph`` (a used value of the wrong
   type: see :mod:`.scene_graph`);
4. ``missing_image`` / ``corrupt_image`` (no SOI/frame header, or no EOI marker at the end:
   a truncated file), checked from the header and the last bytes, without decoding;
5. ``too_few_regions``: fewer than 5 valid region boxes after the rules of
   :mod:`.scene_graph` (clamp, drop empty, union duplicates; those repairs are counted per
   region as ``region_clamped``, ``region_empty``, ``region_duplicate``).

``--strict`` stops at the first defect; the paper's documented filters (:data:`EXCLUSIONS`:
gold images, views, too few regions, images outside the split and, under the ``mimic``
split, images without a scene graph) are counted but never stop it. ``|yes|`` labels that
are no training class (``ignored_labels``) and training classes named only outside the 29
regions (``labels_outside_regions``) are counted per image in the report.

Output ``OUT/imagenome_{train,val,test}.json`` (COCO; the contract in the module docs of
``mmadpd.datasets.imagenome``), ``OUT/imagenome_skipped.json`` (per reason: count and the
list of dicom ids, or ``dicom_id:region`` for region events) and ``OUT/images``: a symlink
to the MIMIC-CXR-JPG root, or with ``resize_short_side`` the pre-resized grey JPEG cache
(:mod:`.image_cache`; boxes scaled, ``width``/``height`` of the cached file). Box
coordinates are rounded to 1/1000 px. Annotation files are streamed to disk (constant
memory for ~240k graphs), and identical inputs give byte-identical outputs whatever the
number of workers. A run that keeps no image writes the report, leaves the annotation
files as they were and raises ``ValueError``.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import os.path as osp
import sys
import time
from collections import OrderedDict
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Tuple

import cv2

from mmadpd.anatomy import PATHOLOGIES, REGIONS

from .image_cache import write_cached_image
from .imagenome_report import (EXCLUSIONS, IMAGE_SKIP_REASONS, REGION_EVENT_REASONS,
                               RunTally, StrictModeError, log_summary, summarise)
from .imagenome_source import SceneGraphReadError, SceneGraphSource
from .imagenome_splits import (IMAGENOME_SPLIT_FILES, MIMIC_SPLIT_FILE, SPLIT_SOURCES,
                               RowSkip, Task, imagenome_tasks, mimic_tasks,
                               read_dicom_ids, read_metadata_views)
from .imagenome_writer import SplitWriter
from .io_utils import jpeg_info, link_images, write_json
from .scene_graph import (IMAGE_LABEL_POOLINGS, MIN_REGIONS, SceneGraphKeyError,
                          SceneGraphValueError, check_keys, graph_labels, multi_hot,
                          region_boxes)

SPLITS = tuple(IMAGENOME_SPLIT_FILES)  # ('train', 'val', 'test')
FRONTAL_VIEWS = ('PA', 'AP')


class Options(NamedTuple):
    scene_graphs: str
    images_root: str
    cache_dir: Optional[str]
    short_side: Optional[int]
    min_regions: int = MIN_REGIONS
    image_labels: str = 'regions'


class _Skip(Exception):
    """Internal: one image is skipped (reason, file named in messages, detail)."""

    def __init__(self, reason: str, path: str, detail: str = '') -> None:
        super().__init__(reason)
        self.reason, self.path, self.detail = reason, path, detail


# ----------------------------------------------------------------------------- one image
def _fmt(v: float) -> float:
    v = round(v, 3)
    return int(v) if v == int(v) else v


def _read_graph(task: Task, source: SceneGraphSource, sg_path: str, exists: bool) -> dict:
    """Steps 1-3: the parsed scene graph (or :class:`_Skip`)."""
    if task.gold:
        raise _Skip('gold_image', sg_path)
    if any(v not in FRONTAL_VIEWS for v in task.views):
        raise _Skip('non_frontal_view', sg_path, f'view {task.views}')
    if not exists:
        raise _Skip('missing_scene_graph', sg_path)
    try:
        graph = json.loads(source.read(task.dicom_id))
    except SceneGraphReadError as exc:
        raise _Skip('unreadable_scene_graph', sg_path, str(exc)) from None
    except (ValueError, RecursionError) as exc:  # also UnicodeDecodeError
        raise _Skip('unreadable_scene_graph', sg_path, str(exc)[:80]) from None
    try:
        check_keys(graph)
    except SceneGraphKeyError as exc:
        raise _Skip('scene_graph_missing_key', sg_path, str(exc)) from None
    viewpoint = graph.get('viewpoint')
    if viewpoint is not None and not isinstance(viewpoint, str):
        raise _Skip('malformed_scene_graph', sg_path,
                    f'viewpoint is a {type(viewpoint).__name__}')
    viewpoint = (viewpoint or '').strip()
    if viewpoint and viewpoint not in FRONTAL_VIEWS:
        raise _Skip('non_frontal_view', sg_path, f'scene graph viewpoint {viewpoint!r}')
    graph['viewpoint'] = viewpoint
    return graph


def _image_size(img_path: str) -> Tuple[int, int]:
    """Step 4: ``(width, height)`` from the JPEG header (or :class:`_Skip`)."""
    if not osp.isfile(img_path):
        raise _Skip('missing_image', img_path)
    try:
        return jpeg_info(img_path)
    except (OSError, ValueError) as exc:
        raise _Skip('corrupt_image', img_path, str(exc)) from None


def _regions_and_labels(graph: dict, width: int, height: int, sg_path: str,
                        image_labels: str):
    """Step 5 (and the labels): ``(boxes, events, GraphLabels)``; malformed values skip."""
    try:
        boxes, events = region_boxes(graph['objects'], width, height)
        labels = graph_labels(graph['attributes'], image_labels)
    except SceneGraphKeyError as exc:
        raise _Skip('scene_graph_missing_key', sg_path, str(exc)) from None
    except SceneGraphValueError as exc:
        raise _Skip('malformed_scene_graph', sg_path, str(exc)) from None
    return boxes, events, labels


def _coco_bodies(task: Task, view: str, size: Tuple[int, int], scale: Tuple[float, float],
                 boxes: Dict[int, list], labels) -> Tuple[str, List[str]]:
    """JSON text of the image entry and its annotations (without ids)."""
    sx, sy = scale
    image = OrderedDict(
        file_name=task.rel_path, width=size[0], height=size[1],
        patient_id=int(task.subject_id) if task.subject_id.isdigit() else task.subject_id,
        study_id=int(task.study_id) if task.study_id.isdigit() else task.study_id,
        dicom_id=task.dicom_id, view=view, pathology_labels=multi_hot(labels.image))
    anns = []
    for idx in sorted(boxes):
        x1, y1, x2, y2 = boxes[idx]
        x1, x2 = _fmt(x1 * sx), _fmt(x2 * sx)
        y1, y2 = _fmt(y1 * sy), _fmt(y2 * sy)
        w, h = _fmt(x2 - x1), _fmt(y2 - y1)
        ann = OrderedDict(category_id=idx + 1, bbox=[x1, y1, w, h], area=_fmt(w * h),
                          iscrowd=0, pathology_labels=multi_hot(labels.regions.get(idx, ())))
        anns.append(json.dumps(ann, separators=(',', ':'))[1:-1])
    return json.dumps(image, separators=(',', ':'))[1:-1], anns


def convert_one(task: Task, opts: Options, source: SceneGraphSource) -> dict:
    """Convert one split row.

    Returns:
        ``{'dicom_id', 'split', 'skip': reason or None, 'path' (file named in the skip
        message), 'detail', 'sg_path' (scene graph location), 'events':
        [(reason, 'dicom:region')], 'image': JSON text of the image entry without its id,
        'annotations': [JSON text of an annotation without id/image_id], 'ignored_labels',
        'outside_labels': sorted label names (kept images only)}``.
    """
    sg_path, exists = source.locate(task.dicom_id)
    out = dict(dicom_id=task.dicom_id, split=task.split, skip=None, path='', detail='',
               sg_path=sg_path, events=[], image='', annotations=[], ignored_labels=[],
               outside_labels=[])
    try:
        graph = _read_graph(task, source, sg_path, exists)
        img_path = osp.join(opts.images_root, task.rel_path)
        width, height = _image_size(img_path)
        boxes, events, labels = _regions_and_labels(graph, width, height, sg_path,
                                                    opts.image_labels)
        out['events'] = [(reason, f'{task.dicom_id}:{name}') for reason, name in events]
        if len(boxes) < opts.min_regions:
            raise _Skip('too_few_regions', sg_path, f'{len(boxes)} valid regions')
        size = (width, height)
        if opts.short_side:
            try:
                size = write_cached_image(img_path, osp.join(opts.cache_dir, task.rel_path),
                                          width, height, opts.short_side)
            except ValueError as exc:
                raise _Skip('corrupt_image', img_path, str(exc)) from None
    except _Skip as skip:
        out.update(skip=skip.reason, path=skip.path, detail=skip.detail)
        return out
    view = task.views[0] if task.views else graph['viewpoint']
    out['image'], out['annotations'] = _coco_bodies(
        task, view, size, (size[0] / width, size[1] / height), boxes, labels)
    out['ignored_labels'] = sorted(labels.ignored)
    out['outside_labels'] = sorted(PATHOLOGIES[i] for i in labels.outside_regions)
    return out


# ----------------------------------------------------------------------------- workers
_WORKER: dict = {}


def _init_worker(opts: Options) -> None:
    _WORKER['opts'] = opts
    _WORKER['source'] = SceneGraphSource(opts.scene_graphs)


def _work(task: Task) -> dict:
    return convert_one(task, _WORKER['opts'], _WORKER['source'])


@contextmanager
def _converted(tasks: List[Task], opts: Options, workers: int) -> Iterator:
    """Results of :func:`convert_one` in task order, from a process pool when workers > 1."""
    if workers <= 1:
        _init_worker(opts)
        yield map(_work, tasks)
        return
    # OpenCV's thread pool does not survive fork(): sequential OpenCV in the parent while
    # the workers are forked (as mmengine's DataLoader does)
    cv2.setNumThreads(0)
    pool = mp.get_context().Pool(workers, _init_worker, (opts,))
    try:
        yield pool.imap(_work, tasks, chunksize=16)
    finally:
        pool.terminate()
        pool.join()


# ----------------------------------------------------------------------------- steps
class _Plan(NamedTuple):
    """Every record of the run: split rows to convert or skipped as malformed, and the
    scene graphs no row lists."""
    tasks: List[Task]
    row_skips: List[RowSkip]
    unlisted: List[str]  # dicom ids, sorted


def _check_inputs(scene_graphs: str, splits_dir: Optional[str], images_root: str,
                  metadata: str, split_source: str, mimic_split: Optional[str],
                  images_to_avoid: Optional[str], resize_short_side: Optional[int],
                  image_labels: str) -> Tuple[str, str]:
    """Fail before anything is written; returns ``(split file or folder, gold list)``."""
    if split_source not in SPLIT_SOURCES:
        raise ValueError(f'split_source must be one of {SPLIT_SOURCES}, got {split_source!r}')
    if image_labels not in IMAGE_LABEL_POOLINGS:
        raise ValueError(f'image_labels must be one of {IMAGE_LABEL_POOLINGS}, '
                         f'got {image_labels!r}')
    if split_source == 'imagenome':
        if not splits_dir:
            raise ValueError('--splits-dir is required with --split-source imagenome')
        split_files = [osp.join(splits_dir, n) for n in IMAGENOME_SPLIT_FILES.values()]
        split = splits_dir
    else:
        split = mimic_split or osp.join(osp.dirname(metadata), MIMIC_SPLIT_FILE)
        split_files = [split]
    if images_to_avoid is None and splits_dir:
        images_to_avoid = osp.join(splits_dir, 'images_to_avoid.csv')
    if images_to_avoid is None:
        raise ValueError('the gold-standard list is needed: give --images-to-avoid or a '
                         '--splits-dir that holds images_to_avoid.csv')
    for path in split_files + [metadata, images_to_avoid]:
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: file not found')
    if not osp.isdir(images_root):
        raise FileNotFoundError(f'{images_root}: MIMIC-CXR-JPG root not found')
    if resize_short_side is not None and resize_short_side < 1:
        raise ValueError(f'--resize-short-side must be positive, got {resize_short_side}')
    return split, images_to_avoid


def _plan(split_source: str, split: str, metadata: str, images_to_avoid: str,
          source: SceneGraphSource) -> _Plan:
    """Read the tables: every record to visit or to count as skipped before the images."""
    views = read_metadata_views(metadata)
    gold = read_dicom_ids(images_to_avoid)
    read = imagenome_tasks if split_source == 'imagenome' else mimic_tasks
    tasks, row_skips = read(split, views, gold)
    listed = {t.dicom_id for t in tasks} | {s.record for s in row_skips}
    unlisted = [d for d in source.dicom_ids() if d not in listed]
    return _Plan(tasks, row_skips, unlisted)


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


def _header(resize_short_side: Optional[int], split_source: str, image_labels: str) -> dict:
    return dict(
        info=OrderedDict(description='Chest ImaGenome silver regions (mmadpd '
                         'imagenome_to_coco)', resize_short_side=resize_short_side,
                         split_source=split_source, image_labels=image_labels),
        categories=[OrderedDict(id=i + 1, name=n) for i, n in enumerate(REGIONS)],
        pathologies=list(PATHOLOGIES))


def convert_imagenome(scene_graphs: str, splits_dir: Optional[str], images_root: str,
                      metadata: str, out_dir: str, images_to_avoid: Optional[str] = None,
                      workers: int = 1, strict: bool = False,
                      resize_short_side: Optional[int] = None,
                      progress: bool = True, log: Callable[[str], None] = print, *,
                      split_source: str = 'mimic', mimic_split: Optional[str] = None,
                      image_labels: str = 'regions') -> dict:
    """Run the conversion (see the module docstring).

    Args:
        splits_dir: Chest ImaGenome's ``silver_dataset/splits`` (the split under
            ``split_source='imagenome'``; in any case the default home of
            ``images_to_avoid.csv``). May be None with ``mimic`` and ``images_to_avoid``.
        split_source: ``'mimic'`` (default, the paper) or ``'imagenome'``.
        mimic_split: ``mimic-cxr-2.0.0-split.csv.gz``; default: next to ``metadata``.
        image_labels: ``'regions'`` (default) or ``'all_attributes'``.

    Returns:
        A summary dict: ``total`` records, ``kept`` {split: images}, ``annotations``,
        ``skipped`` / ``region_events`` (reason -> count, ids), ``ignored_labels``,
        ``labels_outside_regions``, ``seconds``, ``graphs_per_s``, ``outputs``.

    Raises:
        FileNotFoundError / ValueError: unreadable inputs (naming the file), or no image
            kept (the report is written, the annotation files are left as they were).
        StrictModeError: with ``strict``, at the first defect (not at a filter).
    """
    split, gold = _check_inputs(scene_graphs, splits_dir, images_root, metadata,
                                split_source, mimic_split, images_to_avoid,
                                resize_short_side, image_labels)
    plan = _plan(split_source, split, metadata, gold, SceneGraphSource(scene_graphs))
    os.makedirs(out_dir, exist_ok=True)
    images_note = _prepare_image_dir(out_dir, images_root, resize_short_side)
    opts = Options(scene_graphs, images_root,
                   osp.join(out_dir, 'images') if resize_short_side else None,
                   resize_short_side, image_labels=image_labels)
    writers = OrderedDict((s, SplitWriter(out_dir, s)) for s in SPLITS)
    try:
        summary, tally = _convert_all(plan, opts, writers, strict, split_source,
                                      max(1, int(workers)), progress)
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    log_summary(log, summary, tally, f'{split_source} split, {split}')
    summary['outputs'] = _write_outputs(out_dir, summary, writers,
                                        _header(resize_short_side, split_source, image_labels))
    log(f'images: {images_note}')
    for path in summary['outputs']:
        log(f'wrote {path}')
    return summary


def _convert_all(plan: _Plan, opts: Options, writers: Dict[str, SplitWriter], strict: bool,
                 split_source: str, workers: int, progress: bool) -> Tuple[dict, RunTally]:
    """Count the records skipped before the images, convert the images into ``writers``;
    returns ``(summary, tally)``."""
    start = time.perf_counter()
    tally = RunTally(strict, split_source)
    tally.add_before_images(plan.row_skips, plan.unlisted, opts.scene_graphs)
    with _converted(plan.tasks, opts, workers) as results:
        for res in _progress(results, len(plan.tasks), progress):
            if tally.add_result(res):
                writers[res['split']].add(res['image'], res['annotations'])
    records = OrderedDict(split_rows=len(plan.tasks) + len(plan.row_skips),
                          scene_graphs_not_in_split=len(plan.unlisted))
    summary = summarise(tally, records,
                        OrderedDict((s, w.num_images) for s, w in writers.items()),
                        OrderedDict((s, w.num_annotations) for s, w in writers.items()),
                        time.perf_counter() - start, workers, len(plan.tasks))
    return summary, tally


def _write_outputs(out_dir: str, summary: dict, writers: Dict[str, SplitWriter],
                   header: dict) -> List[str]:
    """The report, then the annotation files -- unless nothing was kept (ValueError)."""
    skip_path = osp.join(out_dir, 'imagenome_skipped.json')
    write_json(skip_path, OrderedDict((k, summary[k]) for k in (
        'total', 'records', 'kept', 'skipped', 'region_events', 'ignored_labels',
        'labels_outside_regions')), indent=1)
    if not sum(summary['kept'].values()):
        for w in writers.values():
            w.abort()
        raise ValueError(f'{out_dir}: no image kept out of {summary["total"]} records '
                         f'(reasons in {skip_path}); annotation files left unchanged')
    outputs = []
    for split_name, writer in writers.items():
        writer.close(dict(header, info=OrderedDict(header['info'], split=split_name)))
        outputs.append(writer.path)
    return outputs + [skip_path]


def _progress(results, total: int, enabled: bool):
    if not enabled:
        return results
    from tqdm import tqdm
    return tqdm(results, total=total, desc='scene graphs', unit='graph', file=sys.stderr,
                mininterval=1.0, smoothing=0.1)


__all__ = ['convert_imagenome', 'convert_one', 'SceneGraphSource', 'IMAGE_SKIP_REASONS',
           'REGION_EVENT_REASONS', 'EXCLUSIONS', 'StrictModeError', 'Task', 'Options']
