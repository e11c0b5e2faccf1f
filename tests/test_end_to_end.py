"""The parts together, through the real command-line tools (issue 5 acceptance 4, issue 6
acceptance 2): phantom data -> converters -> tools/train.py -> checkpoints -> tools/test.py
-> Table-1 output + report files; and the fail-fast path when the real data is absent.
"""
import json
import os.path as osp
import re
import subprocess
import sys
import time

import cv2
import pytest
import torch

from mmadpd.anatomy import CXR8_CLASSES

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TRAIN = osp.join(ROOT, 'tools', 'train.py')
TEST = osp.join(ROOT, 'tools', 'test.py')
LOC = osp.join(ROOT, 'configs', 'adpd', 'loc_adpd_synthetic.py')
MIL = osp.join(ROOT, 'configs', 'adpd', 'mil_adpd_synthetic.py')
TABLE1_HEADER = '| method | mAP(0.1-0.7) | AP@0.1 | AP@0.3 | AP@0.5 | loc-acc@0.1/0.3/0.5 |'


def _run(args, env, cwd, timeout=300):
    res = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=timeout)
    return res


def _explain(res):
    return f'rc={res.returncode}\nstdout tail:\n{res.stdout[-2000:]}\nstderr tail:\n' \
           f'{res.stderr[-3000:]}'


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def _table1_row(stdout, method):
    """Cells of the LAST printed Table-1 row of ``method`` (tools/test.py prints it last)."""
    rows = [line for line in stdout.splitlines() if line.startswith(f'| {method} |')]
    assert rows, f'no Table-1 row for {method} in the output:\n{stdout[-2000:]}'
    return [c.strip() for c in rows[-1].strip().strip('|').split('|')]


def _logged_test_metrics(text):
    """``{key: 'value'}`` from mmengine's final ``Iter(test) [n/n]  cxr8/mAP: 0.1234 ...``."""
    lines = [line for line in text.splitlines() if 'Iter(test)' in line and 'cxr8/mAP' in line]
    assert lines, 'no test metric log line'
    return dict(re.findall(r'(cxr8/\S+): (-?[0-9.]+)', lines[-1]))


@pytest.mark.slow
def test_loc_adpd_synthetic_train_test_report(phantom_root, phantom_env, tiny_options,
                                              predict_all_options, tmp_path):
    work = tmp_path / 'train'
    res = _run([TRAIN, LOC, '--work-dir', str(work), '--cfg-options', *tiny_options,
                'train_cfg.max_iters=4', 'train_cfg.val_interval=4'], phantom_env, tmp_path)
    assert res.returncode == 0, _explain(res)
    for name in ('iter_2.pth', 'iter_4.pth', 'best_cxr8_mAP_iter_4.pth', 'last_checkpoint'):
        assert (work / name).is_file(), sorted(p.name for p in work.iterdir())
    ckpt = _load(work / 'iter_4.pth')
    assert ckpt['meta']['iter'] == 4
    assert any(k.startswith('anatomy_head.') for k in ckpt['state_dict'])
    # the validation run during training wrote its report too
    val_report = json.loads((work / 'report' / 'metrics.json').read_text())
    assert val_report['mode'] == 'val' and val_report['iter'] == 4

    out = tmp_path / 'test'
    res = _run([TEST, LOC, str(work / 'iter_4.pth'), '--work-dir', str(out), '--cfg-options',
                *tiny_options, *predict_all_options], phantom_env, tmp_path)
    assert res.returncode == 0, _explain(res)
    report = out / 'report'
    assert TABLE1_HEADER in res.stdout
    assert f'report written to {report}' in res.stdout

    # files: metrics.json, the markdown table, one PR-curve PNG per class, overlays
    data = json.loads((report / 'metrics.json').read_text())
    assert data['mode'] == 'test' and data['method'] == 'loc_adpd_synthetic'
    test_images = json.loads(
        open(osp.join(phantom_root, 'cxr8_coco', 'cxr8_test.json')).read())
    assert data['num_images'] == len(test_images['images'])
    assert TABLE1_HEADER in (report / 'table.md').read_text()
    pngs = sorted(p.stem for p in (report / 'pr_curves').glob('*.png'))
    assert len(pngs) == len(CXR8_CLASSES), pngs
    overlays = sorted((report / 'overlays').glob('*.png'))
    # every CXR8 test image has a GT box: the gallery is full (default 8 images)
    assert len(overlays) == min(8, data['num_images']) and not data['files']['skipped_overlays']
    for png in [*overlays, *(report / 'pr_curves').glob('*.png')]:
        img = cv2.imread(str(png))
        assert img is not None and img.size > 0, png

    # the printed numbers ARE the JSON numbers
    t1 = data['table1']
    assert t1['AP@0.1'] > 0, 'all-zero AP: the comparison below would prove nothing'
    cells = _table1_row(res.stdout, 'loc_adpd_synthetic')
    assert cells[1:5] == [f'{t1[k]:.2f}' for k in ('mAP', 'AP@0.1', 'AP@0.3', 'AP@0.5')]
    assert cells[5] == '/'.join(f'{t1[f"loc_acc@{t}"]:.2f}' for t in ('0.1', '0.3', '0.5'))
    logged = _logged_test_metrics(res.stdout + res.stderr)
    assert len(logged) > 20
    for key, value in logged.items():
        assert f'{data["metrics"][key]:.4f}' == value, key
    for key in ('mAP', 'AP@0.1', 'AP@0.3', 'AP@0.5', 'loc_acc@0.1'):
        assert data['metrics'][f'cxr8/{key}'] == t1[key]


