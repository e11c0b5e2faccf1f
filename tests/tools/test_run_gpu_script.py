"""benchmarks/run_gpu.sh, the GPU check's one script, orchestrates as its header says: the
steps in their order of importance, each skipped with a log line when named in SKIP or
when its estimate would overrun BUDGET_S; the training data are reused by a second call;
the 1024-px validation set is made only for the loop step. (A device call is scarce: a
broken script wastes it. The benchmark steps themselves: test_benchmark.py.)"""
import os
import os.path as osp
import re
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
STEPS = ['eager', 'eager_graphed', 'loop_cudagraphs', 'loop_cpp_wrapper', 'compiled',
         'loop_compiled', 'loop', 'loop_graphed', 'compiled_bare']


def _run(tmp_path, **env):
    full = dict(os.environ, LOCAL='1', OUT=str(tmp_path / 'out'), DEVICE='cpu',
                PYTHON=sys.executable, NUM_TRAIN='3', WORKERS='1',
                DATA_DIR=str(tmp_path / 'train'), VAL_DIR=str(tmp_path / 'val'), **env)
    res = subprocess.run(['bash', osp.join(ROOT, 'benchmarks', 'run_gpu.sh')], cwd=ROOT,
                         env=full, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    return res.stdout


def _skipped(log):
    """(step, reason) of every SKIPPED line, in log order."""
    return re.findall(r'SKIPPED (\w+) \((SKIP|needs ~\d+s, -?\d+s left of BUDGET_S)\)', log)


def test_run_gpu_step_order_skips_and_data_reuse(tmp_path):
    log = _run(tmp_path, SKIP=','.join(STEPS))
    assert 'phantom training data + 256-px cache ready (3 images)' in log
    assert [s for s, _ in _skipped(log)] == STEPS
    assert all(reason == 'SKIP' for _, reason in _skipped(log))
    assert log.rstrip().endswith('all steps done')
    assert (tmp_path / 'train' / 'coco256').is_dir()
    # no step that reads it ran: the validation set was not made
    assert not (tmp_path / 'val').exists()

    # a second call (a warm device) reuses the training data; a budget that covers no
    # step's estimate skips every step by its estimate, the loop's validation set too
    log = _run(tmp_path, BUDGET_S='30')
    assert 'reusing the training data of an earlier call' in log
    skipped = _skipped(log)
    assert [s for s, _ in skipped] == STEPS
    assert all(reason.startswith('needs ~') for _, reason in skipped)
    # the loop's estimate includes making the validation set (60 s) when val is a part
    loop_need = dict(skipped)['loop']
    assert loop_need.startswith('needs ~230s')  # LOOP_S 20 + 150 + 60
    assert not (tmp_path / 'val').exists()
    assert not any((tmp_path / 'out').glob('*.json'))
