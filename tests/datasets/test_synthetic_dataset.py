"""Phantom data set on disk: layout, schemas (FACTS.md section 7), defects, determinism."""
import csv
import gzip
import json
import os
import re
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pytest

from mmadpd.anatomy import (CXR8_CLASSES, CXR8_MAPPING, PATHOLOGIES, POSITIVE_CATEGORIES,
                            REGIONS, UNUSED_REGIONS)
from mmadpd.datasets.synthetic import DEFECTS, generate_dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARGS = dict(seed=3, num_train=30, num_val=6, num_test=6, num_cxr8=16, size=160,
            defect_rate=0.3)
TOP_KEYS = ['image_id', 'viewpoint', 'patient_id', 'study_id', 'gender', 'age_decile',
            'reason_for_exam', 'StudyOrder', 'StudyDateTime', 'objects', 'attributes',
            'relationships']
OBJ_KEYS = {'object_id', 'bbox_name', 'name', 'synsets', 'x1', 'y1', 'x2', 'y2', 'width',
            'height', 'original_x1', 'original_y1', 'original_x2', 'original_y2',
            'original_width', 'original_height'}
ATTR_KEYS = {'bbox_name', 'name', 'synsets', 'attributes', 'attributes_ids', 'phrases',
             'phrase_IDs', 'sections', 'comparison_cues', 'temporal_cues', 'severity_cues',
             'texture_cues', 'object_id'}


@pytest.fixture(scope='module')
def out(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('phantom_a'))
    summary = generate_dataset(root, workers=1, **ARGS)
    return root, summary


def _read_csv(path):
    with open(path, newline='') as f:
        return list(csv.reader(f))


def _read_mimic_split(mimic):
    """MIMIC-CXR-JPG's official split, gzip-compressed as the real file."""
    with gzip.open(os.path.join(mimic, 'mimic-cxr-2.0.0-split.csv.gz'), 'rt',
                   newline='') as f:
        return list(csv.reader(f))


def _tree(root):
    files = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, 'rb') as f:
                files[os.path.relpath(p, root)] = f.read()
    return files


def _defects(root):
    with open(os.path.join(root, 'chest-imagenome', 'phantom_defects.json')) as f:
        return json.load(f)


def test_mimic_tables_and_layout(out):
    root, summary = out
    mimic = os.path.join(root, 'mimic-cxr-jpg')
    meta = _read_csv(os.path.join(mimic, 'mimic-cxr-2.0.0-metadata.csv'))
    assert meta[0] == ['dicom_id', 'subject_id', 'study_id',
                       'PerformedProcedureStepDescription', 'ViewPosition', 'Rows', 'Columns',
                       'StudyDate', 'StudyTime', 'ProcedureCodeSequence_CodeMeaning',
                       'ViewCodeSequence_CodeMeaning',
                       'PatientOrientationCodeSequence_CodeMeaning']
    assert len(meta) - 1 == ARGS['num_train'] + ARGS['num_val'] + ARGS['num_test']
    split = _read_mimic_split(mimic)
    assert split[0] == ['dicom_id', 'study_id', 'subject_id', 'split']
    assert {r[3] for r in split[1:]} == {'train', 'validate', 'test'}
    assert [r[0] for r in split[1:]] == [r[0] for r in meta[1:]]
    defects = _defects(root)
    sizes = set()
    for row in meta[1:]:
        did, sub, study, _, view, rows, cols = row[:7]
        assert re.fullmatch(r'([0-9a-f]{8}-){4}[0-9a-f]{8}', did)
        assert re.fullmatch(r'1\d{7}', sub) and re.fullmatch(r'5\d{7}', study)
        assert view in ('PA', 'AP') or (view == 'LATERAL' and defects[did] == 'lateral_view')
        path = os.path.join(mimic, 'files', f'p{sub[:2]}', f'p{sub}', f's{study}', did + '.jpg')
        if defects.get(did) == 'missing_image':
            assert not os.path.exists(path)
            continue
        assert os.path.isfile(path), path
        if defects.get(did) == 'truncated_jpeg':
            with open(path, 'rb') as f:
                assert not f.read().endswith(b'\xff\xd9')  # JPEG end marker cut away
            continue
        img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        assert img.ndim == 2 and img.dtype == np.uint8
        assert img.shape == (int(rows), int(cols))
        assert int(rows) != int(cols)
        sizes.add(img.shape)
        assert max(img.shape) <= 1.1 * ARGS['size'] + 1
    assert len(sizes) > 5  # varied sizes


