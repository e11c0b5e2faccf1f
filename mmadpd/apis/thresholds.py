"""Which pathology boxes of an inference result are findings: per-class thresholds
applied after the model's post-processing.

``score_thr`` (``ADPDInferencer`` / ``tools/infer.py --score-thr``):

* ``'calibrated'`` (default): the checkpoint's calibrated per-class thresholds
  (:mod:`mmadpd.apis.calibration`); a checkpoint without them falls back to the
  post-processor's ``prob_thr`` for every class (the model emits no box below it, so every
  box is positive) and says so in the result's ``model.threshold_source``;
* a number: that threshold for every class (``0``: every box positive).

Every box is kept in the result and carries ``score``, ``threshold`` and ``positive``
(``score >= threshold``).
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

CALIBRATED = 'calibrated'
#: one line in every inference JSON (``model.intended_use``) and in the model card
INTENDED_USE = ('Research use only: not a medical device, not for diagnosis, screening '
                'or any clinical decision.')

ScoreThr = Union[str, float]


def parse_score_thr(value) -> ScoreThr:
    """``'calibrated'`` or a number in [0, 1] (strings are parsed); else ``ValueError``."""
    if isinstance(value, str):
        if value.strip().lower() == CALIBRATED:
            return CALIBRATED
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"score threshold must be 'calibrated' or a number in [0, 1], "
                             f'got {value!r}') from None
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f'score threshold must be in [0, 1], got {value}')
    return value


def resolve_thresholds(score_thr: ScoreThr, calibration: Optional[Mapping],
                       class_names: Sequence[str], uncalibrated: float
                       ) -> Tuple[Dict[str, float], str]:
    """Per-class thresholds and a one-line description of where they come from.

    Args:
        score_thr: ``'calibrated'`` or a number (see module docstring).
        calibration: the checkpoint's ``meta['calibration']`` or None.
        class_names: the model's target classes.
        uncalibrated: threshold of every class when ``'calibrated'`` finds no calibration
            (the post-processor's ``prob_thr``).

    Raises:
        ValueError: the calibration misses a target class of the model.
    """
    score_thr = parse_score_thr(score_thr)
    if score_thr != CALIBRATED:
        return {c: float(score_thr) for c in class_names}, f'score_thr={score_thr:g}'
    if calibration is None:
        return ({c: float(uncalibrated) for c in class_names},
                f'uncalibrated: the checkpoint has no calibrated thresholds; prob_thr='
                f'{uncalibrated:g} for every class')
    thresholds = calibration['thresholds']
    missing = [c for c in class_names if c not in thresholds]
    if missing:
        raise ValueError(f'the calibration has no threshold for {missing}; it covers '
                         f'{sorted(thresholds)}')
    fallback = [r['class'] for r in calibration.get('per_class', ()) if r.get('fallback')]
    source = f'calibrated on the {calibration.get("split", "val")} split'
    if fallback:
        source += f' (fallback prob_thr for {", ".join(fallback)})'
    return {c: float(thresholds[c]) for c in class_names}, source


def mark_positive(pathologies: List[Dict], thresholds: Mapping[str, float]) -> List[Dict]:
    """Add ``threshold`` and ``positive`` to every pathology box dict (in place)."""
    for box in pathologies:
        box['threshold'] = float(thresholds[box['class']])
        box['positive'] = bool(box['score'] >= box['threshold'])
    return pathologies
