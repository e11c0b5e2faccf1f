"""tools/analysis_tools/table1.py end to end (--tiny) and the Table-1 layout."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from mmadpd.evaluation.table1 import (PAPER_TABLE1, not_run_row, per_class_markdown,
                                      result_row, table1_markdown)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'analysis_tools', 'table1.py')
CONTRACT_NAMES = ('Loc-ADPD', 'MIL-ADPD', 'w/o WBF', 'w/ MIL', 'CheXNet', 'Grad-CAM',
                  'WELDON', 'LSE', 'Faster R-CNN', 'whole lung', 'oracle')


def _metrics(m_ap):
    out = {f'cxr8/{k}': v for k, v in dict(
        mAP=m_ap, **{'AP@0.1': 20.0, 'AP@0.3': 10.0, 'AP@0.5': 5.0, 'loc_acc@0.1': 0.9,
                     'loc_acc@0.3': 0.8, 'loc_acc@0.5': 0.7}).items()}
    out.update({'cxr8/AP_Effusion': 12.5, 'cxr8/nih8/mAP': 1.0})
    return out


def test_layout_rows_not_run_and_paper_block():
    rows = [result_row('Loc-ADPD', 'region labels', _metrics(7.5), PAPER_TABLE1['loc']),
            not_run_row('Faster R-CNN', 'boxes', 'checkpoint not found:\n /x.pth')]
    assert rows[0]['mAP'] == 7.5 and rows[0]['per_class_AP'] == {'Effusion': 12.5}
    assert rows[1]['mAP'] is None and rows[1]['reason'] == 'checkpoint not found: /x.pth'
    md = table1_markdown(rows, with_paper=True).splitlines()
    assert md[2] == ('| Loc-ADPD | region labels | 7.50 | 20.00 | 10.00 | 5.00 | '
                     '0.90/0.80/0.70 | 10.89 | 19.99 | 12.43 | 8.72 | 0.85/0.84/0.83 |')
    assert '| not run: checkpoint not found: /x.pth |' in md[3]
    assert 'paper' not in table1_markdown(rows)
    assert per_class_markdown(rows).splitlines()[2] == '| Loc-ADPD | 12.50 |'


def _run(args, env, cwd):
    return subprocess.run([sys.executable, TOOL, *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_tiny_table_runs_every_row_and_a_failing_row_is_reported(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    env.pop('MMADPD_TRACEBACK', None)
    work = str(tmp_path / 'table1')
    proc = _run(['--tiny', '--work-dir', work], env, str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = json.load(open(osp.join(work, 'table1.json')))
    names = [r['method'] for r in table['rows']]
    for name in CONTRACT_NAMES:
        assert any(name in n for n in names), (name, names)
    assert len(names) == 14
    for row in table['rows']:
        assert row['status'] == 'ok', row
        assert 0.0 <= row['mAP'] <= 100.0 and 0.0 <= row['loc_acc@0.5'] <= 1.0
        assert set(row['per_class_AP']) >= {'Effusion', 'Nodule'}
    # the oracle row (GT regions and labels) must beat the untrained models
    by = {r['method']: r for r in table['rows']}
    oracle = next(r for n, r in by.items() if 'oracle' in n)
    assert oracle['mAP'] > max(r['mAP'] for n, r in by.items() if 'oracle' not in n)
    md = open(osp.join(work, 'table1.md')).read()
    assert all(n in md for n in names) and 'Per-class AP' in md
    # every CAM row's box threshold was chosen on the val half, among the tiny candidates
    chosen = table['cam_box_thresholds_chosen_on_val']
    assert set(chosen) == {'chexnet', 'gradcam', 'lse', 'weldon'}
    assert all(v in (0.4, 0.6) for v in chosen.values()), chosen
    assert osp.isfile(osp.join(work, 'cam_threshold', 'gradcam', 'cam_threshold.json'))

    # a missing checkpoint: its rows are "not run" with the reason, the others are
    # written (trained models reused), exit code 1
    proc = _run(['--tiny', '--work-dir', work, '--only', 'loc,mil,whole_lung',
                 '--checkpoint', 'loc=/nonexistent/loc.pth'], env, str(tmp_path))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = {r['method']: r for r in json.load(open(osp.join(work, 'table1.json')))['rows']}
    assert rows['Loc-ADPD']['status'] == 'not run'
    assert rows['Loc-ADPD']['reason'] == 'checkpoint not found: /nonexistent/loc.pth'
    assert rows['MIL-ADPD']['status'] == 'ok'
    assert rows['MIL-ADPD']['mAP'] == by['MIL-ADPD']['mAP']  # same checkpoint, reused
    lung = next(r for n, r in rows.items() if 'whole lung' in n)
    assert lung['status'] == 'not run' and 'Loc-ADPD' in lung['reason']
    assert 'not run: checkpoint not found' in open(osp.join(work, 'table1.md')).read()


def test_real_data_rows_without_data_say_why(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS='1', MMADPD_CXR8_DIR=str(tmp_path / 'none'),
               PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    work = str(tmp_path / 'real')
    proc = _run(['--data', 'real', '--work-dir', work, '--only', 'frcnn,oracle'], env,
                str(tmp_path))
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.load(open(osp.join(work, 'table1.json')))['rows']
    assert [r['status'] for r in rows] == ['not run', 'not run']
    assert 'cxr8_val.json not found' in rows[0]['reason']
    assert rows[0]['paper'] == PAPER_TABLE1['frcnn']  # the paper's block on real data
    assert rows[1]['reason'] == 'needs region ground truth (phantom set only)'
