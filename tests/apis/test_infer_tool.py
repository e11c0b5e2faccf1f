"""tools/infer.py as a user runs it: good and bad inputs in one run (ONE subprocess,
the interpreter start-up and model build are the slow part)."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
from apis_checkpoint import REPO, SYNTHETIC_CONFIG
from cxr_files import phantom_pixels, write_dicom, write_jpg, write_png


def test_bad_inputs_are_reported_and_good_ones_written(tmp_path, random_ckpt):
    d = tmp_path / 'in'
    (d / 'a').mkdir(parents=True)
    (d / 'b').mkdir()
    grey = phantom_pixels(90, 70, seed=3).astype(np.uint8)
    write_png(d / 'a' / 'scan.png', grey)                      # good, stem 'scan'
    write_dicom(d / 'b' / 'scan.dcm', phantom_pixels(80, 64, max_value=4095),
                'MONOCHROME1', bits_stored=12)               # good, same stem
    (d / 'notes.png').write_text('not an image at all\n')
    write_jpg(d / 'cut.jpg', grey)
    (d / 'cut.jpg').write_bytes((d / 'cut.jpg').read_bytes()[:300])
    (d / 'empty.png').write_bytes(b'')
    write_dicom(d / 'colour.dcm', np.zeros((8, 8, 3), np.uint16), 'RGB', bits_stored=8,
                samples_per_pixel=3)
    missing = d / 'missing.dcm'
    bad = {str(d / 'notes.png'): 'not an image', str(d / 'cut.jpg'): 'truncated JPEG',
           str(d / 'empty.png'): 'empty file', str(d / 'colour.dcm'): 'colour image',
           str(missing): 'no such file'}
    out = tmp_path / 'out'
    cmd = [sys.executable, osp.join(REPO, 'tools', 'infer.py'), SYNTHETIC_CONFIG,
           random_ckpt, str(d / 'a'), str(d / 'notes.png'), str(d / 'cut.jpg'),
           str(d / 'empty.png'), str(d / 'b' / 'scan.dcm'), str(d / 'colour.dcm'),
           str(missing), '--out-dir', str(out), '--device', 'cpu', '--batch-size', '2']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for path, reason in bad.items():
        assert f'{path}: ' in proc.stderr and reason in proc.stderr, (path, proc.stderr)

    # good files are complete, with unique stems in input order
    first = json.loads((out / 'scan.json').read_text())
    second = json.loads((out / 'scan__2.json').read_text())
    assert first['image'] == str(d / 'a' / 'scan.png') and (first['width'],
                                                             first['height']) == (70, 90)
    assert second['image'] == str(d / 'b' / 'scan.dcm') and second['height'] == 80
    assert len(first['regions']) == 29 and first['pathologies']
    for p in first['pathologies']:
        assert set(p) == {'class', 'score', 'threshold', 'positive', 'box', 'regions'}
        assert p['regions']
    assert (out / 'scan.png').read_bytes()[:4] == b'\x89PNG'
    assert (out / 'scan__2.png').stat().st_size > 0

    summary = json.loads((out / 'summary.json').read_text())
    status = {item['input']: (item['status'], item['reason']) for item in summary['items']}
    assert summary['num_inputs'] == 7 and summary['num_failed'] == 5
    assert status[str(d / 'a' / 'scan.png')] == ('ok', '')
    for path, reason in bad.items():
        assert status[path][0] == 'failed' and reason in status[path][1]
    csv_lines = (out / 'summary.csv').read_text().splitlines()
    assert csv_lines[0].startswith('input,status,reason') and len(csv_lines) == 8
    assert not [f for f in os.listdir(out) if f.endswith('.tmp')]
