"""imagenome_to_coco on the phantom set: round trip, defects, and the two split sources
(the training set is the one the chosen split file defines). The expected values are
recomputed here from the phantom's files with the documented rules, written independently
of the converter."""
import csv
import gzip
import importlib.util
import json
import os.path as osp

import cv2
import pytest

from mmadpd.anatomy import PATHOLOGIES, REGIONS
from mmadpd.datasets import synthetic
from mmadpd.datasets.converters.imagenome import convert_imagenome

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'dataset_converters', 'imagenome_to_coco.py')

# phantom defect -> (level, converter reason)
DEFECT_REASON = {
    'negative_coords': ('region', 'region_clamped'),
    'out_of_image_coords': ('region', 'region_clamped'),
    'zero_area_box': ('region', 'region_empty'),
    'duplicate_bbox_name': ('region', 'region_duplicate'),
    'few_regions': ('image', 'too_few_regions'),
    'lateral_view': ('image', 'non_frontal_view'),
    'missing_image': ('image', 'missing_image'),
    'truncated_jpeg': ('image', 'corrupt_image'),
    'missing_key': ('image', 'scene_graph_missing_key'),
    'missing_scene_graph': ('image', 'missing_scene_graph'),
}
#: MIMIC-CXR split value -> output split
MIMIC_SPLITS = {'train': 'train', 'validate': 'val', 'test': 'test'}


class Phantom:
    def __init__(self, root):
        self.root = root
        self.silver = osp.join(root, 'chest-imagenome', 'silver_dataset')
        self.graphs = osp.join(self.silver, 'scene_graph')
        self.splits = osp.join(self.silver, 'splits')
        self.mimic = osp.join(root, 'mimic-cxr-jpg')
        self.metadata = osp.join(self.mimic, 'mimic-cxr-2.0.0-metadata.csv')
        with open(osp.join(root, 'chest-imagenome', 'phantom_defects.json')) as f:
            self.defects = json.load(f)

    def convert(self, out, **kw):
        kw.setdefault('log', lambda s: None)
        kw.setdefault('progress', False)
        scene_graphs = kw.pop('scene_graphs', self.graphs)
        return convert_imagenome(scene_graphs, self.splits, self.mimic, self.metadata,
                                 str(out), **kw)


@pytest.fixture(scope='module')
def phantom(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('phantom'))
    synthetic.generate_dataset(root, seed=3, num_train=40, num_val=10, num_test=10,
                               num_cxr8=4, size=128, defect_rate=0.25)
    return Phantom(root)


@pytest.fixture(scope='module')
def converted(phantom, tmp_path_factory):
    out = tmp_path_factory.mktemp('ig')
    summary = phantom.convert(out)
    return out, summary


def expected_regions(graph, width, height):
    """Independent implementation of the documented box and label rules."""
    boxes = {}
    for o in graph['objects']:
        if o['bbox_name'] not in REGIONS:
            continue
        x1 = min(max(o['original_x1'], 0), width)
        x2 = min(max(o['original_x2'], 0), width)
        y1 = min(max(o['original_y1'], 0), height)
        y2 = min(max(o['original_y2'], 0), height)
        if x2 > x1 and y2 > y1:
            boxes.setdefault(o['bbox_name'], []).append((x1, y1, x2, y2))
    union = {n: (min(b[0] for b in bs), min(b[1] for b in bs), max(b[2] for b in bs),
                 max(b[3] for b in bs)) for n, bs in boxes.items()}
    labels = {}
    for entry in graph['attributes']:
        if entry['bbox_name'] not in REGIONS:
            continue
        for phrase in entry['attributes']:
            for text in phrase:
                cat, yes, cls = text.split('|')
                if cat in ('anatomicalfinding', 'disease') and yes == 'yes' \
                        and cls in PATHOLOGIES:
                    labels.setdefault(entry['bbox_name'], set()).add(cls)
    return union, labels