def test_silver_splits(out):
    root, _ = out
    splits = os.path.join(root, 'chest-imagenome', 'silver_dataset', 'splits')
    seen = {}
    for name in ('train', 'valid', 'test'):
        rows = _read_csv(os.path.join(splits, f'{name}.csv'))
        assert rows[0] == ['', 'subject_id', 'study_id', 'dicom_id', 'path', 'ViewPosition']
        assert [int(r[0]) for r in rows[1:]] == list(range(len(rows) - 1))
        for r in rows[1:]:
            assert r[4] == f'files/p{r[1][:2]}/p{r[1]}/s{r[2]}/{r[3]}.dcm'
            seen[r[3]] = (name, r[1])
    subjects = {}
    for name, sub in seen.values():
        subjects.setdefault(sub, set()).add(name)
    assert all(len(v) == 1 for v in subjects.values())  # patient-disjoint splits
    assert any(sum(1 for n, s in seen.values() if s == sub) > 1 for sub in subjects)
    avoid = _read_csv(os.path.join(splits, 'images_to_avoid.csv'))
    assert avoid[0] == ['subject_id', 'study_id', 'dicom_id', 'path', 'ViewPosition']
    assert len(avoid) > 1
    assert all(r[2] in seen for r in avoid[1:])
    assert any(seen[r[2]][0] == 'train' for r in avoid[1:])


def test_mimic_split_differs_from_the_imagenome_split_as_the_real_ones(out):
    """MIMIC-CXR's official split: patient-level, ~97 % train (FACTS.md section 7), drawn
    independently of Chest ImaGenome's ~70/10/20 one, so that most ImaGenome val/test
    images are MIMIC train images."""
    root, summary = out
    rows = _read_mimic_split(os.path.join(root, 'mimic-cxr-jpg'))[1:]
    splits = os.path.join(root, 'chest-imagenome', 'silver_dataset', 'splits')
    imagenome = {r[3]: name for name in ('train', 'valid', 'test')
                 for r in _read_csv(os.path.join(splits, f'{name}.csv'))[1:]}
    assert {r[0] for r in rows} == set(imagenome)
    per_patient = {}
    for dicom, _, subject, value in rows:
        per_patient.setdefault(subject, set()).add(value)
    assert all(len(v) == 1 for v in per_patient.values())
    counts = {v: sum(r[3] == v for r in rows) for v in ('train', 'validate', 'test')}
    assert counts == summary['mimic_official_split']
    assert counts['validate'] >= 1 and counts['test'] >= 1
    assert counts['train'] / len(rows) >= 0.9 > sum(v == 'train' for v in imagenome.values()) \
        / len(rows)
    mimic_train = {r[0] for r in rows if r[3] == 'train'}
    assert {d for d, v in imagenome.items() if v != 'train'} & mimic_train


def _yes_labels(entry):
    out = set()
    for phrase in entry['attributes']:
        for s in phrase:
            cat, polarity, label = s.split('|', 2)
            if polarity == 'yes' and cat in POSITIVE_CATEGORIES:
                out.add(label)
    return out


