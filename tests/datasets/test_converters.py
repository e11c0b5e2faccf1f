"""Unit tests of the converter building blocks: scene-graph rules, file headers, split,
skip book-keeping (hand-built fixtures; no phantom set needed)."""
import json

import cv2
import numpy as np
import pytest

from mmadpd.anatomy import PATHOLOGIES, REGIONS
from mmadpd.datasets.converters import image_cache, io_utils, scene_graph, split
from mmadpd.datasets.converters.skips import SkipReport, StrictModeError


def obj(name, x1, y1, x2, y2):
    return dict(bbox_name=name, original_x1=x1, original_y1=y1, original_x2=x2,
                original_y2=y2, x1=0, y1=0, x2=1, y2=1)


def test_region_boxes_clamp_drop_union_and_ignore_unknown():
    objects = [
        obj('right lung', -10, 5, 50, 60),           # clamped at x
        obj('left lung', 60, 5, 120, 130),            # clamped at x2 and y2
        obj('trachea', 40, 40, 40, 80),               # zero width -> dropped
        obj('spine', 10, 10, 20, 20),
        obj('spine', 15, 5, 30, 18),                  # duplicate -> union
        obj('left cardiac silhouette', 1, 1, 5, 5),   # not an ADPD region
        obj('abdomen', 200, 200, 300, 300),           # entirely outside -> dropped
    ]
    boxes, events = scene_graph.region_boxes(objects, width=100, height=120)
    idx = {n: REGIONS.index(n) for n in ('right lung', 'left lung', 'spine')}
    assert set(boxes) == set(idx.values())
    assert boxes[idx['right lung']] == [0, 5, 50, 60]
    assert boxes[idx['left lung']] == [60, 5, 100, 120]
    assert boxes[idx['spine']] == [10, 5, 30, 20]
    assert ('region_empty', 'trachea') in events
    assert ('region_empty', 'abdomen') in events
    assert ('region_clamped', 'right lung') in events
    assert ('region_clamped', 'left lung') in events
    assert ('region_duplicate', 'spine') in events
    assert not any(name == 'left cardiac silhouette' for _, name in events)


def test_region_boxes_missing_coordinate_raises_key_error():
    bad = obj('right lung', 1, 2, 3, 4)
    del bad['original_y2']
    with pytest.raises(scene_graph.SceneGraphKeyError, match='original_y2'):
        scene_graph.region_boxes([bad], 100, 100)


def test_region_labels_only_positive_categories_and_known_classes():
    attributes = [
        dict(bbox_name='right lung', attributes=[
            ['anatomicalfinding|yes|lung opacity', 'nlp|yes|abnormal'],
            ['disease|yes|pneumonia', 'anatomicalfinding|no|atelectasis'],
            ['technicalassessment|yes|low lung volumes'],
            ['anatomicalfinding|yes|not a class']]),
        dict(bbox_name='left lung', attributes=[['anatomicalfinding|no|pleural effusion']]),
        dict(bbox_name='left chest wall', attributes=[['anatomicalfinding|yes|rib fracture']]),
        dict(bbox_name='cardiac silhouette',
             attributes=['anatomicalfinding|yes|enlarged cardiac silhouette']),  # flat list
    ]
    labels = scene_graph.region_labels(attributes)
    rl, cs = REGIONS.index('right lung'), REGIONS.index('cardiac silhouette')
    assert set(labels) == {rl, cs}
    assert labels[rl] == {PATHOLOGIES.index('lung opacity'), PATHOLOGIES.index('pneumonia')}
    assert labels[cs] == {PATHOLOGIES.index('enlarged cardiac silhouette')}
    hot = scene_graph.multi_hot(labels[rl])
    assert len(hot) == 53 and sum(hot) == 2 and hot[PATHOLOGIES.index('pneumonia')] == 1


def test_check_keys_names_the_missing_key():
    graph = dict(image_id='x', objects=[], attributes=[])
    scene_graph.check_keys(graph)
    del graph['objects']
    with pytest.raises(scene_graph.SceneGraphKeyError, match="'objects'"):
        scene_graph.check_keys(graph)


