"""NIH ChestX-ray8 box list -> COCO JSON (``cxr8_val.json``, ``cxr8_test.json``).

Inputs (plain or gzipped CSV):

* ``BBox_List_2017.csv``: the header is literally
  ``Image Index,Finding Label,Bbox [x,y,w,h],,,`` (6 names, three of them empty, the box
  header split by its own commas) and the data rows have 6 fields
  ``image, label, x, y, w, h`` (pixels of the 1024x1024 PNG). The box file spells
  ``Infiltrate``; it is renamed ``Infiltration`` (``anatomy.CXR8_BOX_LABEL_ALIASES``).
* ``Data_Entry_2017_v2020.csv``: patient id and view per image; read by column name, so
  copies with a trailing comma (an extra empty column) work too.
* optional image folder: sizes are read from the PNG headers; without it every image is
  taken to be 1024x1024 (the size of the released PNGs the boxes refer to).

Output COCO files: ``images`` {id, file_name, width, height, patient_id, view},
``annotations`` {id, image_id, category_id (= CXR8 class index + 1), bbox [x, y, w, h]
original px, area, iscrowd 0}, ``categories`` = the 8 CXR8 classes in
``anatomy.CXR8_CLASSES`` order. Plus ``cxr8_split.csv`` (image, patient, split).

The split is the committed ``mmadpd/data/cxr8_split.csv`` when the box list is the real
NIH file (same set of image names) and seed 0, so every user evaluates on the same halves;
otherwise it is computed with :mod:`.split` (patient-disjoint, ~half of the boxes each).

Checks: each image has at most one box per class (an image breaking this is skipped --
the evaluation protocol keeps one prediction per class and image); boxes with a
non-positive size are skipped; boxes reaching outside the image are clamped (counted).

Accounting: every CSV line is parsed on its own (a stray quote cannot join the lines after
it into one field), and every data row of the box list ends up either kept (one COCO box)
or skipped under one reason. ``OUT/cxr8_skipped.json`` holds the reasons with their ids and
the row account ``rows_read = rows_kept + sum(rows_skipped)``, which is checked at the end;
a run that keeps no box writes that file and raises instead of writing empty outputs.
"""
from __future__ import annotations

import csv
import math
import os
import os.path as osp
import zlib
from collections import OrderedDict
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

from mmadpd.anatomy import CXR8_BOX_LABEL_ALIASES, CXR8_CLASSES
from .io_utils import image_size, link_images, open_text, read_csv_lines, write_json
from .skips import SkipReport
from .split import SPLITS, check_patient_disjoint, split_images

#: The split of the real NIH box images shipped with the package (seed 0).
COMMITTED_SPLIT = osp.normpath(osp.join(osp.dirname(__file__), '..', '..', 'data',
                                        'cxr8_split.csv'))
DEFAULT_SIZE = 1024

CXR8_SKIP_REASONS = OrderedDict([
    ('malformed_row', 'box row without 6 fields or with non-numeric coordinates (row skipped)'),
    ('unknown_label', 'finding label not among the 8 CXR8 classes (box skipped)'),
    ('invalid_box', 'box width or height <= 0 (box skipped)'),
    ('no_data_entry', 'image not in Data_Entry (no patient id; image skipped)'),
    ('missing_image', 'image file missing in --image-dir (image skipped)'),
    ('unreadable_image', 'image header unreadable (image skipped)'),
    ('duplicate_class', 'two boxes of one class on one image (image skipped)'),
    ('box_clamped', 'box reached outside the image (clamped, kept)'),
    ('malformed_entry', 'Data_Entry row without image name or patient id (row ignored)'),
])
SKIPPED_FILE = 'cxr8_skipped.json'


class NothingKeptError(ValueError):
    """No box of the box list survived the checks (the skip report says why)."""


