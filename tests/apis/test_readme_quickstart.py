"""The README's three-line Python API example runs as written (paths substituted)."""
import json
import os.path as osp
import re

import pytest
from apis_checkpoint import REPO, SYNTHETIC_CONFIG
from cxr_files import phantom_pixels, write_dicom

QUICKSTART = """\
from mmadpd.apis import ADPDInferencer
inferencer = ADPDInferencer('configs/adpd/loc_adpd_synthetic.py', 'work_dirs/demo/latest.pth')
result = inferencer('my_cxr.dcm', out_dir='outputs/')
"""


def test_quickstart_runs_as_written(tmp_path, random_ckpt):
    write_dicom(tmp_path / 'my_cxr.dcm', phantom_pixels(96, 80, max_value=4095),
                'MONOCHROME1', bits_stored=12, window=(2048, 4096))
    out = tmp_path / 'outputs'
    code = (QUICKSTART
            .replace("'configs/adpd/loc_adpd_synthetic.py'", repr(SYNTHETIC_CONFIG))
            .replace("'work_dirs/demo/latest.pth'", repr(random_ckpt))
            .replace("'my_cxr.dcm'", repr(str(tmp_path / 'my_cxr.dcm')))
            .replace("'outputs/'", repr(str(out) + '/')))
    assert code.count(str(tmp_path)) == 2 and SYNTHETIC_CONFIG in code and random_ckpt in code
    namespace = {}
    exec(compile(code, 'README quick start', 'exec'), namespace)
    result = namespace['result']
    assert len(result['predictions']) == 1 and result['failures'] == []
    saved = json.loads((out / 'my_cxr.json').read_text())
    assert saved == result['predictions'][0] and (saved['width'], saved['height']) == (80, 96)
    assert (out / 'my_cxr.png').exists() and (out / 'summary.json').exists()


def test_readme_shows_the_tested_example():
    readme = open(osp.join(REPO, 'README.md'), encoding='utf-8').read()
    if 'ADPDInferencer' not in readme:
        pytest.skip('README.md has no ADPDInferencer example yet')
    blocks = re.findall(r'```python\n(.*?)```', readme, flags=re.S)
    assert any(QUICKSTART.strip() in block for block in blocks), \
        'README.md quick start differs from the example tested here'