def test_jpeg_info_size_and_truncation(tmp_path):
    img = (np.arange(60 * 90) % 251).astype(np.uint8).reshape(60, 90)
    path = str(tmp_path / 'a.jpg')
    cv2.imwrite(path, img)
    assert io_utils.jpeg_info(path) == (90, 60)
    assert io_utils.image_size(path) == (90, 60)
    data = open(path, 'rb').read()
    cut = tmp_path / 'cut.jpg'
    cut.write_bytes(data[:int(len(data) * 0.6)])
    with pytest.raises(ValueError, match='truncated'):
        io_utils.jpeg_info(str(cut))
    (tmp_path / 'x.jpg').write_bytes(b'not a jpeg at all')
    with pytest.raises(ValueError, match='not a JPEG'):
        io_utils.jpeg_info(str(tmp_path / 'x.jpg'))


def test_png_size(tmp_path):
    path = str(tmp_path / 'a.png')
    cv2.imwrite(path, np.zeros((33, 47), np.uint16))
    assert io_utils.png_size(path) == (47, 33)


def test_open_text_reads_gzip_and_plain(tmp_path):
    import gzip
    (tmp_path / 'a.csv').write_text('a,b\n1,2\n')
    with gzip.open(tmp_path / 'b.csv.gz', 'wt') as f:
        f.write('a,b\n1,2\n')
    for name in ('a.csv', 'b.csv.gz'):
        with io_utils.open_text(str(tmp_path / name)) as f:
            assert f.read() == 'a,b\n1,2\n'
    with pytest.raises(FileNotFoundError, match='nope.csv'):
        io_utils.open_text(str(tmp_path / 'nope.csv'))


def test_write_json_is_deterministic(tmp_path):
    obj_ = {'b': [1, 2.5], 'a': 'x'}
    io_utils.write_json(str(tmp_path / '1.json'), obj_)
    io_utils.write_json(str(tmp_path / '2.json'), json.loads(json.dumps(obj_)))
    assert (tmp_path / '1.json').read_bytes() == (tmp_path / '2.json').read_bytes()


def test_cached_size_short_side_and_no_upscale():
    assert image_cache.cached_size(2000, 3000, 256) == (256, 384)
    assert image_cache.cached_size(3000, 2000, 256) == (384, 256)
    assert image_cache.cached_size(200, 300, 256) == (200, 300)


def test_write_cached_image(tmp_path):
    src = str(tmp_path / 'src.jpg')
    cv2.imwrite(src, np.full((400, 300, 3), 120, np.uint8))
    dst = str(tmp_path / 'c' / 'dst.jpg')
    assert image_cache.write_cached_image(src, dst, 300, 400, 100) == (100, 133)
    out = cv2.imread(dst, cv2.IMREAD_UNCHANGED)
    assert out.shape == (133, 100) and abs(int(out.mean()) - 120) <= 2


def test_split_is_patient_disjoint_balanced_and_seeded():
    rng = np.random.default_rng(0)
    image_patients, image_boxes = {}, {}
    for i in range(300):
        image = f'{i:05d}.png'
        image_patients[image] = str(rng.integers(0, 120))
        image_boxes[image] = int(rng.integers(1, 4))
    a = split.split_images(image_patients, image_boxes, seed=0)
    split.check_patient_disjoint(image_patients, a)
    totals = {s: sum(image_boxes[i] for i in a if a[i] == s) for s in split.SPLITS}
    per_patient = {}
    for image, patient in image_patients.items():
        per_patient[patient] = per_patient.get(patient, 0) + image_boxes[image]
    assert abs(totals['val'] - totals['test']) <= max(per_patient.values())
    # insertion order does not matter, the seed does
    shuffled = dict(reversed(list(image_patients.items())))
    assert split.split_images(shuffled, image_boxes, seed=0) == a
    assert split.split_images(image_patients, image_boxes, seed=1) != a


def test_check_patient_disjoint_detects_leak():
    with pytest.raises(ValueError, match='patient 7'):
        split.check_patient_disjoint({'a': '7', 'b': '7'}, {'a': 'val', 'b': 'test'})


def test_skip_report_counts_ids_and_strict():
    report = SkipReport({'r1': 'first', 'r2': 'second'})
    report.add('r1', 'x')
    report.add('r1', 'y')
    report.add('other', 'z')
    d = report.to_dict()
    assert d['r1']['count'] == 2 and d['r1']['ids'] == ['x', 'y']
    assert d['r2']['count'] == 0 and d['other']['ids'] == ['z']
    assert report.total == 3 and 'r2' in report.table('t')
    strict = SkipReport({'r1': 'first'}, strict=True)
    with pytest.raises(StrictModeError, match='/some/file.json'):
        strict.add('r1', 'x', '/some/file.json')
