"""Which images a Chest ImaGenome conversion visits, and in which output split.

Two split sources (``convert_imagenome(split_source=...)``, CLI ``--split-source``):

* ``mimic`` (default; the paper, FACTS.md section 7): MIMIC-CXR-JPG's official
  ``mimic-cxr-2.0.0-split.csv.gz`` (gzip; columns ``dicom_id, study_id, subject_id,
  split``; ``train`` / ``validate`` / ``test`` -> ``train`` / ``val`` / ``test``; ~97 % of
  the images are ``train``). Image paths are built from the ids.
* ``imagenome``: Chest ImaGenome's own ``silver_dataset/splits/{train,valid,test}.csv``
  (a different, patient-level ~70/10/20 split); image paths from their ``path`` column.

Every data row becomes exactly one :class:`Task` or one :class:`RowSkip`
(``malformed_split_row``: too few fields, no or an unsafe id or path, an unknown split
value; ``duplicate_split_row``: a dicom id listed before), so that rows read = tasks + row
skips. A file that cannot be read as a whole (truncated gzip, not CSV, no header or
missing columns) raises ``ValueError`` naming it: a split cannot be half-read.
"""
from __future__ import annotations

import csv
import gzip
import os.path as osp
import re
import zlib
from collections import OrderedDict
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Set, \
    Tuple

from .io_utils import open_text

SPLIT_SOURCES: Tuple[str, ...] = ('mimic', 'imagenome')
#: output split -> Chest ImaGenome split file
IMAGENOME_SPLIT_FILES = OrderedDict([('train', 'train.csv'), ('val', 'valid.csv'),
                                     ('test', 'test.csv')])
MIMIC_SPLIT_FILE = 'mimic-cxr-2.0.0-split.csv.gz'
MIMIC_SPLIT_COLUMNS: Tuple[str, ...] = ('dicom_id', 'study_id', 'subject_id', 'split')
#: MIMIC-CXR split value -> output split
MIMIC_SPLIT_VALUES = OrderedDict([('train', 'train'), ('validate', 'val'), ('test', 'test')])
IMAGENOME_SPLIT_COLUMNS: Tuple[str, ...] = ('subject_id', 'study_id', 'dicom_id')
#: dicom ids (and subject / study ids) name files: no separators, no leading dot
_SAFE_ID = re.compile(r'[A-Za-z0-9][A-Za-z0-9._-]*')


class Task(NamedTuple):
    split: str
    dicom_id: str
    subject_id: str
    study_id: str
    rel_path: str          # relative to the MIMIC-CXR-JPG root, '.jpg'
    views: Tuple[str, ...]  # known views (metadata, split CSV), may be empty
    gold: bool


class RowSkip(NamedTuple):
    reason: str  # 'malformed_split_row' | 'duplicate_split_row'
    record: str  # the dicom id, or 'FILE:LINE' when the row has none
    path: str    # 'FILE:LINE' for messages
    detail: str


def read_csv_rows(path: str, required: Sequence[str] = ('dicom_id',)
                  ) -> Iterator[Tuple[int, Dict[str, Optional[str]]]]:
    """``(line number, row)`` of a plain or gzip CSV (fields a short row lacks are None).

    Raises:
        FileNotFoundError / ValueError: naming ``path``: missing, truncated or corrupt gzip,
            undecodable text, no header or a required column missing.
    """
    try:
        with open_text(path) as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames
            if not fields:
                raise ValueError(f'{path}: empty file (no CSV header)')
            missing = [c for c in required if c not in fields]
            if missing:
                raise ValueError(f'{path}: no {", ".join(map(repr, missing))} column '
                                 f'(header: {",".join(fields)[:120]!r})')
            for row in reader:
                yield reader.line_num, row
    except EOFError as exc:
        raise ValueError(f'{path}: truncated gzip file ({exc})') from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise ValueError(f'{path}: corrupt gzip file ({exc})') from None
    except csv.Error as exc:
        raise ValueError(f'{path}: not a readable CSV file ({exc})') from None
    except UnicodeDecodeError as exc:
        raise ValueError(f'{path}: not UTF-8 text ({exc.reason} at byte {exc.start})') \
            from None


def read_dicom_ids(path: str) -> Set[str]:
    """The ``dicom_id`` column of a CSV (``images_to_avoid.csv``)."""
    return {(row['dicom_id'] or '').strip() for _, row in read_csv_rows(path)} - {''}


def read_metadata_views(path: str) -> Dict[str, str]:
    """``mimic-cxr-2.0.0-metadata.csv`` -> {dicom_id: ViewPosition} (rows without an id
    are left out: the view only filters, it never adds an image)."""
    views = {}
    for _, row in read_csv_rows(path):
        dicom = (row['dicom_id'] or '').strip()
        if dicom:
            views[dicom] = (row.get('ViewPosition') or '').strip()
    return views


