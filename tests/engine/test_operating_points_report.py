"""The test report's precision / recall at calibrated points, and the demo report's
published-model section."""
import json

import numpy as np

from mmadpd.engine.operating_points_report import (published_model_section,
                                                   write_operating_points)

BOX = [0., 0., 10., 10.]


def _image(pred_score, pred_label, gt_label):
    return dict(pred_bboxes=np.array([BOX]), pred_scores=np.array([pred_score]),
                pred_labels=np.array([pred_label]), gt_bboxes=np.array([BOX]),
                gt_labels=np.array([gt_label]))


def test_operating_points_files_count_hits_at_the_thresholds(tmp_path):
    # A: hits at 0.9 and 0.6, a false positive at 0.8 (GT of B there); B: missed
    details = dict(class_names=['A', 'B'],
                   images=[_image(0.9, 0, 0), _image(0.8, 0, 1), _image(0.6, 0, 0)])
    files = write_operating_points(str(tmp_path), details,
                                   dict(thresholds={'A': 0.7, 'B': 0.5}, iou_thr=0.1))
    rows = json.load(open(files['json']))['per_class']
    a, b = rows
    assert (a['tp'], a['num_positive'], a['num_gt']) == (1, 2, 2)
    assert (a['precision'], a['recall']) == (0.5, 0.5)
    assert (b['tp'], b['num_positive'], b['num_gt'], b['recall']) == (0, 0, 1, 0.0)
    md = open(files['md']).read()
    assert '| A | 0.700 | 0.500 | 0.500 | 0.500 | 2 |' in md


def test_published_model_section_shows_val_and_test_tables():
    row = {'class': 'A', 'threshold': 0.7, 'precision': 0.5, 'recall': 0.5, 'f1': 0.5,
           'num_gt': 2}
    entry = dict(name='m', file='m/m-1234abcd.pth', sha256='1234abcd' * 8,
                 calibration=dict(split='val', iou_thr=0.1, min_gt_boxes=10,
                                  data=dict(num_images=5),
                                  per_class=[dict(row, fallback=True, reason='2 < 10')]),
                 test_operating_points=[row])
    text = '\n'.join(published_model_section(entry))
    assert 'Published as `m`' in text and '| A | 0.700 |' in text
    assert 'no: 2 < 10' in text and 'The same thresholds on the test half' in text
