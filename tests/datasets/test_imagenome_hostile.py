"""imagenome_to_coco on hostile inputs: each defect is counted under its reason (or, for an
input that cannot be read as a whole, one ``error:`` line naming the file, exit 1, earlier
outputs intact), every record is accounted for, --strict stops at defects only, and a run
that keeps nothing exits non-zero. Each case failed before the fix it guards."""
import gzip
import json
import os
import zipfile

import pytest

from imagenome_cases import (assert_accounted, copy_phantom, make_small_phantom,
                             output_files, read_report, run_tool, strict_json)
from mmadpd.anatomy import PATHOLOGIES


@pytest.fixture(scope='module')
def clean(tmp_path_factory):
    return make_small_phantom(tmp_path_factory.mktemp('clean'))


@pytest.fixture
def phantom(clean, tmp_path):
    return copy_phantom(clean, tmp_path / 'phantom')


def run_ok(phantom, out, *extra, **kw):
    assert run_tool(phantom.args(out, *extra, **kw)) == 0
    report = read_report(out)
    assert_accounted(report)
    return report


def one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: '), err
    assert 'Traceback' not in err[0]
    return err[0]


@pytest.mark.parametrize('literal', ['NaN', '"NaN"', 'true', 'Infinity', '1e999', '"12,5"'])
def test_bad_coordinate_skips_only_that_image(phantom, tmp_path, literal):
    dicom = phantom.train_dicoms()[1]
    graph = phantom.load_graph(dicom)
    graph['objects'][0]['original_x2'] = '@@'
    with open(phantom.graph_path(dicom), 'w') as f:
        f.write(json.dumps(graph).replace('"@@"', literal))
    report = run_ok(phantom, tmp_path / 'out')
    assert report['skipped']['malformed_scene_graph']['ids'] == [dicom]
    train = strict_json(tmp_path / 'out' / 'imagenome_train.json')  # no NaN written
    assert dicom not in {im['dicom_id'] for im in train['images']}
    assert len(train['images']) == report['kept']['train'] > 5


@pytest.mark.parametrize('entry', ['objects', 'attributes'])
def test_bbox_name_that_is_a_list_is_malformed(phantom, tmp_path, entry):
    dicom = phantom.train_dicoms()[0]
    graph = phantom.load_graph(dicom)
    item = graph[entry][0]
    item['bbox_name'] = [item['bbox_name']]
    phantom.save_graph(dicom, graph)
    report = run_ok(phantom, tmp_path / 'out')
    assert report['skipped']['malformed_scene_graph']['ids'] == [dicom]


def test_zip_member_with_bad_crc_skips_that_image(phantom, tmp_path):
    dicom = phantom.train_dicoms()[2]
    zpath = str(tmp_path / 'stored.zip')
    with zipfile.ZipFile(zpath, 'w', zipfile.ZIP_STORED) as zf:
        for name in sorted(os.listdir(phantom.graphs)):
            zf.write(os.path.join(phantom.graphs, name), f'scene_graph/{name}')
    with zipfile.ZipFile(zpath) as zf:
        info = zf.getinfo(f'scene_graph/{dicom}_SceneGraph.json')
    data = bytearray(open(zpath, 'rb').read())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0x01  # one flipped bit: the CRC no longer fits
    open(zpath, 'wb').write(bytes(data))
    report = run_ok(phantom, tmp_path / 'out', scene_graphs=zpath)
    assert report['skipped']['unreadable_scene_graph']['ids'] == [dicom]


@pytest.mark.parametrize('source', ['mimic', 'imagenome'])
def test_split_row_with_too_few_fields_is_counted(phantom, tmp_path, source):
    if source == 'mimic':
        lines = phantom.mimic_split_lines()
        phantom.write_mimic_split_lines(lines + [lines[1].rsplit(',', 2)[0]])
    else:
        with open(os.path.join(phantom.splits, 'train.csv'), 'a') as f:
            f.write('99,10000001\n')
    report = run_ok(phantom, tmp_path / 'out', '--split-source', source)
    assert report['skipped']['malformed_split_row']['count'] == 1
    assert report['records']['split_rows'] == 15  # 14 images + the short row


