"""Per-image result dicts and crash-safe writing of JSON, PNG and the run summary.

Every file is written to a temporary file in the destination folder and then moved over
the final name with ``os.replace`` (atomic on POSIX and Windows for one file system): an
interrupted run leaves either the previous complete file or the new complete file, never a
half-written one, and outputs of images already done are never touched again.

Coordinates: every box is ``[x1, y1, x2, y2]`` in ORIGINAL image pixels (the model's
``pred_instances`` / ``pred_regions`` convention), rounded to 1/1000 px; probabilities are
rounded to 6 decimals to keep a 29 x 53 probability table readable.
"""
from __future__ import annotations

import csv
import io
import os
import os.path as osp
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import numpy as np

from .safe_write import write_all_or_nothing

BOX_DECIMALS = 3
PROB_DECIMALS = 6
# names the run itself writes into the output folder; an input stem never takes them
RESERVED_STEMS = ('summary',)
SUMMARY_FIELDS = ('input', 'status', 'reason', 'json', 'png', 'width', 'height',
                  'num_pathologies')


def _numpy(value) -> np.ndarray:
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _box(values) -> List[float]:
    return [round(float(v), BOX_DECIMALS) for v in values]


def build_result(sample, image: str, width: int, height: int,
                 class_names: Sequence[str], region_names: Sequence[str],
                 training_classes: Sequence[str], presence_thr: float,
                 score_thr: float = 0.0, model_info: Optional[Mapping] = None) -> Dict:
    """One model output (a ``DetDataSample``) -> the per-image result dict.

    Args:
        sample: ``predict()`` output with ``pred_instances`` (bboxes (K, 4) xyxy original
            px, scores (K,), labels (K,) target-class indices), metainfo ``fused_regions``
            (K lists of region indices) and ``pred_regions`` (bboxes (R, 4) xyxy original
            px, presence_logits (R,), pathology_probs (R, C)).
        image: the input's path (or array name) as reported.
        width, height: original image size in pixels.
        class_names: target class names, indexed by ``labels``.
        region_names: the R region names, in query order.
        training_classes: the C pathology names of ``pathology_probs``.
        presence_thr: a region is present if its presence logit is > this (the model's
            post-processing rule, so ``present`` agrees with the boxes it fused).
        score_thr: pathology boxes with a score below this are left out.
        model_info: provenance (config, checkpoint, ...), copied into ``"model"``.

    Returns:
        ``{"image", "width", "height", "pathologies": [{"class", "score", "box",
        "regions"}], "regions": [{"name", "box", "present", "presence_score",
        "probabilities": {class: p}}], "model"}``; pathologies sorted by score.
    """
    inst = sample.pred_instances
    boxes, scores, labels = _numpy(inst.bboxes), _numpy(inst.scores), _numpy(inst.labels)
    sources = sample.metainfo.get('fused_regions', [[] for _ in range(len(scores))])
    pathologies = []
    for k in np.argsort(-scores, kind='stable'):
        if scores[k] < score_thr:
            continue
        pathologies.append({
            'class': class_names[int(labels[k])],
            'score': round(float(scores[k]), PROB_DECIMALS),
            'box': _box(boxes[k]),
            'regions': [region_names[int(r)] for r in sources[k]],
        })
    regions = []
    pred_regions = sample.get('pred_regions', None)
    if pred_regions is not None:
        r_boxes = _numpy(pred_regions.bboxes)
        logits = _numpy(pred_regions.presence_logits).astype(np.float64)
        # rounded as whole arrays: 29 x 53 Python round() calls cost ~1.5 ms per image
        scores = np.round(1.0 / (1.0 + np.exp(-logits)), PROB_DECIMALS).tolist()
        probs = np.round(_numpy(pred_regions.pathology_probs).astype(np.float64),
                         PROB_DECIMALS).tolist()
        for i, name in enumerate(region_names):
            regions.append({
                'name': name,
                'box': _box(r_boxes[i]),
                'present': bool(logits[i] > presence_thr),
                'presence_score': scores[i],
                'probabilities': dict(zip(training_classes, probs[i])),
            })
    return {'image': image, 'width': int(width), 'height': int(height),
            'pathologies': pathologies, 'regions': regions,
            'model': dict(model_info or {})}


