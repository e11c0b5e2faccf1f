"""`make demo`'s fast variant: tools/demo.py --tiny runs all five steps and honours the
demo contract (report.md, metrics.json keys, latest.pth, config.py); a rerun reuses the
data and the checkpoint."""
import json
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _demo(tmp_path, *extra):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               MMADPD_WEIGHTS_DIR=str(tmp_path / 'weights'))
    env.pop('MMADPD_TRACEBACK', None)
    return subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'demo.py'), '--tiny',
         '--work-dir', str(tmp_path / 'work'), '--data-dir', str(tmp_path / 'data'), *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_demo_tiny_end_to_end_and_rerun(tmp_path):
    res = _demo(tmp_path)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    work = tmp_path / 'work'
    metrics = json.loads((work / 'metrics.json').read_text())
    for method in ('loc_adpd', 'whole_lung', 'oracle_regions'):
        assert 'mAP' in metrics[method]
    for key in ('AP@0.1', 'AP@0.3', 'AP@0.5'):
        assert key in metrics['loc_adpd']
    # the oracle (ground-truth regions and labels) must localise something
    assert metrics['oracle_regions']['mAP'] > 0
    report = (work / 'report.md').read_text()
    assert '| method | mAP(0.1-0.7) |' in report
    assert 'whole lung' in report and 'oracle regions' in report
    assert (work / 'latest.pth').exists() and (work / 'config.py').is_file()
    for line in report.splitlines():  # every linked figure exists
        if line.startswith('!['):
            assert (work / line.split('](', 1)[1].rstrip(')')).is_file(), line
    assert 'report' in res.stdout and str(work / 'report.md') in res.stdout
    _check_calibrated_and_published(tmp_path, work, metrics, report)

    ckpt = os.path.realpath(work / 'latest.pth')
    res = _demo(tmp_path)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert 'reusing phantom data' in res.stdout
    assert 'reusing the trained checkpoint' in res.stdout
    assert 'reusing the calibrated checkpoint' in res.stdout
    assert os.path.realpath(work / 'latest.pth') == ckpt


def _check_calibrated_and_published(tmp_path, work, metrics, report):
    """Thresholds calibrated on the val half, the test report's operating points, and
    loc-adpd_phantom usable by name (and refused once its file is corrupted)."""
    import torch

    cal = torch.load(work / 'calibrated.pth', weights_only=False)['meta']['calibration']
    assert cal['split'] == 'val' and cal['data']['ann_file'].endswith('cxr8_val.json')
    assert (work / 'test' / 'report' / 'operating_points.json').is_file()
    assert metrics['published']['name'] == 'loc-adpd_phantom'
    assert [r['class'] for r in metrics['operating_points']['test']] == list(cal['thresholds'])
    assert '## Calibrated operating points' in report and 'loc-adpd_phantom' in report
    weights = tmp_path / 'weights'
    entry = json.loads((weights / 'index.json').read_text())['models']['loc-adpd_phantom']
    assert (weights / entry['model_card']).is_file()
    env = dict(os.environ, OMP_NUM_THREADS='1', MMADPD_WEIGHTS_DIR=str(weights))
    image = sorted((tmp_path / 'data' / 'cxr8' / 'images').glob('*.png'))[0]
    infer = [sys.executable, osp.join(ROOT, 'tools', 'infer.py'), 'loc-adpd_phantom',
             str(image), '--out-dir', str(tmp_path / 'by_name'), '--device', 'cpu']
    res = subprocess.run(infer, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    out = json.loads((tmp_path / 'by_name' / f'{image.stem}.json').read_text())
    assert (out['model']['name'], out['model']['sha256']) == ('loc-adpd_phantom',
                                                              entry['sha256'])
    assert out['model']['thresholds'] == cal['thresholds']
    path = weights / entry['file']
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    res = subprocess.run(infer, cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 2 and 'sha256 mismatch' in res.stderr, res.stderr[-2000:]
    assert path.read_bytes() == bytes(data)