def test_scene_graphs(out):
    root, _ = out
    silver = os.path.join(root, 'chest-imagenome', 'silver_dataset')
    defects = _defects(root)
    names = sorted(os.listdir(os.path.join(silver, 'scene_graph')))
    with zipfile.ZipFile(os.path.join(silver, 'scene_graph.zip')) as zf:
        members = sorted(zf.namelist())
        assert members == [f'scene_graph/{n}' for n in names]
        for n in names:
            with open(os.path.join(silver, 'scene_graph', n), 'rb') as f:
                assert zf.read(f'scene_graph/{n}') == f.read()
    boxless, unused, positives, nlp = set(), set(), 0, set()
    for n in names:
        with open(os.path.join(silver, 'scene_graph', n)) as f:
            sg = json.load(f)
        did = n[:-len('_SceneGraph.json')]
        assert sg['image_id'] == did
        defect = defects.get(did)
        keys = [k for k in TOP_KEYS if not (defect == 'missing_key' and k == 'objects')]
        assert list(sg) == keys
        assert isinstance(sg['patient_id'], int) and isinstance(sg['study_id'], int)
        assert isinstance(sg['StudyOrder'], int) and isinstance(sg['StudyDateTime'], str)
        assert sg['viewpoint'] in (('LL',) if defect == 'lateral_view' else ('PA', 'AP'))
        for o in sg.get('objects', []):
            assert set(o) == OBJ_KEYS
            assert o['object_id'] == f'{did}_{o["bbox_name"]}'
            assert o['bbox_name'] in REGIONS or o['bbox_name'] in UNUSED_REGIONS
            assert all(isinstance(o[k], int) for k in OBJ_KEYS - {'object_id', 'bbox_name',
                                                                    'name', 'synsets'})
            assert o['width'] == o['x2'] - o['x1']
            assert o['original_width'] == o['original_x2'] - o['original_x1']
            if defect is None:
                assert 0 <= o['x1'] < o['x2'] <= 224 and 0 <= o['y1'] < o['y2'] <= 224
            unused.update({o['bbox_name']} & set(UNUSED_REGIONS))
        if defect is None:
            assert {o['bbox_name'] for o in sg['objects']} >= set(REGIONS)
        for a in sg['attributes']:
            assert ATTR_KEYS <= set(a)
            n_phr = len(a['attributes'])
            assert all(isinstance(p, list) for p in a['attributes'])
            for k in ('attributes_ids', 'phrases', 'phrase_IDs', 'sections',
                      'comparison_cues', 'temporal_cues', 'severity_cues', 'texture_cues'):
                assert len(a[k]) == n_phr, k
            for p in a['attributes']:
                for s in p:
                    assert re.fullmatch(r'[a-z]+\|(yes|no)\|.+', s), s
                    if s.startswith('nlp|'):
                        nlp.add(s)
            if a['bbox_name'] not in REGIONS and a['bbox_name'] not in UNUSED_REGIONS:
                boxless.add(a['bbox_name'])
            yes = _yes_labels(a)
            assert yes <= set(PATHOLOGIES)
            positives += bool(yes)
        assert isinstance(sg['relationships'], list)
    assert nlp == {'nlp|yes|normal', 'nlp|yes|abnormal'}
    assert boxless and unused and positives


def test_cxr8_files(out):
    root, summary = out
    cxr8 = os.path.join(root, 'cxr8')
    with open(os.path.join(cxr8, 'BBox_List_2017.csv')) as f:
        lines = f.read().splitlines()
    assert lines[0] == 'Image Index,Finding Label,Bbox [x,y,w,h],,,'
    box_labels = {c if c != 'Infiltration' else 'Infiltrate' for c in CXR8_CLASSES}
    boxes = {}
    for line in lines[1:]:
        fields = line.split(',')
        assert len(fields) == 6
        name, label = fields[:2]
        assert re.fullmatch(r'\d{8}_\d{3}\.png', name) and label in box_labels
        x, y, w, h = map(float, fields[2:])
        assert w > 0 and h > 0 and x >= 0 and y >= 0
        assert x + w <= ARGS['size'] and y + h <= ARGS['size']
        assert label not in boxes.setdefault(name, {})  # one box per class and image
        boxes[name][label] = (x, y, w, h)
    entries = _read_csv(os.path.join(cxr8, 'Data_Entry_2017_v2020.csv'))
    with open(os.path.join(cxr8, 'Data_Entry_2017_v2020.csv')) as f:
        assert f.readline().rstrip('\n') == (
            'Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,'
            'View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]')
    assert len(entries) - 1 == ARGS['num_cxr8']
    patients = {}
    for row in entries[1:]:
        assert len(row) == 11
        name, findings = row[0], row[1]
        patients.setdefault(row[3], []).append(name)
        assert name.startswith(f'{int(row[3]):08d}_{int(row[2]):03d}')
        expected = sorted({('Infiltration' if k == 'Infiltrate' else k)
                           for k in boxes.get(name, {})}, key=CXR8_CLASSES.index)
        assert findings == ('|'.join(expected) or 'No Finding')
        img = cv2.imread(os.path.join(cxr8, 'images', name), cv2.IMREAD_UNCHANGED)
        assert img.shape == (ARGS['size'], ARGS['size']) and img.dtype == np.uint8
    assert any(len(v) > 1 for v in patients.values()) and len(patients) > 3
    with open(os.path.join(cxr8, 'phantom_truth.json')) as f:
        truth = json.load(f)
    assert truth['regions'] == list(REGIONS) and truth['pathologies'] == list(PATHOLOGIES)
    assert sorted(truth['images']) == sorted(r[0] for r in entries[1:])
    for name, t in truth['images'].items():
        assert t['width'] == t['height'] == ARGS['size']
        assert len(t['region_boxes']) == len(t['region_pathologies']) == 29
        for b in t['region_boxes']:
            assert b is None or (len(b) == 4 and 0 <= b[0] < b[2] <= t['width'])
        positives = {c for cs in t['region_pathologies'] for c in cs}
        assert positives <= set(PATHOLOGIES)
        for label, (x, y, w, h) in boxes.get(name, {}).items():
            cls = 'Infiltration' if label == 'Infiltrate' else label
            # some region is positive for a class mapped to the box's class, and its
            # region box overlaps the lesion box
            hits = [i for i, cs in enumerate(t['region_pathologies'])
                    if set(cs) & set(CXR8_MAPPING[cls])]
            assert hits, (name, cls)
            assert any(t['region_boxes'][i][0] < x + w and x < t['region_boxes'][i][2]
                       and t['region_boxes'][i][1] < y + h and y < t['region_boxes'][i][3]
                       for i in hits)


