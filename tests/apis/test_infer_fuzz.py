"""Hostile inputs and a failing disk for ADPDInferencer / tools/infer.py: regression tests
of issue 21 and a property test (every other input is processed, one input's outputs are
all there or none, and the summary lists exactly the files on disk)."""
import csv
import errno
import json
import os
import os.path as osp
import pathlib
import struct
import tempfile
from unittest import mock

import cv2
import numpy as np
import pytest
from cxr_files import phantom_pixels, write_dicom
from fuzz_settings import fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from mmadpd.apis import safe_write
from mmadpd.apis.safe_write import OutputWriteError

RUN_FILES = ('summary.json', 'summary.csv')


def write_good(path, seed=0):
    pixels = phantom_pixels(40, 32, seed=seed).astype(np.uint8)
    cv2.imwrite(str(path), pixels)
    return str(path)


def write_bad_is_dicom(path):
    """A DICOM whose NumberOfFrames (IS) is 'abc' (pydicom raises on reading it)."""
    write_dicom(path, phantom_pixels(16, 16, max_value=4095), bits_stored=12)
    data = path.read_bytes()
    element = struct.pack('<HH', 0x0028, 0x0008) + b'IS' + struct.pack('<H', 4) + b'abc '
    anchor = data.index(struct.pack('<HH', 0x0028, 0x0010))
    path.write_bytes(data[:anchor] + element + data[anchor:])
    return str(path)


def failing_writes(fail_on):
    """Patch the temporary-file writer: a path ending with a key of ``fail_on`` raises
    ``OSError(fail_on[key])`` (ENOSPC, EROFS...) as a full or read-only disk would."""
    real = safe_write._write_temp

    def write(path, data):
        for suffix, code in fail_on.items():
            if path.endswith(suffix):
                raise OSError(code, os.strerror(code), path)
        return real(path, data)
    return mock.patch.object(safe_write, '_write_temp', write)


def check_disk_matches_summary(out):
    """The summary lists every output on disk and nothing else; returns its items."""
    with open(osp.join(out, 'summary.json')) as f:
        summary = json.load(f)
    listed = set(RUN_FILES)
    for item in summary['items']:
        if item['status'] == 'ok':
            assert item['json'] and item['png'] and not item['reason']
            listed |= {osp.basename(item['json']), osp.basename(item['png'])}
        else:
            assert item['json'] is None and item['png'] is None and item['reason']
            assert '\n' not in item['reason'] and ' at 0x' not in item['reason']
    assert set(os.listdir(out)) == listed
    assert summary['num_inputs'] == len(summary['items'])
    return summary['items']


# ------------------------------------------------------------------ regression tests
def test_malformed_dicom_header_does_not_stop_the_run(inferencer, tmp_path):
    inputs = [write_good(tmp_path / 'a.png'), write_bad_is_dicom(tmp_path / 'b.dcm'),
              write_good(tmp_path / 'c.png', seed=1)]
    out = str(tmp_path / 'out')
    result = inferencer(inputs, out_dir=out, on_error='skip', batch_size=2)
    assert [f['input'] for f in result['failures']] == [inputs[1]]
    assert 'malformed DICOM header value' in result['failures'][0]['reason']
    items = check_disk_matches_summary(out)
    assert {i['input']: i['status'] for i in items} == {
        inputs[0]: 'ok', inputs[1]: 'failed', inputs[2]: 'ok'}


def test_any_exception_of_one_input_is_its_own_one_line_failure(inferencer, tmp_path):
    inputs = [write_good(tmp_path / f'{n}.png', seed=i) for i, n in enumerate('abc')]
    real = type(inferencer).process_result

    def finish(self, item, *args, **kwargs):
        if item.name.endswith('b.png'):
            raise TypeError(f'weird value <object at 0x7f3a12345678>\nsecond line')
        return real(self, item, *args, **kwargs)
    with mock.patch.object(type(inferencer), 'process_result', finish):
        result = inferencer(inputs, out_dir=str(tmp_path / 'out'), on_error='skip',
                            batch_size=3)
    assert result['failures'] == [{'input': inputs[1],
                                   'reason': 'TypeError: weird value <object> second line'}]
    assert len(result['predictions']) == 2
    check_disk_matches_summary(str(tmp_path / 'out'))


def test_batch_forward_failure_is_narrowed_to_the_input(inferencer, tmp_path):
    inputs = [write_good(tmp_path / f'{n}.png', seed=i) for i, n in enumerate('abc')]
    real = type(inferencer)._forward

    def forward(self, batch):
        if any(d['data_samples'].img_path.endswith('b.png') for d in batch):
            raise RuntimeError('model failed on b')
        return real(self, batch)
    with mock.patch.object(type(inferencer), '_forward', forward):
        result = inferencer(inputs, on_error='skip', batch_size=3)
    assert [f['input'] for f in result['failures']] == [inputs[1]]
    assert len(result['predictions']) == 2


@pytest.mark.parametrize('code, name', [(errno.ENOSPC, 'ENOSPC'), (errno.EROFS, 'EROFS')])
def test_full_or_read_only_disk_writes_all_or_nothing(inferencer, tmp_path, code, name):
    inputs = [write_good(tmp_path / f'{n}.png', seed=i) for i, n in enumerate('abc')]
    out = str(tmp_path / 'out')
    with failing_writes({'b.png': code}):
        result = inferencer(inputs, out_dir=out, on_error='skip', batch_size=2)
    reason = result['failures'][0]['reason']
    assert reason == f'{osp.join(out, "b.png")}: {name} ({os.strerror(code)})'
    assert not osp.exists(osp.join(out, 'b.json'))  # no JSON without its overlay
    items = check_disk_matches_summary(out)
    assert {i['input']: i['status'] for i in items} == {
        inputs[0]: 'ok', inputs[1]: 'failed', inputs[2]: 'ok'}


