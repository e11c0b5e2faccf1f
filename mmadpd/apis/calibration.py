"""Calibrated operating thresholds stored in a checkpoint's ``meta``.

Schema of ``checkpoint['meta']['calibration']`` (written by
``tools/analysis_tools/calibrate.py``, read by :class:`ADPDInferencer`)::

    {'thresholds': {target class: float},       # positive = score >= threshold
     'per_class': [{'class', 'threshold', 'precision', 'recall', 'f1', 'tp',
                    'num_positive', 'num_gt', 'fallback', 'reason'}],
     'rule': str, 'iou_thr': 0.1, 'min_gt_boxes': int, 'fallback_threshold': prob_thr,
     'split': 'val', 'data': {'ann_file', 'sha256', 'num_images'},
     'commit': git commit or None, 'commit_dirty': bool or None, 'config': str,
     'source_checkpoint': str, 'created': ISO time}
"""
from __future__ import annotations

import datetime
import hashlib
import os
import os.path as osp
import subprocess
from typing import Dict, Mapping, Optional

CALIBRATION_KEY = 'calibration'
RULE = ('per target class, the score threshold maximising F1 of localisation on the CXR8 '
        'val half (hit: class matches a GT box with IoU > iou_thr, each GT box once); '
        'a box is positive when score >= threshold')


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def git_commit(repo: str) -> Dict[str, Optional[object]]:
    """``{'commit': hash or None, 'commit_dirty': bool or None}`` of the repository
    holding ``repo`` (None outside a git checkout or without git)."""
    def git(*args):
        return subprocess.run(['git', '-C', repo, *args], capture_output=True, text=True,
                              timeout=30, check=True).stdout.strip()
    try:
        commit = git('rev-parse', 'HEAD')
        dirty = bool(git('status', '--porcelain', '--untracked-files=no'))
    except (OSError, subprocess.SubprocessError):
        return {'commit': None, 'commit_dirty': None}
    return {'commit': commit, 'commit_dirty': dirty}


def make_calibration(per_class, *, iou_thr: float, min_gt_boxes: int,
                     fallback_threshold: float, ann_file: str, num_images: int,
                     config: Optional[str], source_checkpoint: Optional[str],
                     repo: str, split: str = 'val') -> Dict:
    """The ``meta['calibration']`` dict for rows of
    :func:`mmadpd.evaluation.functional.operating_points.calibrate_thresholds`."""
    rows = [dict(r) for r in per_class]
    return dict(
        thresholds={r['class']: float(r['threshold']) for r in rows},
        per_class=rows, rule=RULE, iou_thr=float(iou_thr), min_gt_boxes=int(min_gt_boxes),
        fallback_threshold=float(fallback_threshold), split=split,
        data=dict(ann_file=osp.abspath(ann_file), sha256=file_sha256(ann_file),
                  num_images=int(num_images)),
        **git_commit(repo), config=config,
        source_checkpoint=osp.abspath(source_checkpoint) if source_checkpoint else None,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'))


def calibration_of(checkpoint: Mapping) -> Optional[Dict]:
    """The calibration of a loaded checkpoint dict, or None; a malformed entry raises
    ``ValueError`` (a checkpoint that claims thresholds must have usable ones)."""
    cal = (checkpoint.get('meta') or {}).get(CALIBRATION_KEY)
    if cal is None:
        return None
    thresholds = cal.get('thresholds') if isinstance(cal, Mapping) else None
    if not isinstance(thresholds, Mapping) or not all(
            isinstance(v, (int, float)) for v in thresholds.values()):
        raise ValueError(f"checkpoint meta['{CALIBRATION_KEY}'] has no 'thresholds' "
                         'mapping of class -> number')
    return dict(cal)


def save_with_calibration(checkpoint: Dict, calibration: Mapping, out: str) -> str:
    """Write ``checkpoint`` with ``meta['calibration']`` to ``out`` (temporary file +
    rename, so an existing ``out`` is replaced only by a complete file)."""
    import torch

    checkpoint = dict(checkpoint)
    checkpoint['meta'] = dict(checkpoint.get('meta') or {}, **{CALIBRATION_KEY:
                                                                  dict(calibration)})
    folder = osp.dirname(osp.abspath(out))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{osp.basename(out)}.tmp')
    try:
        torch.save(checkpoint, tmp)
        os.replace(tmp, out)
    finally:
        if osp.exists(tmp):
            os.unlink(tmp)
    return out
