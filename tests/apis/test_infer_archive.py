"""tools/infer.py at archive scale (issue 26, acceptance 3): a run killed with SIGKILL or
interrupted with SIGINT leaves only complete files and ``--resume`` finishes the rest
without redoing anything; ``tools/dist_infer.sh`` with 2 CPU processes (gloo) writes every
output exactly once and rank 0 writes the summary."""
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
from apis_checkpoint import REPO, SYNTHETIC_CONFIG
from cxr_files import phantom_pixels, write_png

INFER = os.path.join(REPO, 'tools', 'infer.py')
NUM_IMAGES = 16


@pytest.fixture(scope='module')
def png_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp('archive')
    for i in range(NUM_IMAGES):
        write_png(folder / f'img_{i:03d}.png',
                  phantom_pixels(160 + i % 5 * 8, 140, seed=i).astype(np.uint8))
    (folder / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n truncated')
    return folder


def _env():
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHON=sys.executable)
    env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    return env


def _cmd(folder, out, *extra):
    return [sys.executable, INFER, SYNTHETIC_CONFIG, extra[0], str(folder), '--out-dir',
            str(out), '--device', 'cpu', '--workers', '1', *extra[1:]]


def _wait_for_jsons(proc, out, count, timeout=180):
    deadline = time.time() + timeout
    while len(list(out.glob('*.json'))) < count:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline, f'fewer than {count} results within {timeout} s'
        time.sleep(0.05)


def _assert_only_complete_files(out):
    assert not list(out.glob('.*.tmp'))
    for path in out.glob('img_*.json'):
        result = json.loads(path.read_text())  # every JSON parses: none is half-written
        assert len(result['regions']) == 29
        assert (out / (path.stem + '.png')).read_bytes()[:4] == b'\x89PNG'  # PNG first


def _summary_inputs(out):
    with open(out / 'summary.csv', newline='') as f:
        return [row['input'] for row in csv.DictReader(f)]


def _interrupt(cmd, out, at_least, sig):
    """Start ``cmd``, send ``sig`` once ``out`` holds ``at_least`` results; the stderr."""
    # SIGINT back to its default in the child: a test run started in the background by a
    # shell (`make test &`) inherits SIGINT ignored, and Python then never raises
    # KeyboardInterrupt
    proc = subprocess.Popen(cmd, env=_env(), cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_for_jsons(proc, out, at_least)
        assert proc.poll() is None, 'the run finished before it could be interrupted'
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def _mtimes(out):
    return {p.name: p.stat().st_mtime_ns for p in out.glob('img_*')}


def test_interrupted_runs_resume_without_redoing_finished_inputs(png_folder, random_ckpt,
                                                                 tmp_path):
    """SIGINT, then a resumed run killed with SIGKILL, then a resumed run that finishes."""
    out = tmp_path / 'out'
    rc, err = _interrupt(_cmd(png_folder, out, random_ckpt), out, 2, signal.SIGINT)
    assert rc == 130 and '--resume' in err, err[-2000:]
    _assert_only_complete_files(out)
    first = _mtimes(out)  # JSON + PNG per finished input
    # appended as results arrived (the interrupt may fall between a JSON and its line)
    assert len(_summary_inputs(out)) >= len(first) // 2 - 1 >= 1

    rc, _ = _interrupt(_cmd(png_folder, out, random_ckpt, '--resume'), out,
                       len(first) // 2 + 2, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    _assert_only_complete_files(out)
    second = _mtimes(out)
    assert {name: second[name] for name in first} == first  # not redone
    assert len(first) < len(second) < 2 * NUM_IMAGES

    res = subprocess.run(_cmd(png_folder, out, random_ckpt, '--resume'), env=_env(),
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stderr[-3000:]  # the broken PNG, reported
    assert 'broken.png' in res.stderr
    _assert_only_complete_files(out)
    assert len(list(out.glob('img_*.json'))) == NUM_IMAGES
    assert {name: (out / name).stat().st_mtime_ns for name in second} == second
    summary = json.loads((out / 'summary.json').read_text())
    inputs = [item['input'] for item in summary['items']]
    assert len(inputs) == len(set(inputs)) == NUM_IMAGES + 1 and summary['num_failed'] == 1
    assert _summary_inputs(out) == inputs  # the final summary.csv: every input once


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_process_sharded_run_writes_each_output_once(png_folder, random_ckpt, tmp_path):
    out = tmp_path / 'dist'
    env = dict(_env(), PORT=str(_free_port()), MASTER_ADDR='127.0.0.1')
    images = sorted(png_folder.glob('img_00*.png'))[:7] + [png_folder / 'broken.png']
    res = subprocess.run(['bash', os.path.join(REPO, 'tools', 'dist_infer.sh'),
                          SYNTHETIC_CONFIG, random_ckpt, '2', *map(str, images),
                          '--out-dir', str(out), '--device', 'cpu', '--workers', '0',
                          '--no-overlay', '--batch-size', '2'],
                         env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode != 0 and 'broken.png' in res.stderr, res.stderr[-3000:]
    per_rank = {}
    for rank in (0, 1):
        with open(out / f'summary.rank{rank}.csv', newline='') as f:
            per_rank[rank] = [row['input'] for row in csv.DictReader(f)]
    names = [str(p) for p in images]
    # disjoint shards (a rank logs inputs as they finish: failed ones before their batch)
    assert sorted(per_rank[0]) == sorted(names[0::2])
    assert sorted(per_rank[1]) == sorted(names[1::2])
    summary = json.loads((out / 'summary.json').read_text())
    assert [item['input'] for item in summary['items']] == names
    assert summary['num_ok'] == 7 and len(list(out.glob('img_*.json'))) == 7
    assert not list(out.glob('*.png'))


FORK_AFTER_OPENCV = '''
import sys
import cv2
import numpy as np
from mmadpd.apis import ADPDInferencer, expand_inputs, unique_stems
from mmadpd.apis.archive import run_archive

config, ckpt, folder, out = sys.argv[1:]
cv2.setNumThreads(2)
for _ in range(4):  # OpenCV's thread pool is now running in this (the parent) process
    cv2.resize(np.zeros((2048, 2048), np.uint8), (1500, 1500), interpolation=cv2.INTER_AREA)
inferencer = ADPDInferencer(config, ckpt, device='cpu')
items = [i for i in expand_inputs([folder]) if 'img_' in i.name][:3]
rows = run_archive(inferencer, items, unique_stems(i.name for i in items), out, workers=1,
                   overlay=False)
assert [row['status'] for row in rows] == ['ok'] * 3, rows
assert cv2.getNumThreads() == 2  # the parent's setting is restored after the run
'''


def test_decoding_workers_start_after_the_parent_used_opencv_threads(png_folder, random_ckpt,
                                                                     tmp_path):
    # a DataLoader worker forked from a parent whose OpenCV pool had run once hung for
    # ever in cv2.setNumThreads; the run must finish
    script = tmp_path / 'fork_after_opencv.py'
    script.write_text(FORK_AFTER_OPENCV)
    proc = subprocess.run([sys.executable, str(script), SYNTHETIC_CONFIG, random_ckpt,
                           str(png_folder), str(tmp_path / 'out')], env=_env(),
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list((tmp_path / 'out').glob('*.json'))) == 3
