"""Result dicts, unique output stems, atomic writes and the run summary."""
import csv
import json
import os

import numpy as np
import pytest
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

from mmadpd.apis import results
from mmadpd.apis.results import (atomic_write_bytes, build_result, unique_stems,
                                 write_summary)


def test_stems_are_unique_in_input_order_and_never_summary():
    names = ['a/img.png', 'b/img.dcm', 'img__2.png', 'c/IMG.jpg', 'summary.png',
             'd/other', 'array_0000']
    stems = unique_stems(names)
    assert stems == ['img', 'img__2', 'img__2__2', 'IMG__3', 'summary__2', 'other',
                     'array_0000']
    assert len({s.lower() for s in stems}) == len(stems)


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / 'r.json'
    atomic_write_bytes(str(target), b'old complete content')

    def broken_fsync(fd):
        raise OSError('disk full')
    monkeypatch.setattr(results.os, 'fsync', broken_fsync)
    with pytest.raises(OSError, match='disk full'):
        atomic_write_bytes(str(target), b'new')
    assert target.read_bytes() == b'old complete content'
    assert os.listdir(tmp_path) == ['r.json']  # no temp file left behind


def _sample():
    s = DetDataSample()
    s.pred_instances = InstanceData(bboxes=torch.tensor([[1., 2., 30., 40.], [5, 6, 7, 8]]),
                                    scores=torch.tensor([0.3, 0.9]),
                                    labels=torch.tensor([2, 0]))
    s.pred_regions = InstanceData(bboxes=torch.arange(12.).reshape(3, 4),
                                  presence_logits=torch.tensor([2.0, 0.4, -1.0]),
                                  pathology_probs=torch.tensor([[0.1, 0.7]] * 3))
    s.set_metainfo({'fused_regions': [[0, 2], [1]]})
    return s


def test_build_result_fields_order_and_threshold():
    res = build_result(_sample(), 'x.png', 64, 48, ['A', 'B', 'C'], ['r0', 'r1', 'r2'],
                       ['p', 'q'], presence_thr=0.5, score_thr=0.0,
                       model_info={'checkpoint': 'c.pth'})
    assert [p['class'] for p in res['pathologies']] == ['A', 'C']  # sorted by score
    assert res['pathologies'][1] == {'class': 'C', 'score': 0.3,
                                     'box': [1.0, 2.0, 30.0, 40.0], 'regions': ['r0', 'r2']}
    assert [r['present'] for r in res['regions']] == [True, False, False]  # logit > 0.5
    assert res['regions'][0]['presence_score'] == pytest.approx(1 / (1 + np.exp(-2)), 1e-6)
    assert res['regions'][2]['probabilities'] == {'p': 0.1, 'q': 0.7}
    assert (res['width'], res['height'], res['model']) == (64, 48, {'checkpoint': 'c.pth'})
    high = build_result(_sample(), 'x.png', 64, 48, ['A', 'B', 'C'], ['r0', 'r1', 'r2'],
                        ['p', 'q'], presence_thr=0.5, score_thr=0.5)
    assert [p['class'] for p in high['pathologies']] == ['A']
    json.dumps(res)  # plain JSON types only


def test_summary_json_and_csv_list_every_input(tmp_path):
    rows = [{'input': 'a.png', 'status': 'ok', 'reason': '', 'json': 'o/a.json',
             'png': 'o/a.png', 'width': 10, 'height': 12, 'num_pathologies': 2},
            {'input': 'b.txt', 'status': 'failed', 'reason': 'not an image, "quoted"'}]
    summary = write_summary(str(tmp_path), rows)
    assert (summary['num_inputs'], summary['num_ok'], summary['num_failed']) == (2, 1, 1)
    assert json.loads((tmp_path / 'summary.json').read_text()) == summary
    with open(tmp_path / 'summary.csv', newline='') as f:
        table = list(csv.DictReader(f))
    assert [r['status'] for r in table] == ['ok', 'failed']
    assert table[1]['reason'] == 'not an image, "quoted"' and table[1]['json'] == ''


def test_atomic_write_gives_ordinary_file_permissions(tmp_path):
    import os
    import stat

    from mmadpd.apis.results import atomic_write_bytes
    old = os.umask(0o022)
    try:
        atomic_write_bytes(str(tmp_path / 'out.json'), b'{}')
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / 'out.json').st_mode)
    assert mode == 0o644  # not mkstemp's 0600


def test_result_json_reads_back_as_the_dict_including_numpy_and_number_like_values():
    from pydicom.valuerep import DSfloat, IS

    obj = {'image': 'Müller/é.png', 'width': np.int64(1024), 'spacing': [DSfloat('0.139'),
           DSfloat('0.139')], 'frames': IS('1'), 'probs': np.array([0.25, 1e-06]),
           'score': np.float32(0.5), 'nested': [{'present': True, 'box': None}]}
    text = results.json_bytes(obj)
    assert text.endswith(b'}\n') and b'\n  "image": "M\xc3\xbcller' in text  # indented UTF-8
    back = json.loads(text)
    assert back == {'image': 'Müller/é.png', 'width': 1024, 'spacing': [0.139, 0.139],
                    'frames': 1, 'probs': [0.25, 1e-06], 'score': 0.5,
                    'nested': [{'present': True, 'box': None}]}
    with pytest.raises(TypeError, match='object is not JSON serializable|not JSON'):
        results.json_bytes({'bad': object()})
