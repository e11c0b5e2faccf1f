"""``CXR8ClassificationDataset``: NIH ChestX-ray8 image labels (training the CAM family).

Reads the NIH files as released (or the phantom generator's copies of them) under
``data_root``:

* ``Data_Entry_2017_v2020.csv`` (``ann_file``): ``Finding Labels`` (``|``-separated) and
  ``Patient ID`` per image, read by column name;
* ``train_val_list.txt`` (``split_file``): the official training list, one name a line;
* ``BBox_List_2017.csv`` (``bbox_file``): the box images, which are evaluation data: they
  and **every image of their patients** are left out of training, so no patient of the
  CXR8 val/test halves is ever trained on;
* ``images/`` (``data_prefix['img']``): the PNGs.

Every listed image that is left out is counted by reason and logged (``box_image``,
``box_patient``, ``no_data_entry``, ``missing_image``), with the first few names, as the
converters do; ``skipped`` holds the full report.

``data_info`` per image: ``img_path``, ``img_id`` (position in the list), ``patient_id``,
``instances`` = [] (no boxes) and ``pathology_labels`` (K,) 0/1 over
``metainfo['classes']`` (default the 8 CXR8 classes; labels outside them, e.g. ``Hernia``
or ``No Finding``, are all-zero rows). ``LoadADPDAnnotations`` turns them into
``gt_image_labels``.
"""
from __future__ import annotations

import csv
import os.path as osp
from collections import OrderedDict
from typing import List, Optional

from mmengine.logging import print_log
from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS

from mmadpd.anatomy import CXR8_CLASSES
from .converters.cxr8 import read_bbox_list, read_data_entry
from .converters.io_utils import open_text
from .converters.skips import SkipReport
from .imagenome import make_palette

CLS_SKIP_REASONS = OrderedDict([
    ('box_image', 'a box image (evaluation data; left out of training)'),
    ('box_patient', 'a patient of a box image (left out of training)'),
    ('no_data_entry', 'listed image not in Data_Entry (no labels; skipped)'),
    ('missing_image', 'image file missing (skipped)'),
])


def read_finding_labels(path: str) -> dict:
    """``Data_Entry_2017*.csv`` -> {image: [finding labels]} (by column name)."""
    with open_text(path) as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        if 'Image Index' not in header or 'Finding Labels' not in header:
            raise ValueError(f'{path}: no "Image Index"/"Finding Labels" columns in header '
                             f'{header!r}')
        i_img, i_lab = header.index('Image Index'), header.index('Finding Labels')
        return {row[i_img].strip(): [x.strip() for x in row[i_lab].split('|')]
                for row in reader if len(row) > max(i_img, i_lab)}


def read_image_list(path: str) -> List[str]:
    """One image name per line (``train_val_list.txt`` / ``test_list.txt``)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: image list not found (the NIH release\'s '
                                'train_val_list.txt, or the phantom generator\'s with '
                                '--num-cxr8-train N)')
    with open_text(path) as f:
        return [line.strip() for line in f if line.strip()]


@DATASETS.register_module()
class CXR8ClassificationDataset(BaseDetDataset):
    """Image-level CXR8 labels for weakly supervised training (see the module docstring).

    The defaults are the NIH release's names, so a config needs only ``data_root`` and
    ``pipeline``.

    Args:
        split_file: the image list, relative to ``data_root``.
        bbox_file: the box list whose images and patients are excluded (None: exclude
            nothing; then say so in your results).
        **kwargs: ``ann_file`` (the Data_Entry CSV), ``data_root``, ``data_prefix``,
            ``pipeline``, ... as for mmdet's ``BaseDetDataset``.
    """

    METAINFO = dict(classes=CXR8_CLASSES, palette=make_palette(len(CXR8_CLASSES)))

    def __init__(self, *args, ann_file: str = 'Data_Entry_2017_v2020.csv',
                 split_file: str = 'train_val_list.txt',
                 bbox_file: str = 'BBox_List_2017.csv',
                 data_prefix: Optional[dict] = None, **kwargs) -> None:
        self.split_file, self.bbox_file = split_file, bbox_file
        self.skipped = SkipReport(CLS_SKIP_REASONS)
        super().__init__(*args, ann_file=ann_file,
                         data_prefix=dict(img='images/') if data_prefix is None else data_prefix,
                         **kwargs)

    def _path(self, name: str) -> str:
        return name if osp.isabs(name) or not self.data_root else \
            osp.join(self.data_root, name)

    def load_data_list(self) -> List[dict]:
        self.skipped = SkipReport(CLS_SKIP_REASONS)
        labels = read_finding_labels(self.ann_file)
        patients = {img: pat for img, (pat, _) in read_data_entry(self.ann_file).items()}
        box_images, box_patients = set(), set()
        if self.bbox_file:
            rows = read_bbox_list(self._path(self.bbox_file), SkipReport({}))
            box_images = {r.image for r in rows}
            box_patients = {patients[i] for i in box_images if i in patients}
        classes = list(self.metainfo['classes'])
        img_root = self.data_prefix.get('img', '') or ''
        data_list = []
        for k, image in enumerate(read_image_list(self._path(self.split_file))):
            path = osp.join(img_root, image)
            if image in box_images:
                self.skipped.add('box_image', image)
            elif image not in labels:
                self.skipped.add('no_data_entry', image)
            elif patients.get(image) in box_patients:
                self.skipped.add('box_patient', image)
            elif not osp.isfile(path):
                self.skipped.add('missing_image', image, path)
            else:
                data_list.append(dict(
                    img_path=path, img_id=k, patient_id=patients[image], instances=[],
                    pathology_labels=[int(c in labels[image]) for c in classes]))
        if self.skipped.total:
            detail = '; '.join(f'{r}: {len(ids)} (e.g. {", ".join(ids[:3])})'
                               for r, ids in self.skipped.ids.items() if ids)
            print_log(f'{self._path(self.split_file)}: {len(data_list)} training images, '
                      f'left out {self.skipped.total}: {detail}', logger='current')
        return data_list
