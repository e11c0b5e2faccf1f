"""A training run killed with SIGKILL resumes from its last checkpoint (issue 9,
acceptance 2): the iteration counter, the optimizer state (AdamW step counts) and the
learning-rate schedule continue instead of restarting.
"""
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TRAIN = osp.join(ROOT, 'tools', 'train.py')
LOC = osp.join(ROOT, 'configs', 'adpd', 'loc_adpd_synthetic.py')
# loc_adpd_synthetic.py: AdamW lr 5e-4, LinearLR warm-up from 1e-3 x lr
BASE_LR, START_FACTOR = 5e-4, 1e-3


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def _last_checkpoint_iter(work):
    """Iteration of the checkpoint named in ``last_checkpoint`` (written after the
    checkpoint file is complete), or 0."""
    marker = work / 'last_checkpoint'
    if not marker.is_file():
        return 0
    name = osp.basename(marker.read_text().strip())
    return int(name[len('iter_'):-len('.pth')]) if name.startswith('iter_') else 0


def _adamw_steps(ckpt):
    return [float(s['step']) for s in ckpt['optimizer']['state'].values()]


def _warmup_lr(it, total_iters):
    # LinearLR after `it` scheduler steps (its chained factors telescope to this)
    return BASE_LR * (START_FACTOR + (1 - START_FACTOR) * min(it, total_iters) / total_iters)


@pytest.mark.slow
def test_sigkill_then_resume_continues(phantom_env, tiny_options, tmp_path):
    work = tmp_path / 'work'
    # checkpoints every 2 iterations of a long run; validation only at the very end
    options = [*tiny_options, 'train_dataloader.batch_size=2', 'train_cfg.max_iters=10000',
               'train_cfg.val_interval=100000', 'default_hooks.checkpoint.max_keep_ckpts=-1',
               'default_hooks.report.on_val=False']
    log1 = open(tmp_path / 'run1.log', 'w')
    proc = subprocess.Popen([sys.executable, TRAIN, LOC, '--work-dir', str(work),
                             '--cfg-options', *options], cwd=tmp_path, env=phantom_env,
                            stdout=log1, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 240
        while _last_checkpoint_iter(work) < 4:
            assert proc.poll() is None, (tmp_path / 'run1.log').read_text()[-3000:]
            assert time.time() < deadline, 'no iter_4 checkpoint within 240 s'
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log1.close()
    assert proc.returncode == -signal.SIGKILL
    last = _last_checkpoint_iter(work)  # the run may have gone on after the poll
    assert last >= 4 and last % 2 == 0
    before = _load(work / f'iter_{last}.pth')
    assert before['meta']['iter'] == last
    assert set(_adamw_steps(before)) == {float(last)}
    warmup = before['param_schedulers'][0]
    assert warmup['last_step'] == last and warmup['total_iters'] > last + 2
    for group in before['optimizer']['param_groups']:
        assert group['lr'] == pytest.approx(_warmup_lr(last, warmup['total_iters']), rel=1e-6)

    # restart with --resume (latest checkpoint of the work dir), 2 more iterations
    res = subprocess.run([sys.executable, TRAIN, LOC, '--work-dir', str(work), '--resume',
                          '--cfg-options', *options, f'train_cfg.max_iters={last + 2}'],
                         cwd=tmp_path, env=phantom_env, capture_output=True, text=True,
                         timeout=240)
    log = res.stdout + res.stderr
    assert res.returncode == 0, log[-4000:]
    assert f'Load checkpoint from {work / f"iter_{last}.pth"}' in log, log[-4000:]
    assert f'resumed epoch: 0, iter: {last}' in log, log[-4000:]
    # training went on at the next iteration, not at 1
    assert f'Iter(train) [{last + 1}/{last + 2}]' in log
    assert 'Iter(train) [1/' not in log

    after = _load(work / f'iter_{last + 2}.pth')
    assert after['meta']['iter'] == last + 2
    # AdamW continued: every parameter's step count went on from `last`, same parameters
    assert set(_adamw_steps(after)) == {float(last + 2)}
    assert len(after['optimizer']['state']) == len(before['optimizer']['state'])
    # the warm-up schedule continued too (a restarted one would be at step 2)
    assert after['param_schedulers'][0]['last_step'] == last + 2
    for group in after['optimizer']['param_groups']:
        assert group['lr'] == pytest.approx(_warmup_lr(last + 2, warmup['total_iters']),
                                            rel=1e-6)