def unique_stems(names: Iterable[str]) -> List[str]:
    """Output file stems, one per input, unique in input order.

    The first input with a stem keeps it (``a/img.png`` -> ``img``); later inputs with the
    same stem (``b/img.dcm``) get ``img__2``, ``img__3``, ... skipping any stem already
    taken, and an input called ``summary`` becomes ``summary__2`` so it cannot overwrite the
    run summary. Matching is case-insensitive (``IMG`` and ``img`` collide on macOS and
    Windows file systems).
    """
    names = list(names)
    wanted = [osp.splitext(osp.basename(n.rstrip('/\\')))[0] or 'image' for n in names]
    taken = {s.lower() for s in RESERVED_STEMS}
    first_owner = {}
    for i, stem in enumerate(wanted):
        first_owner.setdefault(stem.lower(), i)
    stems = []
    for i, stem in enumerate(wanted):
        candidate, n = stem, 1
        while candidate.lower() in taken or (
                n == 1 and first_owner[stem.lower()] != i):
            n += 1
            candidate = f'{stem}__{n}'
        taken.add(candidate.lower())
        stems.append(candidate)
    return stems


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder + os.replace.

    Raises:
        OutputWriteError: naming the path and the errno code (ENOSPC, EROFS, ...).
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    write_all_or_nothing([(path, data)])


def _json_default(value):
    """What orjson cannot write by itself: numpy values and number-like objects (pydicom's
    DSfloat / IS, ...), as ``json.dumps`` would have written them."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float):
        return float(value)
    if isinstance(value, int):
        return int(value)
    raise TypeError(f'{type(value).__name__} is not JSON serializable')


def json_bytes(obj) -> bytes:
    """A result dict as indented UTF-8 JSON with a final newline.

    orjson, not ``json.dumps(indent=2)``: with an indent the standard library falls back to
    its pure-Python encoder, ~8 ms for one image's 29-region result (a fifth of the
    file -> JSON budget). Differences from ``json.dumps``: non-ASCII is written as UTF-8,
    not ``\\u`` escapes, and NaN as ``null`` (valid JSON).
    """
    import orjson

    return orjson.dumps(obj, default=_json_default,
                        option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def png_bytes(rgb: np.ndarray) -> bytes:
    """An (H, W, 3) RGB uint8 image encoded as PNG."""
    import cv2

    ok, encoded = cv2.imencode('.png', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError('PNG encoding of the overlay failed')
    return encoded.tobytes()


def write_summary(out_dir: str, rows: Sequence[Mapping]) -> Dict:
    """Write ``summary.json`` and ``summary.csv`` listing every input of the run.

    Args:
        rows: one mapping per input with the keys of ``SUMMARY_FIELDS``; status is ``'ok'``
            or ``'failed'`` (then ``reason`` says why).

    Returns:
        The summary dict written to JSON: ``{"num_inputs", "num_ok", "num_failed",
        "items"}``.
    """
    items = [{k: row.get(k) for k in SUMMARY_FIELDS} for row in rows]
    n_failed = sum(item['status'] != 'ok' for item in items)
    summary = {'num_inputs': len(items), 'num_ok': len(items) - n_failed,
               'num_failed': n_failed, 'items': items}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=SUMMARY_FIELDS, lineterminator='\n')
    writer.writeheader()
    for item in items:
        writer.writerow({k: '' if v is None else v for k, v in item.items()})
    # both summaries or neither: a reader never sees a JSON and a CSV that disagree
    write_all_or_nothing([(osp.join(out_dir, 'summary.json'), json_bytes(summary)),
                          (osp.join(out_dir, 'summary.csv'),
                           buffer.getvalue().encode('utf-8'))])
    return summary
