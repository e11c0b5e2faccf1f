"""``ImaGenomeDataset``: Chest ImaGenome regions as ground-truth instances.

Reads ``imagenome_{train,val,test}.json`` written by
``tools/dataset_converters/imagenome_to_coco.py`` (COCO layout: ``images`` with
``file_name``, ``width``, ``height``, ``patient_id``, ``study_id``, ``dicom_id``, ``view``,
``pathology_labels`` (53 x 0/1); ``annotations`` with ``category_id`` = region index + 1,
``bbox`` [x, y, w, h] original px, ``pathology_labels`` (53 x 0/1); ``categories`` = the 29
regions; top-level ``pathologies`` = the 53 class names).

``data_info`` per image: ``img_path``, ``img_id``, ``width``, ``height``, ``patient_id``,
``dicom_id``, ``view``, ``pathology_labels`` (image level, list of 0/1) and ``instances``:
one dict per present region with ``bbox`` (xyxy, original px), ``bbox_label`` (region
index), ``ignore_flag`` 0 and ``pathology_labels`` (list of 0/1).
"""
from __future__ import annotations

import json
import os.path as osp
from collections import defaultdict
from typing import List, Tuple

from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS

from mmadpd.anatomy import PATHOLOGIES, REGIONS
from mmadpd.box_ops import box_xywh_to_xyxy as xywh_to_xyxy  # the name cxr8.py imports

from .serialized_cache import SerializedCacheMixin


def make_palette(num: int) -> List[Tuple[int, int, int]]:
    """``num`` well-separated RGB colours (golden-ratio hue walk; deterministic)."""
    import colorsys
    out = []
    for i in range(num):
        r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.75, 1.0)
        out.append((int(r * 255), int(g * 255), int(b * 255)))
    return out


def load_coco_file(path: str, hint: str) -> dict:
    """Load a converter output file.

    Raises:
        FileNotFoundError: naming ``path`` and how to create it (``hint``).
        ValueError: naming ``path`` when it is not a COCO annotation file.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'annotation file {path} not found. {hint}')
    try:
        with open(path, encoding='utf-8') as f:
            coco = json.load(f)
    except ValueError as exc:
        raise ValueError(f'{path}: not valid JSON ({exc})') from None
    for key in ('images', 'annotations', 'categories'):
        if key not in coco:
            raise ValueError(f'{path}: not a COCO annotation file (no {key!r})')
    return coco


def category_names(coco: dict) -> List[str]:
    """Category names ordered by id (ids must be 1..K)."""
    cats = sorted(coco['categories'], key=lambda c: c['id'])
    if [c['id'] for c in cats] != list(range(1, len(cats) + 1)):
        raise ValueError('category ids must be 1..K')
    return [c['name'] for c in cats]


def group_annotations(coco: dict) -> dict:
    by_image = defaultdict(list)
    for ann in coco['annotations']:
        by_image[ann['image_id']].append(ann)
    return by_image


IMAGENOME_HINT = ('Create it with tools/dataset_converters/imagenome_to_coco.py ... '
                  '--out-dir DIR and point the config at DIR (env MMADPD_IMAGENOME_DIR=DIR, '
                  'or --cfg-options train_dataloader.dataset.data_root=DIR).')


@DATASETS.register_module()
class ImaGenomeDataset(SerializedCacheMixin, BaseDetDataset):
    """Chest ImaGenome region boxes (29 classes = ``anatomy.REGIONS``) with per-region
    and image-level pathology labels (``metainfo['pathologies']``, 53 classes).

    Args: as mmdet's ``BaseDetDataset`` (``ann_file``, ``data_root``,
    ``data_prefix=dict(img=...)``, ``pipeline``, ``test_mode`` ...), plus
    ``cache_dir``: a folder for the memory-mapped annotation cache
    (:mod:`mmadpd.datasets.serialized_cache`; the real training file then starts in
    seconds instead of ~90 s and 12 GB per process). None (default): no cache.
    """

    METAINFO = dict(classes=REGIONS, pathologies=PATHOLOGIES,
                    palette=make_palette(len(REGIONS)))

    def load_data_list(self) -> List[dict]:
        coco = load_coco_file(self.ann_file, IMAGENOME_HINT)
        names = category_names(coco)
        if tuple(names) != tuple(self.metainfo['classes']):
            raise ValueError(f'{self.ann_file}: categories {names[:3]}... are not the '
                             f'{len(self.metainfo["classes"])} regions of anatomy.REGIONS')
        pathologies = tuple(coco.get('pathologies', ()))
        if pathologies != tuple(self.metainfo['pathologies']):
            raise ValueError(f'{self.ann_file}: "pathologies" list differs from the '
                             'dataset metainfo (anatomy.PATHOLOGIES)')
        # The real training file has ~6.8 M annotations (~2 GB of JSON). Each image's
        # annotation dicts are dropped as soon as its instances are built, so the parsed
        # file and the data list are never both whole in memory.
        by_image = group_annotations(coco)
        images = coco.pop('images')
        del coco
        if len({img['id'] for img in images}) != len(images):
            raise ValueError(f'{self.ann_file}: duplicate image ids in "images"')
        img_root = self.data_prefix.get('img', '') or ''
        data_list = []
        for img in images:
            instances = [dict(bbox=xywh_to_xyxy(a['bbox']), bbox_label=a['category_id'] - 1,
                              ignore_flag=0, pathology_labels=a['pathology_labels'])
                         for a in by_image.pop(img['id'], ())]
            data_list.append(dict(
                img_path=osp.join(img_root, img['file_name']), img_id=img['id'],
                width=img['width'], height=img['height'],
                patient_id=img.get('patient_id'), dicom_id=img.get('dicom_id'),
                view=img.get('view'), pathology_labels=img['pathology_labels'],
                instances=instances))
        return data_list
