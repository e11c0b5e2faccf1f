"""Hostile box lists for cxr8_to_coco: regression tests for the classes of issue 21 and a
property test over mutated phantom CSVs (every row accounted for, no traceback, exit 0
exactly when something was kept)."""
import contextlib
import gzip
import importlib.util
import io
import json
import os.path as osp
import tempfile

from fuzz_settings import fuzz_settings
from hypothesis import given
from hypothesis import strategies as st

from mmadpd.anatomy import CXR8_CLASSES

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'dataset_converters', 'cxr8_to_coco.py')
BOX_HEADER = 'Image Index,Finding Label,Bbox [x,y,w,h],,,\n'
ENTRY_HEADER = 'Image Index,Finding Labels,Follow-up #,Patient ID,View Position\n'


def _load_tool():
    spec = importlib.util.spec_from_file_location('cxr8_to_coco_fuzz', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TOOL_MAIN = _load_tool().main


def run_tool(folder, box_bytes, entry_text=None, images=8):
    """Write the inputs, run the CLI in process; ``(exit code, stderr, out dir)``."""
    box = osp.join(folder, 'box.csv')
    entry = osp.join(folder, 'entry.csv')
    with open(box, 'wb') as f:
        f.write(box_bytes)
    if entry_text is None:
        entry_text = ENTRY_HEADER + ''.join(f'{i:08d}_000.png,x,0,{i},PA\n'
                                            for i in range(images))
    with open(entry, 'w') as f:
        f.write(entry_text)
    out = osp.join(folder, 'out')
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = TOOL_MAIN(['--bbox-csv', box, '--data-entry', entry, '--out-dir', out])
    return code, err.getvalue(), out


def valid_rows(n):
    return [f'{i:08d}_000.png,{CXR8_CLASSES[i % 8]},{10 + i},{20 + i},30,40\n'
            for i in range(n)]


def written_boxes(out):
    total = 0
    for split in ('val', 'test'):
        with open(osp.join(out, f'cxr8_{split}.json')) as f:
            total += len(json.load(f)['annotations'])
    return total


def account(out):
    with open(osp.join(out, 'cxr8_skipped.json')) as f:
        return json.load(f)['rows']


# ------------------------------------------------------------------ regression tests
def test_stray_quote_costs_one_row_not_the_rows_after_it(tmp_path):
    rows = valid_rows(8)
    rows[1] = '"00000001_000.png,Cardiomegaly,11,21,30,40\n'  # quote never closed
    code, err, out = run_tool(str(tmp_path), (BOX_HEADER + ''.join(rows)).encode())
    assert code == 0, err
    rows_ = account(out)
    assert rows_['rows_read'] == 8 and rows_['rows_kept'] == 7
    assert rows_['rows_skipped'] == {'malformed_row': 1}
    assert written_boxes(out) == 7


def test_every_row_malformed_exits_non_zero_with_the_skip_report(tmp_path):
    box = BOX_HEADER + ''.join(f'{i:08d}_000.png,Mass,a,b,c,d\n' for i in range(5))
    code, err, out = run_tool(str(tmp_path), box.encode())
    assert code == 1
    assert err.count('\n') == 1 and 'no box kept out of 5 rows' in err and 'box.csv' in err
    assert account(out) == {'rows_read': 5, 'rows_kept': 0,
                            'rows_skipped': {'malformed_row': 5}}
    assert not osp.exists(osp.join(out, 'cxr8_val.json'))


def test_skip_report_file_lists_reasons_and_reconciles(tmp_path):
    rows = valid_rows(6) + ['00000001_000.png,Cardiomegaly,1,1,5,5\n',  # duplicate class
                            '00000002_000.png,Hernia,1,1,5,5\n',         # unknown label
                            '00000099_000.png,Mass,1,1,5,5\n']           # no data entry
    code, err, out = run_tool(str(tmp_path), (BOX_HEADER + ''.join(rows)).encode())
    assert code == 0, err
    with open(osp.join(out, 'cxr8_skipped.json')) as f:
        report = json.load(f)
    assert report['skipped']['duplicate_class']['ids'] == ['00000001_000.png']
    assert report['skipped']['unknown_label']['count'] == 1
    assert report['skipped']['no_data_entry']['ids'] == ['00000099_000.png']
    assert report['rows'] == {'rows_read': 9, 'rows_kept': 5, 'rows_skipped': {
        'unknown_label': 1, 'duplicate_class': 2, 'no_data_entry': 1}}


def test_undecodable_bytes_in_one_row_skip_only_that_row(tmp_path):
    rows = [r.encode() for r in valid_rows(4)]
    rows[2] = b'00000002_000.png,Effusion\xff\x00,12,22,30,40\n'
    code, err, out = run_tool(str(tmp_path), BOX_HEADER.encode() + b''.join(rows))
    assert code == 0, err
    assert account(out)['rows_skipped'] == {'malformed_row': 1}
    assert written_boxes(out) == 3


def test_unbalanced_quote_in_the_header_is_named(tmp_path):
    # found by the fuzz harness (make fuzz, seed 12345): the message said "header None"
    box = 'Image Index,Finding Label,"\n' + ''.join(valid_rows(2))
    code, err, _ = run_tool(str(tmp_path), box.encode())
    assert code == 1 and 'header line: unparsable CSV line' in err and 'None' not in err


def test_truncated_gzip_is_one_line_naming_the_file(tmp_path):
    data = gzip.compress((BOX_HEADER + ''.join(valid_rows(400))).encode())
    code, err, _ = run_tool(str(tmp_path), data[:len(data) // 2])
    assert code == 1
    assert err.startswith('error: ') and err.count('\n') == 1
    assert 'box.csv' in err and 'truncated or corrupt gzip' in err and 'Traceback' not in err


# ------------------------------------------------------------------ property test
def _mutate(row: str, kind: str, value: str, pos: int) -> str:
    fields = row.rstrip('\n').split(',')
    if kind == 'replace_field':
        fields[pos % len(fields)] = value
    elif kind == 'drop_field':
        del fields[pos % len(fields)]
    elif kind == 'insert_text':
        text = ','.join(fields)
        cut = pos % (len(text) + 1)
        return text[:cut] + value + text[cut:] + '\n'
    elif kind == 'duplicate':
        return row + row
    elif kind == 'crlf':
        return ','.join(fields) + '\r\n'
    return ','.join(fields) + '\n'


MUTATION = st.tuples(
    st.sampled_from(['replace_field', 'drop_field', 'insert_text', 'duplicate', 'crlf']),
    st.one_of(st.sampled_from(['"', ',', '""', 'nan', 'NaN', 'inf', '-1e400', '1e400', '',
                               ' ', 'true', '[1]', 'null', '-5', '0', 'Infiltrate',
                               '\x00', '²', '\r', '\\']),
              st.text(max_size=6)),
    st.integers(0, 200))


@fuzz_settings(60)
@given(n_rows=st.integers(1, 12), mutations=st.lists(
    st.tuples(st.integers(0, 11), MUTATION), max_size=6), blank_lines=st.booleans())
def test_fuzz_every_row_accounted_for_and_no_traceback(n_rows, mutations, blank_lines):
    rows = valid_rows(n_rows)
    for index, (kind, value, pos) in mutations:
        if index < len(rows):
            rows[index] = _mutate(rows[index], kind, value, pos)
    body = ''.join(rows) + ('\n  \n' if blank_lines else '')
    data_lines = sum(1 for line in body.encode().split(b'\n') if line.strip())
    with tempfile.TemporaryDirectory() as folder:
        code, err, out = run_tool(folder, (BOX_HEADER + body).encode())
        assert 'Traceback' not in err
        assert code in (0, 1), err
        rows_ = account(out)
        assert rows_['rows_read'] == data_lines
        assert rows_['rows_read'] == rows_['rows_kept'] + sum(rows_['rows_skipped'].values())
        if code == 0:
            assert rows_['rows_kept'] == written_boxes(out) > 0
        else:
            assert rows_['rows_kept'] == 0 and err.startswith('error: ')
            assert err.count('\n') == 1


@fuzz_settings(20)
@given(header=st.lists(st.sampled_from(['Image Index', 'Finding Label', 'Bbox [x', 'y',
                                        'w', 'h]', '', '"']), max_size=7),
       entry_header=st.permutations(['Image Index', 'Finding Labels', 'Follow-up #',
                                     'Patient ID', 'View Position']))
def test_fuzz_shuffled_headers_exit_cleanly(header, entry_header):
    box = ','.join(header) + '\n' + ''.join(valid_rows(4))
    index = {name: i for i, name in enumerate(entry_header)}
    entry_rows = []
    for i in range(4):
        values = [''] * 5
        values[index['Image Index']] = f'{i:08d}_000.png'
        values[index['Patient ID']] = str(i)
        entry_rows.append(','.join(values) + '\n')
    with tempfile.TemporaryDirectory() as folder:
        code, err, out = run_tool(folder, box.encode(),
                                  ','.join(entry_header) + '\n' + ''.join(entry_rows))
        assert 'Traceback' not in err and code in (0, 1)
        if '"' in header and code == 1:  # found by `make fuzz`: a quote in the header
            assert 'not an NIH box list' in err
        elif [h.strip() for h in header[:2]] == ['Image Index', 'Finding Label']:
            assert code == 0, err  # entry columns are found by name in any order
            assert written_boxes(out) == 4
        else:
            assert 'not an NIH box list' in err


def test_jpeg_info_is_not_fooled_by_an_exif_thumbnail_end_marker(tmp_path):
    import struct

    import cv2
    import numpy as np
    import pytest

    from mmadpd.datasets.converters.io_utils import jpeg_info

    def encode(h, w):
        grad = np.tile(np.linspace(0, 255, w, dtype=np.uint8), (h, 1))
        return cv2.imencode('.jpg', grad)[1].tobytes()
    thumb = b'Exif\x00\x00' + encode(8, 8)
    image = encode(64, 48)
    sof = image.index(b'\xff\xc0')  # the thumbnail segment goes right before the frame
    data = image[:sof] + b'\xff\xe1' + struct.pack('>H', len(thumb) + 2) + thumb + image[sof:]
    path = tmp_path / 'x.jpg'
    path.write_bytes(data)
    assert jpeg_info(str(path)) == (48, 64)
    # cut after the frame header: the thumbnail's EOI is among the last 64 bytes
    path.write_bytes(data[:sof + 4 + len(thumb) + 30])
    with pytest.raises(ValueError, match='truncated'):
        jpeg_info(str(path))