def test_summary_that_cannot_be_written_rolls_back_its_batch(inferencer, tmp_path):
    inputs = [write_good(tmp_path / f'{n}.png', seed=i) for i, n in enumerate('abcd')]
    out = str(tmp_path / 'out')
    calls = {'n': 0}
    real = safe_write._write_temp

    def write(path, data):
        if path.endswith('summary.json'):
            calls['n'] += 1
            if calls['n'] == 2:  # the second batch's summary: the disk is now full
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real(path, data)
    with mock.patch.object(safe_write, '_write_temp', write):
        with pytest.raises(OutputWriteError, match='summary.json: ENOSPC'):
            inferencer(inputs, out_dir=out, on_error='skip', batch_size=2)
    items = check_disk_matches_summary(out)
    assert [osp.basename(i['input']) for i in items] == ['a.png', 'b.png']


def test_infer_tool_reports_a_write_failure_as_a_sentence(random_ckpt, tmp_path, capsys):
    import importlib.util

    from apis_checkpoint import REPO, SYNTHETIC_CONFIG
    spec = importlib.util.spec_from_file_location(
        'infer_tool_fuzz', osp.join(REPO, 'tools', 'infer.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    image = write_good(tmp_path / 'a.png')
    out = str(tmp_path / 'out')
    with failing_writes({'summary.json': errno.EROFS}):
        code = tool.main([SYNTHETIC_CONFIG, random_ckpt, image, '--out-dir', out,
                          '--device', 'cpu', '--workers', '0'])
    err = capsys.readouterr().err
    assert code == 1 and 'Traceback' not in err
    assert 'summary.json: EROFS (Read-only file system)' in err
    # the per-input log appended as results arrive lists exactly the outputs on disk
    with open(osp.join(out, 'summary.csv'), encoding='utf-8') as f:
        logged = list(csv.DictReader(f))
    assert [row['input'] for row in logged] == [image]
    assert sorted(os.listdir(out)) == ['a.json', 'a.png', 'summary.csv']


# ------------------------------------------------------------------ property test
GOOD_PNG = cv2.imencode('.png', phantom_pixels(40, 32).astype(np.uint8))[1].tobytes()
GOOD_JPG = cv2.imencode('.jpg', phantom_pixels(36, 44).astype(np.uint8))[1].tobytes()


@st.composite
def input_case(draw):
    kind = draw(st.sampled_from(['png', 'jpg', 'mutated', 'bad_dicom', 'missing', 'folder',
                                 'text', 'strip']))
    data = GOOD_PNG if draw(st.booleans()) else GOOD_JPG
    if kind == 'mutated':
        data = bytearray(data)
        for _ in range(draw(st.integers(1, 3))):
            pos = draw(st.integers(0, len(data) - 1))
            if draw(st.booleans()):
                data[pos] ^= 1 << draw(st.integers(0, 7))
            else:
                del data[pos:]
                break
        data = bytes(data)
    fail = draw(st.sampled_from([None, None, None, ('json', errno.ENOSPC),
                                 ('png', errno.EROFS)]))
    return kind, data, fail


def _make_input(folder, index, kind, data):
    path = osp.join(folder, f'in{index}.' + ('dcm' if kind == 'bad_dicom' else 'png'))
    if kind == 'bad_dicom':
        return write_bad_is_dicom(pathlib.Path(path))
    if kind == 'folder':
        os.makedirs(osp.join(folder, 'empty_dir'), exist_ok=True)
        return osp.join(folder, 'empty_dir', f'in{index}.png')  # a missing file in it
    if kind == 'strip':
        cv2.imwrite(path, np.zeros((2, 600), np.uint8))
        return path
    if kind != 'missing':
        with open(path, 'wb') as f:
            f.write(data if kind != 'text' else b'patient,finding\n')
    return path


# the session-scoped inferencer (no function-scoped fixture) serves every example
@fuzz_settings(12)
@given(cases=st.lists(input_case(), min_size=1, max_size=5), batch_size=st.integers(1, 3))
def test_fuzz_every_other_input_is_processed_and_summary_equals_disk(
        inferencer, cases, batch_size):
    with tempfile.TemporaryDirectory() as folder:
        inputs = [_make_input(folder, i, kind, data)
                  for i, (kind, data, _) in enumerate(cases)]
        fail_on = {f'in{i}.{fail[0]}': fail[1] for i, (_, _, fail) in enumerate(cases)
                   if fail is not None}
        out = osp.join(folder, 'out')
        with failing_writes(fail_on):
            result = inferencer(inputs, out_dir=out, on_error='skip', batch_size=batch_size)
        by_input = {i['input']: i for i in check_disk_matches_summary(out)}
        assert sorted(by_input) == sorted(inputs)  # every input listed once
        for (kind, _, fail), path in zip(cases, inputs):
            item = by_input[path]
            if kind in ('png', 'jpg'):
                assert (item['status'] == 'ok') == (fail is None), item
            if kind in ('missing', 'folder', 'text', 'bad_dicom', 'strip'):
                assert item['status'] == 'failed'
        assert len(result['predictions']) == sum(i['status'] == 'ok'
                                                 for i in by_input.values())

