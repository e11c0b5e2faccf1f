"""Archive-scale inference: decoding in DataLoader workers, resumable, logged as it goes.

:func:`run_archive` drives an :class:`ADPDInferencer` over a list of inputs (one shard of
it in a distributed run). Decoding and the test pipeline run in ``workers`` DataLoader
processes while the main process runs the network, so the two overlap. Each result goes
through the inferencer's one per-file step (``process_result``), which writes the overlay
PNG (unless ``overlay=False``) and then the JSON, both atomically: an existing JSON means
the input is done. With ``resume=True`` inputs whose JSON is complete (parses, names the
same input) are skipped. Each finished input is appended at once as one line to a CSV log
(``summary.csv``, or ``summary.rank<r>.csv`` per rank of a distributed run), so an
interrupted run still says what it did.
"""
from __future__ import annotations

import contextlib
import csv
import glob
import io
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .failure_reason import exception_reason
from .inferencer import _failed_row
from .input_discovery import InputItem
from .results import SUMMARY_FIELDS


@dataclass
class DecodedImage:
    """What the per-file step needs of a decoded input (``LoadedImage``'s fields); the
    pixels travel from the worker only when an overlay is drawn."""
    width: int
    height: int
    image: Optional[np.ndarray]
    path: Optional[str] = None
    kind: str = ''
    dicom: Optional[object] = None  # DicomInfo of a DICOM input (allow-listed fields)
    warnings: Tuple[str, ...] = ()


class InputDataset(Dataset):
    """Item i -> ``{'index', 'data', 'decoded'}`` or ``{'index', 'error'}`` (a failed
    input is a value, not an exception, so one bad file cannot stop the loader)."""

    def __init__(self, inferencer, items: Sequence[InputItem], indices: Sequence[int],
                 keep_pixels: bool) -> None:
        self.inferencer = inferencer
        self.items = items
        self.indices = list(indices)
        self.keep_pixels = keep_pixels

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> Dict:
        index = self.indices[i]
        item = self.items[index]
        try:
            loaded, data = self.inferencer.load_and_prepare(item, index)
        except Exception as exc:  # whatever the type: this input's failure only
            return {'index': index, 'error': exception_reason(exc)}
        decoded = DecodedImage(loaded.width, loaded.height,
                               loaded.image if self.keep_pixels else None,
                               loaded.path, loaded.kind, loaded.dicom, loaded.warnings)
        return {'index': index, 'data': data, 'decoded': decoded}


def _as_list(batch: List[Dict]) -> List[Dict]:
    return batch


@contextlib.contextmanager
def forked_workers_single_threaded(workers: int) -> Iterator[None]:
    """OpenCV on one thread while ``workers`` > 0 DataLoader processes are forked and run
    (a worker decodes one image at a time; more threads only contend with the network).

    Set in the parent, before the fork, and restored after: calling
    ``cv2.setNumThreads`` in a forked child whose parent had already run OpenCV's thread
    pool waits for the parent's pool threads, which do not exist there, forever.
    """
    if not workers:
        yield
        return
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def completed_json(path: str, name: str) -> Optional[Dict]:
    """The result in ``path`` if it is a complete result for input ``name``, else None."""
    try:
        with open(path, encoding='utf-8') as f:
            result = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(result, dict) or result.get('image') != name or not {
            'pathologies', 'regions', 'width', 'height'} <= set(result):
        return None
    return result


def remove_stale_temporaries(out_dir: str) -> List[str]:
    """Delete the temporary files (``.<name>.<random>.tmp``) that a killed run's atomic
    writes left behind; they were never renamed, so no result is lost."""
    stale = glob.glob(osp.join(glob.escape(out_dir), '.*.tmp'))
    for path in stale:
        os.unlink(path)
    return stale