@pytest.mark.slow
def test_mil_adpd_synthetic_train_test(phantom_env, tiny_options, tmp_path):
    work = tmp_path / 'train'
    res = _run([TRAIN, MIL, '--work-dir', str(work), '--cfg-options', *tiny_options,
                'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
                'default_hooks.report.on_val=False'], phantom_env, tmp_path)
    assert res.returncode == 0, _explain(res)
    ckpt = _load(work / 'iter_2.pth')
    assert ckpt['meta']['iter'] == 2
    # MIL-ADPD: d = 256 (Loc: 512) and the MIL loss was the one optimised
    assert ckpt['state_dict']['pathology_head.fc.weight'].shape[1] == 256
    assert 'loss_mil' in res.stdout + res.stderr
    assert not (work / 'report').exists()  # on_val=False honoured

    out = tmp_path / 'test'
    res = _run([TEST, MIL, str(work / 'iter_2.pth'), '--work-dir', str(out),
                '--method-name', 'MIL-ADPD (e2e)',
                '--cfg-options', *tiny_options, 'default_hooks.report.num_overlays=1'],
               phantom_env, tmp_path)
    assert res.returncode == 0, _explain(res)
    assert TABLE1_HEADER in res.stdout
    cells = _table1_row(res.stdout, 'MIL-ADPD (e2e)')
    data = json.loads((out / 'report' / 'metrics.json').read_text())
    assert data['method'] == 'MIL-ADPD (e2e)'  # --method-name reaches the report too
    assert cells[1] == f'{data["table1"]["mAP"]:.2f}'
    assert len(list((out / 'report' / 'overlays').glob('*.png'))) == 1


def test_real_config_without_data_fails_fast(phantom_env, tmp_path):
    env = dict(phantom_env)
    env['MMADPD_IMAGENOME_DIR'] = str(tmp_path / 'no_imagenome')
    env['MMADPD_CXR8_DIR'] = str(tmp_path / 'no_cxr8')
    (tmp_path / 'no_imagenome').mkdir()
    (tmp_path / 'no_cxr8').mkdir()
    start = time.time()
    res = _run([TRAIN, osp.join(ROOT, 'configs', 'adpd', 'loc_adpd.py'),
                '--work-dir', str(tmp_path / 'w')], env, tmp_path, timeout=120)
    # fails before any training or weight download (a few seconds; loose bound for CI)
    assert time.time() - start < 60
    assert res.returncode != 0
    assert 'Traceback' not in res.stderr, res.stderr[-3000:]
    errors = [line for line in res.stderr.splitlines() if line.startswith('error:')]
    assert len(errors) == 1, res.stderr[-3000:]
    assert str(tmp_path / 'no_imagenome') in errors[0]
    assert not list(tmp_path.glob('w/*.pth'))
