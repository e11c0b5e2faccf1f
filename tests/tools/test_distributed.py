"""Distributed training and evaluation through the real launch scripts (issue 9,
acceptance 1): ``tools/dist_train.sh`` and ``tools/dist_test.sh`` with 2 CPU processes
(torchrun, gloo) on the phantom set.

Checks: the learning rate follows ``auto_scale_lr`` (base batch size 128) for the total
batch of both ranks; only rank 0 writes checkpoints, logs and the report; the 2-process
evaluation of a checkpoint equals the single-process evaluation EXACTLY, and every test
image is evaluated exactly once although the test set size is odd (mmengine's
DefaultSampler pads the last rank with a repeated image, ``collect_results`` cuts it).
"""
import json
import os
import os.path as osp
import pickle
import socket
import subprocess
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(ROOT, 'tools')
LOC = osp.join(ROOT, 'configs', 'adpd', 'loc_adpd_synthetic.py')
BATCH = 2
WORLD = 2
BASE_LR = 5e-4  # optim_wrapper.optimizer.lr of loc_adpd_synthetic.py


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _env(phantom_env):
    env = dict(phantom_env)
    env['PYTHON'] = sys.executable
    env['PORT'] = str(_free_port())
    env['MASTER_ADDR'] = '127.0.0.1'
    # torchrun gives every rank one intra-op thread; the single-process reference run
    # must use the same kernels for a bit-exact comparison (phantom_env sets it already;
    # repeated here because the exactness depends on it).
    env['OMP_NUM_THREADS'] = '1'
    env['MKL_NUM_THREADS'] = '1'
    return env


def _run(cmd, env, cwd, timeout=300):
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=timeout)
    assert res.returncode == 0, (f'{cmd[:3]} rc={res.returncode}\nstdout:\n'
                                 f'{res.stdout[-3000:]}\nstderr:\n{res.stderr[-4000:]}')
    return res


def _files(folder):
    return sorted(osp.relpath(osp.join(d, f), folder)
                  for d, _, fs in os.walk(folder) for f in fs)


@pytest.mark.slow
def test_dist_train_and_test_match_single_process(phantom_env, phantom_root, tiny_options,
                                                  predict_all_options, tmp_path):
    env = _env(phantom_env)
    work = tmp_path / 'dist_train'
    options = [*tiny_options, f'train_dataloader.batch_size={BATCH}',
               'train_cfg.max_iters=4', 'train_cfg.val_interval=4',
               'default_hooks.report.num_overlays=2']
    res = _run(['bash', osp.join(TOOLS, 'dist_train.sh'), LOC, str(WORLD), '--work-dir',
                str(work), '--auto-scale-lr', '--cfg-options', *options], env, tmp_path)
    out = res.stdout + res.stderr
    assert 'Distributed training: True' in out
    assert 'Traceback' not in out, res.stderr[-3000:]

    # auto_scale_lr: 2 ranks x batch 2 against the base batch 128
    scaled = BASE_LR * WORLD * BATCH / 128
    assert f'current batch size is {WORLD * BATCH}' in out
    ckpt = torch.load(work / 'iter_4.pth', map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 4
    # the warm-up scheduler multiplies the scaled base lr: initial_lr is the scaled one
    groups = ckpt['optimizer']['param_groups']
    assert all(g['initial_lr'] == pytest.approx(scaled, rel=1e-9) for g in groups), \
        [g.get('initial_lr') for g in groups]
    # the model wrapper was the CPU-safe DDP one
    assert "type='mmdet.CPUDistributedDataParallel'" in out

    # rank 0 alone wrote: one run folder, one log, the expected checkpoints, one report
    runs = [p for p in work.iterdir() if p.is_dir() and p.name != 'report']
    assert len(runs) == 1, _files(work)
    assert len(list(runs[0].glob('*.log'))) == 1, _files(work)
    ckpts = sorted(p.name for p in work.glob('*.pth'))
    assert ckpts == ['best_cxr8_mAP_iter_4.pth', 'iter_2.pth', 'iter_4.pth'], ckpts
    assert (work / 'last_checkpoint').read_text().strip().endswith('iter_4.pth')
    val_report = json.loads((work / 'report' / 'metrics.json').read_text())
    assert val_report['mode'] == 'val' and val_report['iter'] == 4
    val_images = json.loads(open(osp.join(phantom_root, 'cxr8_coco', 'cxr8_val.json')).read())
    assert val_report['num_images'] == len(val_images['images'])

    # evaluation: 2 processes vs 1 process on the same checkpoint, one image per batch
    test_opts = [*tiny_options, *predict_all_options, 'test_dataloader.batch_size=1',
                 'default_hooks.report.num_overlays=2']
    dist_dir, single_dir = tmp_path / 'dist_test', tmp_path / 'single_test'
    dist_pkl, single_pkl = dist_dir / 'preds.pkl', single_dir / 'preds.pkl'
    ckpt_path = str(work / 'iter_4.pth')
    env['PORT'] = str(_free_port())
    dres = _run(['bash', osp.join(TOOLS, 'dist_test.sh'), LOC, ckpt_path, str(WORLD),
                 '--work-dir', str(dist_dir), '--out', str(dist_pkl),
                 '--cfg-options', *test_opts], env, tmp_path)
    sres = _run([sys.executable, osp.join(TOOLS, 'test.py'), LOC, ckpt_path,
                 '--work-dir', str(single_dir), '--out', str(single_pkl),
                 '--cfg-options', *test_opts], env, tmp_path)

    test_json = json.loads(open(osp.join(phantom_root, 'cxr8_coco', 'cxr8_test.json')).read())
    num_images = len(test_json['images'])
    assert num_images % WORLD == 1  # the sampler must pad, and the results be cut again
    per_rank = -(-num_images // WORLD)
    dout = dres.stdout + dres.stderr
    # rank 0 logged its shard: ceil(n / 2) one-image batches, not n
    assert f'Iter(test) [{per_rank}/{per_rank}]' in dout, dout[-3000:]
    assert f'Iter(test) [{num_images}/{num_images}]' in sres.stdout + sres.stderr
    # the summary is printed by rank 0 only (the metric and the report hook log the
    # table too, as in the single-process run)
    assert dres.stdout.count('report written to') == 1
    header = '| method | mAP(0.1-0.7) |'
    assert dres.stdout.count(header) == sres.stdout.count(header) > 0

    # every test image evaluated exactly once
    preds = pickle.load(open(dist_pkl, 'rb'))
    ids = [p['img_id'] for p in preds]
    assert len(ids) == num_images and len(set(ids)) == num_images
    assert set(ids) == {im['id'] for im in test_json['images']}
    dist_report = json.loads((dist_dir / 'report' / 'metrics.json').read_text())
    assert dist_report['num_images'] == num_images

    # the metric equals the single-process evaluation exactly
    single_report = json.loads((single_dir / 'report' / 'metrics.json').read_text())
    assert dist_report['table1']['AP@0.1'] > 0, 'all-zero AP would prove nothing'
    assert dist_report['metrics'] == single_report['metrics']
    assert dist_report['per_class'] == single_report['per_class']
    single_preds = pickle.load(open(single_pkl, 'rb'))
    assert [p['img_id'] for p in single_preds] == ids
    for a, b in zip(preds, single_preds):
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(a['pred_instances'][key], b['pred_instances'][key]), \
                (a['img_id'], key)
    # same report files, written once (no rank-1 duplicates or temporary leftovers)
    assert _files(dist_dir / 'report') == _files(single_dir / 'report')
    assert not [f for f in _files(dist_dir) if 'rank' in f.lower() or f.endswith('.tmp')]