def test_truncated_csv_gz_fails_naming_it_and_keeps_earlier_outputs(phantom, tmp_path,
                                                                    capsys):
    out = tmp_path / 'out'
    run_ok(phantom, out)
    before = output_files(out)
    data = open(phantom.mimic_split, 'rb').read()
    open(phantom.mimic_split, 'wb').write(data[:len(data) // 2])
    assert run_tool(phantom.args(out)) == 1
    err = one_error_line(capsys)
    assert phantom.mimic_split in err and 'truncated' in err
    assert output_files(out) == before


def test_truncated_scene_graph_zip_is_unreadable_not_missing(phantom, tmp_path, capsys):
    data = open(phantom.zip, 'rb').read()
    open(phantom.zip, 'wb').write(data[:len(data) // 2])
    assert run_tool(phantom.args(tmp_path / 'out', scene_graphs=phantom.zip)) == 1
    err = one_error_line(capsys)
    assert phantom.zip in err and 'not a readable zip' in err and 'not found' not in err


def test_strict_stops_at_defects_not_at_the_documented_filters(phantom, tmp_path, capsys):
    report = run_ok(phantom, tmp_path / 'a', '--strict')  # a gold image is excluded
    assert report['skipped']['gold_image']['count'] == 1
    # a frontal image without a scene graph: a filter of the mimic split (most MIMIC
    # images have none), a defect of ImaGenome's own split
    dicom = phantom.train_dicoms()[3]
    os.remove(phantom.graph_path(dicom))
    report = run_ok(phantom, tmp_path / 'b', '--strict')
    assert report['skipped']['missing_scene_graph']['ids'] == [dicom]
    capsys.readouterr()
    assert run_tool(phantom.args(tmp_path / 'c', '--strict', '--split-source',
                                 'imagenome')) == 2
    err = one_error_line(capsys)
    assert f'{dicom}_SceneGraph.json: missing_scene_graph' in err


def test_scene_graph_outside_the_split_is_counted(phantom, tmp_path):
    lines = phantom.mimic_split_lines()
    dropped = lines.pop(3).split(',')[0]
    phantom.write_mimic_split_lines(lines)
    report = run_ok(phantom, tmp_path / 'out', '--strict')
    assert report['skipped']['not_in_split']['ids'] == [dropped]
    assert report['records'] == {'split_rows': 13, 'scene_graphs_not_in_split': 1}


def test_run_that_keeps_nothing_exits_non_zero(phantom, tmp_path, capsys):
    out = tmp_path / 'out'
    run_ok(phantom, out)
    before = output_files(out)
    empty = tmp_path / 'no_images'
    empty.mkdir()
    argv = phantom.args(out)
    argv[argv.index('--images-root') + 1] = str(empty)
    assert run_tool(argv) == 1
    assert 'no image kept' in one_error_line(capsys)
    report = read_report(out)
    assert_accounted(report)
    assert report['skipped']['missing_image']['count'] == 13  # all but the gold image
    assert output_files(out) == before


def test_labels_outside_the_training_classes_are_counted(phantom, tmp_path):
    dicom = phantom.train_dicoms()[0]
    graph = phantom.load_graph(dicom)
    graph['attributes'].append({'bbox_name': 'left chest wall', 'attributes': [[
        'anatomicalfinding|yes|rib fracture', 'anatomicalfinding|yes|made-up finding']]})
    phantom.save_graph(dicom, graph)
    report = run_ok(phantom, tmp_path / 'regions')
    assert report['ignored_labels']['anatomicalfinding|made-up finding'] == 1
    assert report['labels_outside_regions'] == {'rib fracture': 1}
    run_ok(phantom, tmp_path / 'all', '--image-labels', 'all_attributes')
    fracture = PATHOLOGIES.index('rib fracture')
    for name, has in (('regions', 0), ('all', 1)):
        train = strict_json(tmp_path / name / 'imagenome_train.json')
        image = next(im for im in train['images'] if im['dicom_id'] == dicom)
        assert image['pathology_labels'][fracture] == has, name


def test_gzip_that_is_not_gzip_inside_fails_in_one_line(phantom, tmp_path, capsys):
    with gzip.open(phantom.mimic_split, 'rb') as f:
        text = f.read()
    open(phantom.mimic_split, 'wb').write(b'\x1f\x8b' + text[:40])
    assert run_tool(phantom.args(tmp_path / 'out')) == 1
    assert phantom.mimic_split in one_error_line(capsys)