class RowAccount:
    """Where every data row of the box list went: ``read == kept + sum(skipped)``."""

    def __init__(self) -> None:
        self.read = 0
        self.kept = 0
        self.skipped: Dict[str, int] = OrderedDict()

    def skip(self, reason: str, rows: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + rows

    def check(self, path: str) -> None:
        """Raise when a row is unaccounted for (a converter bug, never bad input)."""
        if self.read != self.kept + sum(self.skipped.values()):
            raise RuntimeError(f'{path}: {self.read} box rows read but {self.kept} kept + '
                               f'{sum(self.skipped.values())} skipped; a row was lost')

    def to_dict(self) -> dict:
        return OrderedDict(rows_read=self.read, rows_kept=self.kept,
                           rows_skipped=OrderedDict(self.skipped))


class BoxRow(NamedTuple):
    image: str
    label: str
    x: float
    y: float
    w: float
    h: float


def read_bbox_list(path: str, report: SkipReport,
                   account: Optional[RowAccount] = None) -> List[BoxRow]:
    """Parse ``BBox_List_2017.csv`` line by line; bad rows are reported
    (``malformed_row``, ``unknown_label``, ``invalid_box``), counted in ``account`` and
    left out.

    Raises:
        ValueError: naming the file when the header is not the NIH box-list header, or
            when the file cannot be read to its end (truncated gzip).
    """
    account = RowAccount() if account is None else account
    rows: List[BoxRow] = []
    lines = read_csv_lines(path)
    first = next(lines, None)
    if first is not None and first.fields is None:
        raise ValueError(f'{path}: not an NIH box list (header line: {first.error})')
    header = first.fields if first is not None else None
    if not header or [h.strip() for h in header[:2]] != ['Image Index', 'Finding Label']:
        raise ValueError(f'{path}: not an NIH box list (header {header!r} does not '
                         'start with "Image Index,Finding Label")')
    for line in lines:
        account.read += 1
        row, reason, record, detail = _parse_box_row(line, osp.basename(path))
        if row is not None:
            rows.append(row)
            continue
        account.skip(reason)
        report.add(reason, record, path, detail)
    return rows


def _parse_box_row(line, name: str):
    """One box-list line -> ``(BoxRow, '', '', '')`` or ``(None, reason, record, detail)``."""
    record = f'{name}:{line.line_no}'
    fields = line.fields
    if fields is None:
        return None, 'malformed_row', record, line.error
    # the trailing empty fields only exist in the header, but tolerate them
    if len(fields) < 6 or any(x.strip() for x in fields[6:]):
        return None, 'malformed_row', record, f'{len(fields)} fields'
    try:
        x, y, w, h = (float(v) for v in fields[2:6])
    except ValueError:
        return None, 'malformed_row', record, 'non-numeric box'
    image = fields[0].strip()
    label = CXR8_BOX_LABEL_ALIASES.get(fields[1].strip(), fields[1].strip())
    if not image:
        return None, 'malformed_row', record, 'empty image name'
    if label not in CXR8_CLASSES:
        return None, 'unknown_label', f'{image}:{label}', ''
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
        return None, 'invalid_box', f'{image}:{label}', f'w={w}, h={h}'
    return BoxRow(image, label, x, y, w, h), '', '', ''


def read_data_entry(path: str, report: Optional[SkipReport] = None
                    ) -> Dict[str, Tuple[str, str]]:
    """``Data_Entry_2017*.csv`` -> {image: (patient id, view)} (by column name); rows
    without an image name or patient id are reported as ``malformed_entry``.

    Raises:
        ValueError: naming the file when a needed column is missing or the file cannot be
            read to its end.
    """
    out: Dict[str, Tuple[str, str]] = {}
    lines = read_csv_lines(path)
    first = next(lines, None)
    header = [h.strip() for h in (first.fields or [])] if first is not None else []
    try:
        i_img, i_pat = header.index('Image Index'), header.index('Patient ID')
    except ValueError:
        raise ValueError(f'{path}: no "Image Index"/"Patient ID" columns in header '
                         f'{header!r}') from None
    i_view = header.index('View Position') if 'View Position' in header else None
    for line in lines:
        fields = line.fields
        if fields is None or len(fields) <= max(i_img, i_pat) \
                or not fields[i_img].strip() or not fields[i_pat].strip():
            if report is not None:
                report.add('malformed_entry', f'{osp.basename(path)}:{line.line_no}', path,
                           line.error)
            continue
        view = fields[i_view].strip() if i_view is not None and i_view < len(fields) else ''
        out[fields[i_img].strip()] = (fields[i_pat].strip(), view)
    return out


def read_split_csv(path: str) -> Dict[str, Tuple[str, str]]:
    """``image,patient,split`` CSV -> {image: (patient, split)}.

    Raises:
        ValueError: naming the file for a missing column, an unknown split or a file that
            cannot be read to its end.
    """
    out: Dict[str, Tuple[str, str]] = {}
    try:
        with open_text(path) as f:
            reader = csv.DictReader(f)
            if reader.fieldnames is None or not {'image', 'patient', 'split'} <= set(
                    reader.fieldnames):
                raise ValueError(f'{path}: split file needs the columns image,patient,split')
            for row in reader:
                if row['split'] not in SPLITS:
                    raise ValueError(f'{path}: unknown split {row["split"]!r} for '
                                     f'{row["image"]}')
                out[row['image']] = (row['patient'], row['split'])
    except (EOFError, zlib.error, csv.Error, UnicodeDecodeError) as exc:
        raise ValueError(f'{path}: unreadable split file ({type(exc).__name__}: '
                         f'{exc})') from None
    return out


def write_split_csv(path: str, image_patients: Dict[str, str],
                    image_split: Dict[str, str]) -> None:
    tmp = f'{path}.tmp'
    with open(tmp, 'w', encoding='utf-8', newline='') as f:
        writer = csv.writer(f, lineterminator='\n')
        writer.writerow(['image', 'patient', 'split'])
        for image in sorted(image_split):
            writer.writerow([image, image_patients[image], image_split[image]])
    os.replace(tmp, path)


def _patient_value(patient: str):
    # isdigit() alone accepts '²', which int() rejects
    return int(patient) if patient.isascii() and patient.isdigit() else patient


def _coco_for_split(split: str, images: List[str], boxes: Dict[str, List[BoxRow]],
                    sizes: Dict[str, Tuple[int, int]], entries: Dict[str, Tuple[str, str]],
                    info: dict) -> dict:
    coco_images, annotations = [], []
    for image_id, image in enumerate(sorted(images), start=1):
        width, height = sizes[image]
        patient, view = entries[image]
        coco_images.append(OrderedDict(id=image_id, file_name=image, width=width,
                                       height=height, patient_id=_patient_value(patient),
                                       view=view))
        for row in sorted(boxes[image], key=lambda r: CXR8_CLASSES.index(r.label)):
            annotations.append(OrderedDict(
                id=len(annotations) + 1, image_id=image_id,
                category_id=CXR8_CLASSES.index(row.label) + 1,
                bbox=[row.x, row.y, row.w, row.h], area=row.w * row.h, iscrowd=0))
    return OrderedDict(
        info=OrderedDict(info, split=split), images=coco_images, annotations=annotations,
        categories=[OrderedDict(id=k + 1, name=name) for k, name in enumerate(CXR8_CLASSES)])


def _clamp(row: BoxRow, width: int, height: int) -> Optional[BoxRow]:
    """The box clamped to the image (``row`` itself when already inside), or None."""
    if row.x >= 0 and row.y >= 0 and row.x + row.w <= width and row.y + row.h <= height:
        return row
    x1, y1 = max(0.0, row.x), max(0.0, row.y)
    x2, y2 = min(float(width), row.x + row.w), min(float(height), row.y + row.h)
    if x2 <= x1 or y2 <= y1:
        return None
    return row._replace(x=x1, y=y1, w=x2 - x1, h=y2 - y1)


def convert_cxr8(bbox_csv: str, data_entry: str, out_dir: str,
                 image_dir: Optional[str] = None, seed: int = 0, strict: bool = False,
                 split_csv: Optional[str] = None, recompute_split: bool = False,
                 log: Callable[[str], None] = print) -> dict:
    """Convert the NIH box list to ``OUT/cxr8_{val,test}.json`` + ``OUT/cxr8_split.csv``
    + ``OUT/cxr8_skipped.json``.

    Args:
        bbox_csv, data_entry: the two NIH CSV files (plain or gzipped).
        out_dir: output directory (created).
        image_dir: folder of the PNGs; sizes come from the files and ``OUT/images`` is
            linked to it. ``None``: sizes are 1024x1024 and nothing is checked on disk.
        seed: seed of the computed split (see :mod:`.split`).
        strict: raise :class:`.skips.StrictModeError` at the first skipped record.
        split_csv: use this ``image,patient,split`` file instead of the default choice.
        recompute_split: compute the split even for the real NIH file.
        log: where progress lines go.

    Returns:
        Summary: ``counts`` {split: {class: n}}, ``images`` / ``patients`` / ``boxes``
        {split: n}, ``split_source``, ``skipped`` (reason -> count and ids), ``rows``
        (the row account).

    Raises:
        NothingKeptError: no box survived (``cxr8_skipped.json`` is written first).
    """
    report = SkipReport(CXR8_SKIP_REASONS, strict=strict)
    account = RowAccount()
    rows = read_bbox_list(bbox_csv, report, account)
    entries = read_data_entry(data_entry, report)
    os.makedirs(out_dir, exist_ok=True)
    boxes: Dict[str, List[BoxRow]] = OrderedDict()
    for row in rows:
        boxes.setdefault(row.image, []).append(row)
    all_box_images = set(boxes)
    sizes = _check_images(boxes, entries, image_dir, bbox_csv, data_entry, report, account)
    account.kept = sum(len(rows_) for rows_ in boxes.values())
    account.check(bbox_csv)
    skipped_path = _write_skip_report(out_dir, report, account)
    if not boxes:
        log(report.table('CXR8 skipped / repaired records:'))
        raise NothingKeptError(
            f'{bbox_csv}: no box kept out of {account.read} rows read; reasons in '
            f'{skipped_path}')

    image_patients = {image: entries[image][0] for image in boxes}
    image_split, source = _choose_split(boxes, image_patients, all_box_images, seed,
                                        split_csv, recompute_split)
    log(f'CXR8 split: {source}')
    summary = _write_outputs(out_dir, boxes, sizes, entries, image_patients, image_split)
    summary['split_source'] = source
    summary['outputs'].append(skipped_path)
    if image_dir is not None:
        log(f'images: {link_images(out_dir, image_dir)}')
    summary['skipped'] = report.to_dict()
    summary['rows'] = account.to_dict()
    log(counts_table(summary))
    log(report.table('CXR8 skipped / repaired records:'))
    log(f'box rows: {account.read} read = {account.kept} kept + '
        f'{sum(account.skipped.values())} skipped')
    for path in summary['outputs']:
        log(f'wrote {path}')
    return summary


def _check_images(boxes: Dict[str, List[BoxRow]], entries: Dict[str, Tuple[str, str]],
                  image_dir: Optional[str], bbox_csv: str, data_entry: str,
                  report: SkipReport, account: RowAccount) -> Dict[str, Tuple[int, int]]:
    """Drop (in place) the images and boxes that cannot be used; clamp the others.

    Returns:
        ``{image: (width, height)}`` of the images kept in ``boxes``.
    """
    sizes: Dict[str, Tuple[int, int]] = {}
    for image in list(boxes):
        reason, where, detail = _image_problem(image, boxes[image], entries, image_dir,
                                               bbox_csv, data_entry, sizes)
        if reason:
            report.add(reason, image, where, detail)
            account.skip(reason, len(boxes.pop(image)))
            continue
        kept = []
        for row in boxes[image]:
            clamped = _clamp(row, *sizes[image])
            if clamped is None:
                report.add('invalid_box', f'{image}:{row.label}', bbox_csv,
                           'box outside the image')
                account.skip('invalid_box')
            else:
                if clamped is not row:
                    report.add('box_clamped', f'{image}:{row.label}', bbox_csv)
                kept.append(clamped)
        if kept:
            boxes[image] = kept
        else:
            del boxes[image]
    return sizes


def _image_problem(image: str, rows: List[BoxRow], entries: Dict[str, Tuple[str, str]],
                   image_dir: Optional[str], bbox_csv: str, data_entry: str,
                   sizes: Dict[str, Tuple[int, int]]) -> Tuple[str, str, str]:
    """``(reason, file, detail)`` why ``image`` is skipped, or ``('', '', '')`` after
    storing its size in ``sizes``."""
    labels = [r.label for r in rows]
    if len(set(labels)) != len(labels):
        dup = sorted({c for c in labels if labels.count(c) > 1})
        return 'duplicate_class', bbox_csv, f'classes {dup}'
    if image not in entries:
        return 'no_data_entry', data_entry, ''
    if image_dir is None:
        sizes[image] = (DEFAULT_SIZE, DEFAULT_SIZE)
        return '', '', ''
    path = osp.join(image_dir, image)
    if not osp.isfile(path):
        return 'missing_image', path, ''
    try:
        sizes[image] = image_size(path)
    except (OSError, ValueError) as exc:
        return 'unreadable_image', path, str(exc)
    return '', '', ''


def _choose_split(boxes: Dict[str, List[BoxRow]], image_patients: Dict[str, str],
                  all_box_images: set, seed: int, split_csv: Optional[str],
                  recompute_split: bool) -> Tuple[Dict[str, str], str]:
    """``({image: split}, description of where the split came from)`` (module docstring)."""
    if split_csv is None and not recompute_split and seed == 0 \
            and osp.isfile(COMMITTED_SPLIT):
        committed = read_split_csv(COMMITTED_SPLIT)
        if set(committed) == all_box_images:
            split_csv = COMMITTED_SPLIT
    if split_csv is not None:
        given = read_split_csv(split_csv)
        missing = sorted(set(boxes) - set(given))
        if missing:
            raise ValueError(f'{split_csv}: no split for {len(missing)} images, e.g. '
                             f'{missing[0]}')
        image_split = {image: given[image][1] for image in boxes}
        source = (f'committed split {split_csv} (the real NIH box list; '
                  'pass --recompute-split to compute it)' if split_csv == COMMITTED_SPLIT
                  else f'split file {split_csv}')
    else:
        image_boxes = {image: len(rows_) for image, rows_ in boxes.items()}
        image_split = split_images(image_patients, image_boxes, seed)
        source = f'computed: patient-disjoint sha256 order, seed {seed}'
    check_patient_disjoint(image_patients, image_split)
    return image_split, source


def _write_outputs(out_dir: str, boxes: Dict[str, List[BoxRow]],
                   sizes: Dict[str, Tuple[int, int]], entries: Dict[str, Tuple[str, str]],
                   image_patients: Dict[str, str], image_split: Dict[str, str]) -> dict:
    """Write ``cxr8_{split}.json`` and ``cxr8_split.csv``; the summary's counts."""
    info = OrderedDict(description='NIH ChestX-ray8 boxes (mmadpd cxr8_to_coco)')
    summary: dict = OrderedDict(counts=OrderedDict(), images=OrderedDict(),
                                patients=OrderedDict(), boxes=OrderedDict(), outputs=[])
    for split in SPLITS:
        images = [im for im in boxes if image_split[im] == split]
        coco = _coco_for_split(split, images, boxes, sizes, entries, info)
        path = osp.join(out_dir, f'cxr8_{split}.json')
        write_json(path, coco)
        summary['outputs'].append(path)
        counts = OrderedDict((c, 0) for c in CXR8_CLASSES)
        for ann in coco['annotations']:
            counts[CXR8_CLASSES[ann['category_id'] - 1]] += 1
        summary['counts'][split] = counts
        summary['images'][split] = len(images)
        summary['patients'][split] = len({image_patients[im] for im in images})
        summary['boxes'][split] = len(coco['annotations'])
    split_path = osp.join(out_dir, 'cxr8_split.csv')
    write_split_csv(split_path, image_patients, image_split)
    summary['outputs'].append(split_path)
    return summary


def _write_skip_report(out_dir: str, report: SkipReport, account: RowAccount) -> str:
    path = osp.join(out_dir, SKIPPED_FILE)
    write_json(path, OrderedDict(rows=account.to_dict(), skipped=report.to_dict()),
               indent=1)
    return path


def counts_table(summary: dict) -> str:
    """Per-class box counts per split as a plain-text table."""
    lines = [f'  {"class":<14}' + ''.join(f'{s:>8}' for s in SPLITS) + f'{"total":>8}']
    for cls in CXR8_CLASSES:
        vals = [summary['counts'][s][cls] for s in SPLITS]
        lines.append(f'  {cls:<14}' + ''.join(f'{v:>8}' for v in vals) + f'{sum(vals):>8}')
    for key in ('boxes', 'images', 'patients'):
        vals = [summary[key][s] for s in SPLITS]
        lines.append(f'  {key:<14}' + ''.join(f'{v:>8}' for v in vals) + f'{sum(vals):>8}')
    return 'CXR8 boxes per class and split:\n' + '\n'.join(lines)
