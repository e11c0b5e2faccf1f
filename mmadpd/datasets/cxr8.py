"""``CXR8Dataset``: NIH ChestX-ray8 pathology boxes (the evaluation target set).

Reads ``cxr8_{val,test}.json`` written by ``tools/dataset_converters/cxr8_to_coco.py``
(COCO layout: ``images`` {id, file_name, width, height, patient_id, view},
``annotations`` {image_id, category_id = class index + 1, bbox [x, y, w, h] original px},
``categories`` = the target classes).

The classes come from the file's categories (so the phantom set or another target set
with other class names works unchanged) unless ``metainfo=dict(classes=...)`` is given;
then the file must contain every named class, and boxes of other classes are left out.

``data_info`` per image: ``img_path``, ``img_id``, ``width``, ``height``, ``patient_id``,
``view`` and ``instances`` with ``bbox`` (xyxy, original px), ``bbox_label`` (index into
``metainfo['classes']``) and ``ignore_flag`` 0.
"""
from __future__ import annotations

import os.path as osp
from typing import List, Optional

from mmdet.datasets import BaseDetDataset
from mmdet.registry import DATASETS

from mmadpd.anatomy import CXR8_CLASSES
from .imagenome import category_names, group_annotations, load_coco_file, make_palette, \
    xywh_to_xyxy

CXR8_HINT = ('Create it with tools/dataset_converters/cxr8_to_coco.py --bbox-csv ... '
             '--data-entry ... [--image-dir PNG_DIR] --out-dir DIR and point the config at '
             'DIR (env MMADPD_CXR8_DIR=DIR, or --cfg-options '
             'val_dataloader.dataset.data_root=DIR test_dataloader.dataset.data_root=DIR).')


@DATASETS.register_module()
class CXR8Dataset(BaseDetDataset):
    """Pathology boxes with one class per box (default classes ``anatomy.CXR8_CLASSES``,
    replaced by the annotation file's categories unless given explicitly)."""

    METAINFO = dict(classes=CXR8_CLASSES, palette=make_palette(len(CXR8_CLASSES)))

    def __init__(self, *args, metainfo: Optional[dict] = None, **kwargs) -> None:
        self._user_classes = None if metainfo is None else metainfo.get('classes')
        super().__init__(*args, metainfo=metainfo, **kwargs)

    def load_data_list(self) -> List[dict]:
        coco = load_coco_file(self.ann_file, CXR8_HINT)
        names = category_names(coco)
        if self._user_classes is None:
            classes = tuple(names)
            self._metainfo['classes'] = classes
            if len(self._metainfo.get('palette', ())) < len(classes):
                self._metainfo['palette'] = make_palette(len(classes))
        else:
            classes = tuple(self._user_classes)
            missing = [c for c in classes if c not in names]
            if missing:
                raise ValueError(f'{self.ann_file}: classes {missing} are not among the '
                                 f'file\'s categories {names}')
        label_of = {k + 1: classes.index(n) for k, n in enumerate(names) if n in classes}
        by_image = group_annotations(coco)
        img_root = self.data_prefix.get('img', '') or ''
        data_list = []
        for img in coco['images']:
            instances = [dict(bbox=xywh_to_xyxy(a['bbox']),
                              bbox_label=label_of[a['category_id']], ignore_flag=0)
                         for a in by_image.get(img['id'], ())
                         if a['category_id'] in label_of]
            data_list.append(dict(
                img_path=osp.join(img_root, img['file_name']), img_id=img['id'],
                width=img['width'], height=img['height'],
                patient_id=img.get('patient_id'), view=img.get('view'),
                instances=instances))
        return data_list
