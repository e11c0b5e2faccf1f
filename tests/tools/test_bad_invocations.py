"""Every command in tools/ against a table of bad invocations and bad environments: the
answer is a sentence on stderr and a non-zero exit, never a Python traceback.

The tools run in this process (runpy, as ``python tools/x.py`` runs them): a traceback is
printed exactly when an exception other than SystemExit leaves the script, which this
test turns into a failure; starting ~25 interpreters would cost minutes.
"""
import contextlib
import gzip
import io
import os
import os.path as osp
import runpy
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC = osp.join(REPO, 'configs', 'adpd', 'loc_adpd_synthetic.py')


def run_tool(script, argv, env=None):
    """``(exit code, stderr)`` of ``python tools/<script> <argv>`` run in process."""
    path = osp.join(REPO, 'tools', script)
    err = io.StringIO()
    old_argv, old_path, old_env = sys.argv, list(sys.path), dict(os.environ)
    sys.argv = [path] + list(argv)
    os.environ.update(env or {})
    code = 0
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                runpy.run_path(path, run_name='__main__')
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (exc.code is not None)
            except Exception as exc:  # noqa: BLE001 - what a user would see as a traceback
                pytest.fail(f'{script} {argv}: traceback ({type(exc).__name__}: {exc})')
    finally:
        sys.argv, sys.path[:] = old_argv, old_path
        os.environ.clear()
        os.environ.update(old_env)
    return code, err.getvalue()


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('bad_invocations')
    ckpt = root / 'model.pth'
    torch.save({'state_dict': {'w': torch.zeros(4096)}, 'meta': {}}, ckpt)
    data = ckpt.read_bytes()
    (root / 'truncated.pth').write_bytes(data[:len(data) // 2])
    (root / 'empty.pth').write_bytes(b'')
    (root / 'text.pth').write_text('not a checkpoint\n')
    (root / 'broken_config.py').write_text('model = dict(type=\n')
    (root / 'a_file').write_text('x\n')
    (root / 'image.png').write_bytes(b'\x89PNG\r\n\x1a\n')
    box = 'Image Index,Finding Label,Bbox [x,y,w,h],,,\n' + \
        ''.join(f'{i:08d}_000.png,Mass,1,1,9,9\n' for i in range(300))
    packed = gzip.compress(box.encode())
    (root / 'box_cut.csv.gz').write_bytes(packed[:len(packed) // 2])
    (root / 'entry.csv').write_text('Image Index,Patient ID\n')
    names = ('truncated.pth', 'empty.pth', 'text.pth', 'broken_config.py', 'a_file',
             'image.png', 'box_cut.csv.gz', 'entry.csv')
    return {name: str(root / name) for name in names} | {'root': str(root)}


# (script, argv with {placeholders}, env, expected fragment of stderr)
INVOCATIONS = [
    ('train.py', ['{root}/missing.py'], {}, 'config file not found'),
    ('train.py', ['{broken_config.py}'], {}, 'SyntaxError'),
    ('train.py', [SYNTHETIC, '--work-dir', '{root}/wd', '--resume', '{truncated.pth}'], {},
     'truncated or corrupt'),
    ('train.py', [SYNTHETIC, '--work-dir', '{root}/wd', '--cfg-options',
                  'model.type=NoSuchDetector'], {}, 'NoSuchDetector'),
    ('test.py', [SYNTHETIC, '{truncated.pth}', '--work-dir', '{root}/wd'], {},
     'truncated or corrupt'),
    ('test.py', [SYNTHETIC, '{empty.pth}', '--work-dir', '{root}/wd'], {}, 'empty'),
    ('test.py', [SYNTHETIC, '{text.pth}', '--work-dir', '{root}/wd'], {},
     'not a PyTorch checkpoint'),
    ('test.py', [SYNTHETIC, '{root}/missing.pth'], {}, 'checkpoint not found'),
    ('infer.py', [SYNTHETIC, '{truncated.pth}', '{image.png}', '--out-dir', '{root}/o'], {},
     'truncated or corrupt'),
    ('infer.py', [SYNTHETIC, '{text.pth}', '{image.png}', '--out-dir', '{root}/o',
                  '--device', 'gpu0'], {}, 'not a PyTorch checkpoint'),
    ('infer.py', ['{broken_config.py}', '{root}/../bad_invocations0/model.pth',
                  '{image.png}', '--out-dir', '{root}/o'], {}, ''),
    ('infer.py', [SYNTHETIC, '{root}/missing.pth', '{image.png}', '--out-dir', '{a_file}'],
     {}, 'EEXIST'),
    ('infer.py', [SYNTHETIC, '{root}/missing.pth', '{image.png}', '--out-dir', '{root}/o',
                  '--batch-size', '0'], {}, '--batch-size'),
    ('dataset_converters/cxr8_to_coco.py', ['--bbox-csv', '{box_cut.csv.gz}',
                                            '--data-entry', '{entry.csv}', '--out-dir',
                                            '{root}/c'], {}, 'truncated or corrupt gzip'),
    ('dataset_converters/cxr8_to_coco.py', ['--bbox-csv', '{root}/none.csv',
                                            '--data-entry', '{entry.csv}', '--out-dir',
                                            '{root}/c'], {}, 'file not found'),
    ('dataset_converters/cxr8_to_coco.py', ['--bbox-csv', '{entry.csv}'], {}, ''),
    ('dataset_converters/imagenome_to_coco.py', [
        '--scene-graphs', '{root}/none.zip', '--splits-dir', '{root}', '--images-root',
        '{root}', '--metadata', '{root}/none.csv', '--out-dir', '{root}/i'], {}, ''),
    ('dataset_converters/make_synthetic_cxr.py', ['{a_file}', '--num-train', '2'], {}, ''),
    ('analysis_tools/benchmark_summary.py', ['{root}/no_such_folder'], {}, ''),
    ('analysis_tools/reference_boxes.py', ['{root}/none.json'], {}, ''),
    ('analysis_tools/browse_dataset.py', ['{root}/missing.py'], {}, ''),
    ('analysis_tools/dataset_load_benchmark.py', ['{root}/none.json'], {}, ''),
    ('analysis_tools/region_localisation.py', ['{root}/none.pkl', '--truth', '{entry.csv}'],
     {}, 'none.pkl: not found'),
]


@pytest.mark.parametrize('script, argv, env, expected', INVOCATIONS,
                         ids=[f'{i:02d}-{osp.basename(s)}' for i, (s, *_) in
                              enumerate(INVOCATIONS)])
def test_bad_invocation_is_a_sentence_not_a_traceback(files, script, argv, env, expected):
    for key, value in files.items():
        argv = [a.replace('{' + key + '}', value) for a in argv]
    code, err = run_tool(script, argv, env)
    assert code != 0, err
    assert 'Traceback' not in err and err.strip(), err
    assert expected in err, err


def test_cuda_device_without_a_gpu_is_a_sentence(files, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    ckpt = osp.join(files['root'], 'model.pth')
    code, err = run_tool('infer.py', [SYNTHETIC, ckpt, files['image.png'], '--out-dir',
                                      osp.join(files['root'], 'o'), '--device', 'cuda'])
    assert code == 2 and err.count('\n') == 1
    assert 'no CUDA GPU is available' in err and 'Traceback' not in err


def test_missing_data_hint_names_the_variable_the_config_reads(files):
    code, err = run_tool('train.py', [SYNTHETIC, '--work-dir', osp.join(files['root'], 'w')],
                         env={'MMADPD_PHANTOM_DIR': osp.join(files['root'], 'no_data')})
    assert code == 1 and 'Traceback' not in err
    assert 'imagenome_train.json not found' in err
    assert 'MMADPD_PHANTOM_DIR' in err and 'MMADPD_IMAGENOME_DIR' not in err