def _row_problem(row: Dict[str, Optional[str]], columns: Iterable[str]) -> str:
    """Why a row cannot be used ('' if it can)."""
    if any(v is None for k, v in row.items() if k is not None):
        given = sum(v is not None for k, v in row.items() if k is not None)
        return f'{given} fields, the header has {len(row) - (None in row)}'
    for column in columns:
        value = (row.get(column) or '').strip()
        if not _SAFE_ID.fullmatch(value):
            return f'{column} {value[:40]!r} is empty or not a plain identifier'
    return ''


def _safe_rel_path(path: str) -> Optional[str]:
    """``files/...dcm`` -> ``files/...jpg``; None for absolute or escaping paths."""
    norm = osp.normpath(path.replace('\\', '/'))
    if osp.isabs(norm) or norm == '.' or norm.split('/')[0] == '..':
        return None
    return osp.splitext(norm)[0] + '.jpg'


def mimic_rel_path(subject_id: str, study_id: str, dicom_id: str) -> str:
    """``files/p{subject[:2]}/p{subject}/s{study}/{dicom}.jpg`` (MIMIC-CXR-JPG layout)."""
    return f'files/p{subject_id[:2]}/p{subject_id}/s{study_id}/{dicom_id}.jpg'


class _Collector:
    """Turns rows into tasks and row skips; remembers where each dicom id was first seen."""

    def __init__(self, views: Dict[str, str], gold: Set[str]) -> None:
        self.views, self.gold = views, gold
        self.tasks: List[Task] = []
        self.skips: List[RowSkip] = []
        self.first_seen: Dict[str, str] = {}

    def skip(self, reason: str, path: str, line: int, dicom: str, detail: str) -> None:
        where = f'{path}:{line}'
        self.skips.append(RowSkip(reason, dicom or f'{osp.basename(path)}:{line}', where,
                                  detail))

    def add(self, split: str, row: Dict[str, Optional[str]], rel_path: str, path: str,
            line: int, row_view: str = '') -> None:
        dicom = row['dicom_id'].strip()
        if dicom in self.first_seen:
            self.skip('duplicate_split_row', path, line, dicom,
                      f'first listed at {self.first_seen[dicom]}')
            return
        self.first_seen[dicom] = f'{path}:{line}'
        known = tuple(v for v in (self.views.get(dicom, ''), row_view) if v)
        self.tasks.append(Task(split, dicom, row['subject_id'].strip(),
                               row['study_id'].strip(), rel_path, known,
                               dicom in self.gold))


def imagenome_tasks(splits_dir: str, views: Dict[str, str], gold: Set[str]
                    ) -> Tuple[List[Task], List[RowSkip]]:
    """Tasks from ``splits_dir/{train,valid,test}.csv`` in file order (train, val, test)."""
    out = _Collector(views, gold)
    for split, name in IMAGENOME_SPLIT_FILES.items():
        path = osp.join(splits_dir, name)
        for line, row in read_csv_rows(path, IMAGENOME_SPLIT_COLUMNS):
            problem = _row_problem(row, IMAGENOME_SPLIT_COLUMNS)
            dicom = (row.get('dicom_id') or '').strip()
            given = (row.get('path') or '').strip()
            rel = None
            if not problem:
                rel = _safe_rel_path(given) if given else mimic_rel_path(
                    row['subject_id'].strip(), row['study_id'].strip(), dicom)
                problem = '' if rel else f'unsafe path {given[:60]!r}'
            if problem:
                out.skip('malformed_split_row', path, line, dicom, problem)
                continue
            out.add(split, row, rel, path, line, (row.get('ViewPosition') or '').strip())
    return out.tasks, out.skips


def mimic_tasks(split_csv: str, views: Dict[str, str], gold: Set[str]
                ) -> Tuple[List[Task], List[RowSkip]]:
    """Tasks from MIMIC-CXR-JPG's ``mimic-cxr-2.0.0-split.csv.gz``, in file order."""
    out = _Collector(views, gold)
    for line, row in read_csv_rows(split_csv, MIMIC_SPLIT_COLUMNS):
        problem = _row_problem(row, MIMIC_SPLIT_COLUMNS[:3])
        dicom = (row.get('dicom_id') or '').strip()
        value = (row.get('split') or '').strip()
        if not problem and value not in MIMIC_SPLIT_VALUES:
            problem = (f'split {value[:20]!r} is not one of '
                       f'{", ".join(MIMIC_SPLIT_VALUES)}')
        if problem:
            out.skip('malformed_split_row', split_csv, line, dicom, problem)
            continue
        rel = mimic_rel_path(row['subject_id'].strip(), row['study_id'].strip(), dicom)
        out.add(MIMIC_SPLIT_VALUES[value], row, rel, split_csv, line)
    return out.tasks, out.skips


__all__ = ['SPLIT_SOURCES', 'IMAGENOME_SPLIT_FILES', 'MIMIC_SPLIT_FILE', 'MIMIC_SPLIT_VALUES',
           'Task', 'RowSkip', 'read_csv_rows', 'read_dicom_ids', 'read_metadata_views',
           'imagenome_tasks', 'mimic_tasks', 'mimic_rel_path']