def split_rows(phantom, source='mimic'):
    """{dicom_id: (output split, row)} as the chosen split file lists them."""
    rows = {}
    if source == 'mimic':
        with gzip.open(osp.join(phantom.mimic, 'mimic-cxr-2.0.0-split.csv.gz'), 'rt') as f:
            for row in csv.DictReader(f):
                rows[row['dicom_id']] = (MIMIC_SPLITS[row['split']], row)
        return rows
    for name, split in (('train.csv', 'train'), ('valid.csv', 'val'), ('test.csv', 'test')):
        with open(osp.join(phantom.splits, name)) as f:
            for row in csv.DictReader(f):
                rows[row['dicom_id']] = (split, row)
    return rows


def gold_ids(phantom):
    with open(osp.join(phantom.splits, 'images_to_avoid.csv')) as f:
        return {r['dicom_id'] for r in csv.DictReader(f)}


def output_ids(out):
    ids = {}
    for split in ('train', 'val', 'test'):
        with open(osp.join(out, f'imagenome_{split}.json')) as f:
            ids[split] = [im['dicom_id'] for im in json.load(f)['images']]
    return ids


@pytest.mark.parametrize('source', ['mimic', 'imagenome'])
def test_split_source_gives_the_training_set_its_file_defines(phantom, converted, source,
                                                              tmp_path):
    """Each split source keeps, per split, exactly the rows of its own file that are
    neither gold nor defective images, in file order."""
    out, _ = converted  # the default: mimic
    if source == 'imagenome':
        phantom.convert(tmp_path, split_source='imagenome')
        out = tmp_path
    image_defects = {d for d, kind in phantom.defects.items()
                     if DEFECT_REASON[kind][0] == 'image'}
    dropped = gold_ids(phantom) | image_defects
    expected = {s: [] for s in ('train', 'val', 'test')}
    for dicom, (split, _) in split_rows(phantom, source).items():
        if dicom not in dropped:
            expected[split].append(dicom)
    assert output_ids(out) == expected
    assert len(expected['train']) > 20


def test_split_sources_differ_as_their_files_do(phantom, converted, tmp_path):
    out, summary = converted
    phantom.convert(tmp_path, split_source='imagenome')
    mimic, imagenome = output_ids(out), output_ids(tmp_path)
    assert len(mimic['train']) > len(imagenome['train'])  # ~97 % vs ~70 % train
    moved = set(mimic['train']) - set(imagenome['train'])
    assert moved and moved <= set(imagenome['val']) | set(imagenome['test'])
    assert set(mimic['val'] + mimic['test']) != set(imagenome['val'] + imagenome['test'])
    with open(tmp_path / 'imagenome_train.json') as f:
        info = json.load(f)['info']
    assert info['split_source'] == 'imagenome' and info['image_labels'] == 'regions'


def test_round_trip_boxes_and_labels(phantom, converted):
    out, summary = converted
    rows = split_rows(phantom)
    kept = 0
    for split in ('train', 'val', 'test'):
        with open(out / f'imagenome_{split}.json') as f:
            coco = json.load(f)
        assert [c['name'] for c in coco['categories']] == list(REGIONS)
        assert coco['pathologies'] == list(PATHOLOGIES)
        anns = {}
        for a in coco['annotations']:
            anns.setdefault(a['image_id'], []).append(a)
        for im in coco['images']:
            kept += 1
            assert rows[im['dicom_id']][0] == split
            img = cv2.imread(osp.join(phantom.mimic, im['file_name']), cv2.IMREAD_UNCHANGED)
            assert img.shape[:2] == (im['height'], im['width'])
            with open(osp.join(phantom.graphs, f'{im["dicom_id"]}_SceneGraph.json')) as f:
                graph = json.load(f)
            boxes, labels = expected_regions(graph, im['width'], im['height'])
            got = {REGIONS[a['category_id'] - 1]: a for a in anns.get(im['id'], [])}
            assert set(got) == set(boxes) and len(got) >= 5
            for name, a in got.items():
                x, y, w, h = a['bbox']
                assert (x, y, x + w, y + h) == pytest.approx(boxes[name], abs=1e-3)
                pos = {PATHOLOGIES[i] for i, v in enumerate(a['pathology_labels']) if v}
                assert pos == labels.get(name, set())
            image_pos = {PATHOLOGIES[i] for i, v in enumerate(im['pathology_labels']) if v}
            assert image_pos == set().union(set(), *labels.values())
    # every split row is either kept or skipped, exactly once
    n_skipped = sum(v['count'] for v in summary['skipped'].values())
    assert kept + n_skipped == len(rows) == summary['total']
    assert kept > 30


