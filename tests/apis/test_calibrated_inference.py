"""Calibrated thresholds: calibrate.py writes them into the checkpoint's meta, they
survive a save/load round trip and decide which boxes tools/infer.py marks positive."""
import json
import os.path as osp
import runpy
import subprocess
import sys

import numpy as np
import pytest
import torch
from apis_checkpoint import REPO, SYNTHETIC_CONFIG
from cxr_files import phantom_pixels, write_png

from mmadpd.apis.calibration import (calibration_of, file_sha256, make_calibration,
                                     save_with_calibration)
from mmadpd.apis.thresholds import parse_score_thr

CALIBRATE = osp.join(REPO, 'tools', 'analysis_tools', 'calibrate.py')
NUM_WORKERS_0 = ['val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False']


def test_calibrated_thresholds_round_trip_and_change_positive_boxes_in_infer(
        tmp_path, random_ckpt, inferencer):
    image = tmp_path / 'scan.png'
    write_png(image, phantom_pixels(90, 70, seed=3).astype(np.uint8))
    before = inferencer(str(image))['predictions'][0]
    assert before['model']['threshold_source'].startswith('uncalibrated')
    scores = {p['class']: p['score'] for p in before['pathologies']}
    assert len(scores) >= 2 and all(p['positive'] for p in before['pathologies'])
    # every other class just above its box's score: those boxes turn negative
    wanted = {c: i % 2 == 1 for i, c in enumerate(sorted(scores))}
    rows = [dict({'class': c}, threshold=(scores[c] - 1e-4 if wanted.get(c) else
                                          scores.get(c, 0.5) + 1e-4),
                 precision=0.5, recall=0.5, f1=0.5, tp=1, num_positive=2, num_gt=10,
                 fallback=False, reason=None) for c in inferencer.class_names]
    ann = tmp_path / 'val.json'
    ann.write_text('{"images": []}')
    calibration = make_calibration(rows, iou_thr=0.1, min_gt_boxes=10,
                                   fallback_threshold=0.5, ann_file=str(ann), num_images=0,
                                   config=SYNTHETIC_CONFIG, source_checkpoint=random_ckpt,
                                   repo=REPO)
    out = str(tmp_path / 'calibrated.pth')
    save_with_calibration(torch.load(random_ckpt, weights_only=False), calibration, out)
    assert calibration_of(torch.load(out, weights_only=False)) == calibration

    infer = runpy.run_path(osp.join(REPO, 'tools', 'infer.py'))  # main() not run yet
    assert infer['main']([SYNTHETIC_CONFIG, out, str(image), '--out-dir',
                          str(tmp_path / 'o'), '--device', 'cpu']) == 0
    after = json.loads((tmp_path / 'o' / 'scan.json').read_text())
    assert after['model']['sha256'] == file_sha256(out)
    assert after['model']['name'] == 'calibrated' and 'Research use only' in \
        after['model']['intended_use']
    assert {p['class']: p['positive'] for p in after['pathologies']} == wanted
    for p in after['pathologies']:
        assert p['threshold'] == calibration['thresholds'][p['class']]
        assert p['score'] == pytest.approx(scores[p['class']], abs=1e-5)  # same boxes
    summary = json.loads((tmp_path / 'o' / 'summary.json').read_text())
    assert summary['items'][0]['num_pathologies'] == sum(wanted.values())


def test_score_thr_values():
    assert parse_score_thr('calibrated') == 'calibrated'
    assert parse_score_thr('0') == 0.0 and parse_score_thr(0.3) == 0.3
    for bad in ('calibrate', '1.5', '-0.1'):
        with pytest.raises(ValueError, match='score threshold'):
            parse_score_thr(bad)


def test_calibrate_tool_writes_val_thresholds_into_meta(tmp_path, random_ckpt, phantom_env,
                                                        phantom_root):
    out = tmp_path / 'cal.pth'
    proc = subprocess.run([sys.executable, CALIBRATE, SYNTHETIC_CONFIG, random_ckpt,
                           '--out', str(out), '--min-gt-boxes', '3', '--cfg-options',
                           *NUM_WORKERS_0], env=phantom_env, capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert '| class | threshold | precision | recall | F1 | GT boxes | calibrated |' \
        in proc.stdout
    ckpt = torch.load(out, weights_only=False)
    cal = calibration_of(ckpt)
    val = osp.join(phantom_root, 'cxr8_coco', 'cxr8_val.json')
    assert cal['split'] == 'val' and cal['data']['ann_file'] == val
    assert cal['data']['sha256'] == file_sha256(val)
    assert cal['data']['num_images'] == len(json.load(open(val))['images'])
    assert len(cal['commit']) == 40 and cal['iou_thr'] == 0.1
    assert list(cal['thresholds']) == [r['class'] for r in cal['per_class']]
    for r in cal['per_class']:
        assert r['fallback'] == (r['num_gt'] < 3 or r['tp'] == 0), r
        assert r['threshold'] >= 0.5 and (r['threshold'] == 0.5 or not r['fallback'])
    source = torch.load(random_ckpt, weights_only=False)['state_dict']
    assert all(torch.equal(v, ckpt['state_dict'][k]) for k, v in source.items())



def test_calibrate_tool_refuses_the_test_half(tmp_path, random_ckpt, phantom_root,
                                              monkeypatch, capsys):
    monkeypatch.setenv('MMADPD_PHANTOM_DIR', phantom_root)
    tool = runpy.run_path(CALIBRATE)  # defines main() without running it
    with pytest.raises(SystemExit):
        tool['main']([SYNTHETIC_CONFIG, random_ckpt, '--out', str(tmp_path / 'x.pth'),
                      '--cfg-options', 'val_dataloader.dataset.ann_file=cxr8_test.json'])
    assert 'calibrating on the test half' in capsys.readouterr().err
    assert not (tmp_path / 'x.pth').exists()
