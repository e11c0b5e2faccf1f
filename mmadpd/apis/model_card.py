"""``MODEL_CARD.md`` of a published model, from its registry entry.

Sections after Mitchell et al., *Model Cards for Model Reporting* (FAT* 2019): model
details, intended use, factors, metrics, evaluation data, training data, quantitative
analyses, operating points, ethical considerations, caveats and recommendations.
Everything is read from the entry that ``publish_model.py`` writes into the weights index
(see :mod:`mmadpd.apis.weights`); nothing here measures anything.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence

from ..evaluation.operating_point_table import operating_points_table
from .thresholds import INTENDED_USE

TABLE1_COLUMNS = ('mAP', 'AP@0.1', 'AP@0.3', 'AP@0.5', 'loc_acc@0.1', 'loc_acc@0.3',
                  'loc_acc@0.5')
STANDING_LIMITS = (
    'Frontal (PA/AP) radiographs only: the training data are frontal views; lateral views '
    'are unsupported and give meaningless boxes.',
    'Boxes are fused anatomical-region boxes (at most one per class and image), not '
    'lesion outlines.',
)


def _num(value, digits: int = 2) -> str:
    return 'n/a' if value is None else f'{float(value):.{digits}f}'


def known_limits(entry: Mapping) -> List[str]:
    """The entry's own limits, classes whose threshold fell back, and the standing ones."""
    limits = list(entry.get('limits') or [])
    fallback = [r for r in (entry.get('calibration') or {}).get('per_class', ())
                if r.get('fallback')]
    if fallback:
        limits.append('No calibrated threshold (the post-processor\'s prob_thr instead) for '
                      + '; '.join(f'{r["class"]} ({r["reason"]})' for r in fallback) + '.')
    no_gt = (entry.get('metrics') or {}).get('classes_without_gt') or []
    if no_gt:
        limits.append(f'No test boxes for {", ".join(no_gt)}: their AP of 0 is not a '
                      'measurement.')
    return limits + list(STANDING_LIMITS)


def _table1(metrics: Mapping) -> List[str]:
    row = metrics.get('table1') or {}
    if not row:
        return ['Not recorded (publish with `--metrics <test report>/metrics.json`).']
    return ['| ' + ' | '.join(TABLE1_COLUMNS) + ' |', '|' + '---|' * len(TABLE1_COLUMNS),
            '| ' + ' | '.join(_num(row.get(k), 3 if k.startswith('loc') else 2)
                              for k in TABLE1_COLUMNS) + ' |']


def format_model_card(name: str, entry: Mapping) -> str:
    """The model card text of one registry entry."""
    metrics = entry.get('metrics') or {}
    cal = entry.get('calibration') or {}
    per_class_ap: Dict = metrics.get('per_class_ap') or {}
    test_points: Optional[Sequence] = entry.get('test_operating_points')
    md = [f'# Model card: {name}', '',
          f'> **Intended use: {INTENDED_USE}**', '',
          '## Model details', '',
          f'- {entry.get("description") or "ADPD pathology detector."}',
          f'- Architecture: anatomy-driven pathology detection (Müller et al., MICCAI 2023): '
          f'DenseNet121 + one DETR decoder layer (29 anatomical regions), a shared region '
          f'classifier and weighted box fusion; config `{entry.get("config")}` (the full '
          f'config is embedded in the checkpoint).',
          f'- Weights: `{entry.get("file")}`, sha256 `{entry.get("sha256")}`, published '
          f'{entry.get("published")}.',
          f'- Target classes: {", ".join(entry.get("target_classes") or [])}.',
          f'- Input: {entry.get("preprocessing")}.', '',
          '## Intended use', '',
          f'- {INTENDED_USE}',
          '- Intended users: researchers studying weakly supervised localisation on chest '
          'X-rays. Out of scope: any use on patients.', '',
          '## Factors', '',
          '- View position (frontal only), image source and acquisition, patient '
          'population; none of these is analysed separately here.', '',
          '## Metrics', '',
          '- AP per class at IoU 0.1-0.7 (strict >, 101-point, top-1 box per class and '
          'image), macro mAP, loc-acc at score > 0.7: the CXR8 protocol (README, Evaluation '
          'protocol).',
          f'- Operating points: {cal.get("rule", "not calibrated")}.', '',
          '## Evaluation data', '',
          f'- {entry.get("evaluation_data") or "the CXR8 box images, test half (reported)"}'
          f'; test images: {metrics.get("num_test_images", "n/a")}.', '',
          '## Training data', '',
          f'- {entry.get("training_data") or "not recorded"}',
          f'- Licence: {entry.get("training_data_licence") or "not recorded"}.', '',
          '## Quantitative analyses (test half)', ''] + _table1(metrics) + ['']
    if per_class_ap:
        md += ['| class | mean AP (IoU 0.1-0.7) |', '|---|---|']
        md += [f'| {c} | {_num(v)} |' for c, v in per_class_ap.items()] + ['']
    md += ['## Operating points', '']
    if cal.get('per_class'):
        data = cal.get('data') or {}
        md += [f'Calibrated on the {cal.get("split", "val")} split ({data.get("num_images")} '
               f'images, `{data.get("ann_file")}`, sha256 {str(data.get("sha256"))[:12]}…, '
               f'commit {cal.get("commit")}), hit at IoU > {cal.get("iou_thr")}, at least '
               f'{cal.get("min_gt_boxes")} GT boxes per class:', '',
               operating_points_table(cal['per_class']), '']
    else:
        md += ['Not calibrated: every box above the post-processor\'s prob_thr is '
               'reported positive.', '']
    if test_points:
        md += ['The same thresholds on the test half:', '',
               operating_points_table(test_points, with_calibration=False), '']
    md += ['## Ethical considerations', '',
           '- Not validated for clinical use; a missed or spurious box must never reach '
           'a patient decision.',
           '- The training data\'s population and labelling biases carry over to the '
           'model.', '',
           '## Caveats and recommendations (known limits)', '']
    md += [f'- {limit}' for limit in known_limits(entry)] + ['']
    return '\n'.join(md)