def test_defects_are_recorded_and_present(out):
    root, summary = out
    defects = _defects(root)
    assert set(defects.values()) == set(DEFECTS)  # 30 % of 42 images covers every kind
    silver = os.path.join(root, 'chest-imagenome', 'silver_dataset')
    meta = {r[0]: r for r in _read_csv(os.path.join(root, 'mimic-cxr-jpg',
                                                    'mimic-cxr-2.0.0-metadata.csv'))[1:]}
    for did, defect in defects.items():
        path = os.path.join(silver, 'scene_graph', f'{did}_SceneGraph.json')
        if defect == 'missing_scene_graph':
            assert not os.path.exists(path)
            continue
        with open(path) as f:
            sg = json.load(f)
        if defect == 'missing_key':
            assert 'objects' not in sg
            continue
        objs = [o for o in sg['objects'] if o['bbox_name'] in REGIONS]
        height, width = int(meta[did][5]), int(meta[did][6])
        names = [o['bbox_name'] for o in objs]
        if defect == 'negative_coords':
            assert any(o['original_x1'] < 0 or o['original_y1'] < 0 for o in objs)
        elif defect == 'out_of_image_coords':
            assert any(o['original_x2'] > width or o['original_y2'] > height for o in objs)
        elif defect == 'zero_area_box':
            assert any(o['original_width'] == 0 for o in objs)
        elif defect == 'duplicate_bbox_name':
            assert len(names) == len(set(names)) + 1
        elif defect == 'few_regions':
            assert len(set(names)) < 5
        elif defect == 'lateral_view':
            assert sg['viewpoint'] == 'LL' and meta[did][4] == 'LATERAL'


def test_same_bytes_for_any_worker_count_and_clean_set(out, tmp_path):
    root, _ = out
    other = str(tmp_path / 'b')
    generate_dataset(other, workers=2, **ARGS)
    a, b = _tree(root), _tree(other)
    assert sorted(a) == sorted(b)
    different = [k for k in a if a[k] != b[k]]
    assert not different, different[:5]
    # another seed changes the images; a zero defect rate gives a clean set
    clean = str(tmp_path / 'c')
    generate_dataset(clean, **dict(ARGS, seed=4, defect_rate=0.0, num_cxr8=2))
    assert _defects(clean) == {}
    c = _tree(clean)
    assert not set(c) & {k for k in a if k.endswith('.jpg')}


def test_refuses_to_overwrite_foreign_data(tmp_path):
    os.makedirs(tmp_path / 'mimic-cxr-jpg')
    (tmp_path / 'mimic-cxr-jpg' / 'real.txt').write_text('x')
    with pytest.raises(FileExistsError, match='refusing'):
        generate_dataset(str(tmp_path), num_train=1, num_val=0, num_test=0, num_cxr8=0,
                         size=96)
    assert (tmp_path / 'mimic-cxr-jpg' / 'real.txt').exists()


def test_cli_from_any_directory(tmp_path):
    script = os.path.join(REPO, 'tools', 'dataset_converters', 'make_synthetic_cxr.py')
    cmd = [sys.executable, script, str(tmp_path / 'o'), '--num-train', '3', '--num-val', '1',
           '--num-test', '1', '--num-cxr8', '2', '--size', '96', '--defect-rate', '0']
    res = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'wrote 5 MIMIC-style images' in res.stdout
    assert os.path.isfile(tmp_path / 'o' / 'cxr8' / 'BBox_List_2017.csv')
    assert os.path.isfile(tmp_path / 'o' / 'chest-imagenome' / 'silver_dataset' /
                          'scene_graph.zip')