def test_every_defect_is_counted_under_its_reason(phantom, converted):
    out, summary = converted
    with open(out / 'imagenome_skipped.json') as f:
        on_disk = json.load(f)
    assert on_disk['skipped'] == json.loads(json.dumps(summary['skipped']))
    gold = set(on_disk['skipped']['gold_image']['ids'])
    assert len(gold) >= 1
    assert set(DEFECT_REASON) <= set(phantom.defects.values())
    for dicom, defect in phantom.defects.items():
        level, reason = DEFECT_REASON[defect]
        if dicom in gold:
            continue  # gold images are excluded before anything else is looked at
        if level == 'image':
            assert dicom in on_disk['skipped'][reason]['ids'], (dicom, defect)
        else:
            ids = on_disk['region_events'][reason]['ids']
            assert any(i.startswith(dicom + ':') for i in ids), (dicom, defect)
    # no clean image is skipped for anything but the gold list
    for reason, entry in on_disk['skipped'].items():
        if reason != 'gold_image':
            assert set(entry['ids']) <= set(phantom.defects), reason


def run_tool(argv):
    spec = importlib.util.spec_from_file_location('imagenome_to_coco_tool', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.main(argv)


def test_strict_cli_fails_naming_the_file(phantom, tmp_path, capsys):
    args = ['--scene-graphs', phantom.graphs, '--splits-dir', phantom.splits,
            '--images-root', phantom.mimic, '--metadata', phantom.metadata,
            '--out-dir', str(tmp_path), '--workers', '1', '--no-progress']
    assert run_tool(args + ['--strict']) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f'error: {phantom.root}') and '[--strict]' in err, err
    # the named file belongs to a defective image: gold images never stop --strict
    named = osp.basename(err.split(': ')[1])
    assert any(named.startswith(d) for d in phantom.defects), err
    assert run_tool(args[:1] + [str(tmp_path / 'nope')] + args[2:]) == 1
    assert 'not found' in capsys.readouterr().err


def test_zip_and_workers_give_identical_bytes(phantom, converted, tmp_path):
    out, _ = converted
    phantom.convert(tmp_path, scene_graphs=phantom.graphs + '.zip', workers=2)
    for split in ('train', 'val', 'test'):
        name = f'imagenome_{split}.json'
        assert (out / name).read_bytes() == (tmp_path / name).read_bytes()
    assert osp.realpath(tmp_path / 'images') == osp.realpath(phantom.mimic)


def test_resize_cache_scales_boxes(phantom, converted, tmp_path):
    out, _ = converted
    phantom.convert(tmp_path, resize_short_side=48)
    with open(out / 'imagenome_train.json') as f:
        full = json.load(f)
    with open(tmp_path / 'imagenome_train.json') as f:
        small = json.load(f)
    assert len(full['images']) == len(small['images'])
    for a, b in zip(full['images'], small['images']):
        assert min(b['width'], b['height']) == 48
        img = cv2.imread(str(tmp_path / 'images' / b['file_name']), cv2.IMREAD_UNCHANGED)
        assert img.ndim == 2 and img.shape == (b['height'], b['width'])
    sx = {b['id']: (b['width'] / a['width'], b['height'] / a['height'])
          for a, b in zip(full['images'], small['images'])}
    for a, b in zip(full['annotations'], small['annotations']):
        fx, fy = sx[a['image_id']]
        assert b['bbox'] == pytest.approx([a['bbox'][0] * fx, a['bbox'][1] * fy,
                                           a['bbox'][2] * fx, a['bbox'][3] * fy], abs=2e-3)
        assert b['pathology_labels'] == a['pathology_labels']