class SummaryLog:
    """Appends one CSV line per finished input to ``path`` (header first if new)."""

    def __init__(self, path: str, fresh: bool) -> None:
        self.path = path
        if fresh or not osp.isfile(path) or osp.getsize(path) == 0:
            with open(path, 'w', encoding='utf-8') as f:
                f.write(','.join(SUMMARY_FIELDS) + '\n')

    def append(self, row: Dict) -> None:
        buffer = io.StringIO()
        csv.DictWriter(buffer, fieldnames=SUMMARY_FIELDS, lineterminator='\n').writerow(
            {k: '' if row.get(k) is None else row[k] for k in SUMMARY_FIELDS})
        with open(self.path, 'a', encoding='utf-8') as f:
            f.write(buffer.getvalue())  # one write per line: an interruption cuts no row


def run_archive(inferencer, items: Sequence[InputItem], stems: Sequence[str], out_dir: str,
                indices: Optional[Sequence[int]] = None, batch_size: int = 1,
                workers: int = 2, overlay: bool = True, resume: bool = False,
                score_thr=None, log_name: str = 'summary.csv',
                progress: Optional[Callable[[Dict, int, int], None]] = None) -> List[Dict]:
    """Run ``inferencer`` over ``items[indices]`` writing into ``out_dir``.

    Args:
        items, stems: ALL inputs and their output stems (``unique_stems`` over all, so a
            shard names its outputs as a single run would).
        indices: the inputs this process handles (default: all).
        workers: DataLoader processes decoding inputs (0: in this process).
        overlay: write ``<stem>.png`` overlays.
        resume: skip inputs whose ``<stem>.json`` is complete.
        log_name: the CSV log in ``out_dir`` that each finished input is appended to.
        progress: called as ``progress(row, done, total)`` after every input (skipped
            ones included).

    Returns:
        One summary row per handled input, in input order.
    """
    indices = list(range(len(items))) if indices is None else list(indices)
    os.makedirs(out_dir, exist_ok=True)
    score_thr = inferencer.score_thr if score_thr is None else score_thr
    model_info = inferencer.run_info(score_thr)
    rows: Dict[int, Dict] = {}
    if resume:
        remove_stale_temporaries(out_dir)
        for index in indices:
            path = osp.join(out_dir, f'{stems[index]}.json')
            done = completed_json(path, items[index].name)
            if done is not None:
                png = osp.join(out_dir, f'{stems[index]}.png')
                rows[index] = {'input': items[index].name, 'status': 'ok', 'reason': '',
                               'json': path, 'png': png if osp.isfile(png) else None,
                               'width': done['width'], 'height': done['height'],
                               'num_pathologies': len(done['pathologies'])}
    log = SummaryLog(osp.join(out_dir, log_name), fresh=not resume)
    total = len(indices)
    for index in sorted(rows):
        if progress is not None:
            progress(rows[index], len(rows), total)
    todo = [i for i in indices if i not in rows]
    loader = DataLoader(InputDataset(inferencer, items, todo, keep_pixels=overlay),
                        batch_size=batch_size, num_workers=workers, collate_fn=_as_list)

    def record(index, row):
        rows[index] = row
        log.append(row)
        if progress is not None:
            progress(row, len(rows), total)

    with torch.no_grad(), inferencer.run_threads(), forked_workers_single_threaded(workers):
        for batch in loader:
            ready = []
            for entry in batch:
                if 'error' in entry:
                    record(entry['index'], _failed_row(items[entry['index']].name,
                                                       entry['error']))
                else:
                    ready.append(entry)
            if not ready:
                continue
            # a failing batch is rerun input by input: one input's exception is its own
            samples = inferencer._forward_each([(entry, entry['data']) for entry in ready],
                                               'skip')
            for entry, sample in zip(ready, samples):
                index = entry['index']
                _, _, row = inferencer.result_or_failure(
                    items[index], stems[index], entry['decoded'], sample, out_dir,
                    score_thr, model_info, overlay=overlay)
                record(index, row)
    return [rows[i] for i in sorted(rows)]
