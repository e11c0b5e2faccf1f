"""Streams one COCO annotation file of the ImaGenome converter to disk.

Images and annotations go to two temporary files that are joined into
``OUT/imagenome_{split}.json`` at :meth:`SplitWriter.close` (renamed into place, so an
interrupted run never leaves a half-written file and an earlier output stays until then);
memory stays flat for ~240k images and ids follow the input order.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import shutil
from typing import List


class SplitWriter:
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


__all__ = ['SplitWriter']
