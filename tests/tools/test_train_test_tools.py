"""tools/train.py and tools/test.py end to end on a toy config (issue 2, acceptance 3-4):
train 2 iterations -> checkpoint -> evaluate with tools/test.py -> resume with --resume."""
import os
import os.path as osp
import subprocess
import sys

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(ROOT, 'tests', 'data', 'configs')


def _run(args, cwd):
    env = dict(os.environ)
    # the toy components live next to this test; custom_imports finds them on the path
    env['PYTHONPATH'] = osp.dirname(osp.abspath(__file__)) + os.pathsep + env.get('PYTHONPATH', '')
    env.pop('MMADPD_TRACEBACK', None)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_train_checkpoint_test_resume(tmp_path):
    work = tmp_path / 'work'
    # run from an unrelated directory: the tools must not depend on the cwd
    res = _run([osp.join(ROOT, 'tools', 'train.py'), osp.join(CONFIGS, 'toy.py'),
                '--work-dir', str(work)], cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    ckpt = work / 'iter_2.pth'
    assert ckpt.is_file()
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    assert state['meta']['iter'] == 2
    assert 'optimizer' in state and state['optimizer']['state']

    res = _run([osp.join(ROOT, 'tools', 'test.py'), osp.join(CONFIGS, 'toy.py'), str(ckpt),
                '--work-dir', str(tmp_path / 'test')], cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'toy/count: 8' in res.stdout

    # resume from the latest checkpoint and train two more iterations
    res = _run([osp.join(ROOT, 'tools', 'train.py'), osp.join(CONFIGS, 'toy.py'),
                '--work-dir', str(work), '--resume',
                '--cfg-options', 'train_cfg.max_iters=4'], cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    log = res.stdout + res.stderr
    assert 'resumed epoch' in log.lower() or 'resumed' in log.lower(), log[-2000:]
    resumed = torch.load(work / 'iter_4.pth', map_location='cpu', weights_only=False)
    assert resumed['meta']['iter'] == 4
    # the optimizer state continued (AdamW step counter 2 -> 4), not restarted at 2
    steps = [float(s['step']) for s in resumed['optimizer']['state'].values()]
    assert steps and all(s == 4 for s in steps), steps


def test_unknown_component_fails_fast_with_registry_error(tmp_path):
    res = _run([osp.join(ROOT, 'tools', 'train.py'), osp.join(CONFIGS, 'toy_unknown.py'),
                '--work-dir', str(tmp_path / 'w')], cwd=tmp_path)
    assert res.returncode != 0
    assert 'NoSuchDetector' in res.stderr
    assert 'registry' in res.stderr
    assert 'Traceback' not in res.stderr


def test_missing_config_is_reported(tmp_path):
    res = _run([osp.join(ROOT, 'tools', 'train.py'), str(tmp_path / 'nope.py')], cwd=tmp_path)
    assert res.returncode != 0
    assert 'config file not found' in res.stderr
