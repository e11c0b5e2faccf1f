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
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
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

    ckpt = os.path.realpath(work / 'latest.pth')
    res = _demo(tmp_path)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert 'reusing phantom data' in res.stdout
    assert 'reusing the trained checkpoint' in res.stdout
    assert os.path.realpath(work / 'latest.pth') == ckpt
