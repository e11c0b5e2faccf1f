"""Property tests of imagenome_to_coco: valid phantom scene graphs and split CSVs, mutated
at random (values replaced by any JSON value, keys deleted, bytes cut or garbled, fields
dropped, rows duplicated or invented). Whatever the input, the tool returns an exit status
without raising, every record read is kept or skipped under one reason, and it exits 0
exactly when it kept an image. Budget: ``tests/fuzz_settings.py`` (``make fuzz`` x10)."""
import contextlib
import gzip
import io
import json
import os
import os.path as osp
import shutil
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_settings import fuzz_settings
from imagenome_cases import assert_accounted, make_small_phantom, read_report, run_tool

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10 ** 30, 10 ** 30) | st.floats()
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=6)


@pytest.fixture(scope='module')
def clean(tmp_path_factory):
    return make_small_phantom(tmp_path_factory.mktemp('fuzz'))


def _walk(data, node):
    """A random container inside ``node`` and one of its keys (or None if it is empty)."""
    parent, key = None, None
    while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        parent, key = node, keys[data.draw(st.integers(0, len(keys) - 1))]
        node = node[key]
    return parent, key


def _mutate_graph(data, path):
    """One random mutation of the scene graph file at ``path``."""
    raw = open(path, 'rb').read()
    try:
        graph = json.loads(raw)
    except ValueError:  # cut or garbled by an earlier mutation
        graph = None
    kind = data.draw(st.sampled_from(['replace', 'delete', 'cut', 'garble']))
    if kind in ('cut', 'garble') or graph is None:
        at = data.draw(st.integers(0, len(raw)))
        tail = data.draw(st.binary(max_size=8)) if kind == 'garble' else b''
        open(path, 'wb').write(raw[:at] + tail)
        return
    parent, key = _walk(data, graph)
    if parent is None:
        graph = data.draw(JSON_VALUES)
    elif kind == 'delete':
        del parent[key]
    else:
        parent[key] = data.draw(JSON_VALUES)
    with open(path, 'w') as f:
        json.dump(graph, f)  # NaN and Infinity are written as their JSON literals


def _mutate_csv_lines(data, lines):
    """One random mutation of a CSV's lines (the header included)."""
    at = data.draw(st.integers(0, len(lines) - 1))
    kind = data.draw(st.sampled_from(['drop_field', 'duplicate', 'replace_field',
                                      'insert', 'delete']))
    fields = lines[at].split(',')
    if kind == 'drop_field':
        del fields[data.draw(st.integers(0, len(fields) - 1))]
        lines[at] = ','.join(fields)
    elif kind == 'replace_field':
        fields[data.draw(st.integers(0, len(fields) - 1))] = data.draw(
            st.text(alphabet=st.characters(blacklist_categories=['Cs']), max_size=12))
        lines[at] = ','.join(fields)
    elif kind == 'duplicate':
        lines.insert(at, lines[at])
    elif kind == 'insert':
        lines.insert(at, data.draw(st.text(max_size=30)).replace('\x00', ''))
    else:
        del lines[at]
    return lines


def _copy_inputs(clean, work):
    """Writable copies of the scene graphs and both splits (images and metadata shared)."""
    graphs = shutil.copytree(clean.graphs, osp.join(work, 'scene_graph'))
    splits = shutil.copytree(clean.splits, osp.join(work, 'splits'))
    mimic_split = shutil.copy(clean.mimic_split, osp.join(work, 'split.csv.gz'))
    return graphs, splits, mimic_split


def _check_run(clean, graphs, splits, mimic_split, out, source):
    """Run the tool on the (mutated) inputs and check the three properties."""
    argv = ['--scene-graphs', graphs, '--splits-dir', splits, '--mimic-split', mimic_split,
            '--images-root', clean.mimic, '--metadata', clean.metadata, '--out-dir', out,
            '--split-source', source, '--workers', '1', '--no-progress']
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = run_tool(argv)  # raising here fails the property
    assert rc in (0, 1), err.getvalue()
    report = read_report(out)
    if report is not None:
        assert_accounted(report)
    kept = report is not None and sum(report['kept'].values()) > 0
    assert (rc == 0) == kept, (rc, err.getvalue())
    if rc:  # one line: str.splitlines() would also split at control characters
        lines = err.getvalue().strip().split('\n')
        assert len(lines) == 1 and lines[0].startswith('error: '), lines


@fuzz_settings(25)
@given(data=st.data(), source=st.sampled_from(['mimic', 'imagenome']))
def test_mutated_scene_graphs(clean, data, source):
    with tempfile.TemporaryDirectory() as work:
        graphs, splits, mimic_split = _copy_inputs(clean, work)
        names = sorted(os.listdir(graphs))
        for _ in range(data.draw(st.integers(1, 3))):
            _mutate_graph(data, osp.join(graphs, data.draw(st.sampled_from(names))))
        _check_run(clean, graphs, splits, mimic_split, osp.join(work, 'out'), source)


@fuzz_settings(25)
@given(data=st.data(), source=st.sampled_from(['mimic', 'imagenome']))
def test_mutated_split_csvs(clean, data, source):
    with tempfile.TemporaryDirectory() as work:
        graphs, splits, mimic_split = _copy_inputs(clean, work)
        if source == 'mimic':
            with gzip.open(mimic_split, 'rt', newline='') as f:
                lines = f.read().splitlines()
        else:
            path = osp.join(splits, data.draw(st.sampled_from(['train.csv', 'valid.csv',
                                                                'test.csv'])))
            lines = open(path, newline='').read().splitlines()
        for _ in range(data.draw(st.integers(1, 4))):
            lines = _mutate_csv_lines(data, lines) or ['']
        text = '\n'.join(lines) + '\n'
        if source == 'mimic':
            raw = gzip.compress(text.encode())
            cut = data.draw(st.one_of(st.none(), st.integers(0, len(raw))))
            open(mimic_split, 'wb').write(raw if cut is None else raw[:cut])
        else:
            open(path, 'w', newline='').write(text)
        _check_run(clean, graphs, splits, mimic_split, osp.join(work, 'out'), source)
