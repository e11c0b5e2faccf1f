"""ImaGenomeDataset / CXR8Dataset on small hand-written COCO files."""
import json

import pytest
from mmdet.registry import DATASETS

import mmadpd  # noqa: F401  (registers the datasets)
from mmadpd.anatomy import CXR8_CLASSES, PATHOLOGIES, REGIONS


def imagenome_json(path):
    hot = [0] * 53
    hot[PATHOLOGIES.index('pneumonia')] = 1
    coco = dict(
        images=[dict(id=1, file_name='files/p1/a.jpg', width=300, height=200, patient_id=7,
                     study_id=8, dicom_id='a', view='PA', pathology_labels=hot),
                dict(id=2, file_name='files/p1/b.jpg', width=100, height=100, patient_id=7,
                     study_id=9, dicom_id='b', view='AP', pathology_labels=[0] * 53)],
        annotations=[dict(id=1, image_id=1, category_id=1, bbox=[10, 20, 30, 40], area=1200,
                          iscrowd=0, pathology_labels=hot),
                     dict(id=2, image_id=1, category_id=29, bbox=[0, 0, 5, 5], area=25,
                          iscrowd=0, pathology_labels=[0] * 53),
                     dict(id=3, image_id=2, category_id=9, bbox=[1, 2, 3, 4], area=12,
                          iscrowd=0, pathology_labels=[0] * 53)],
        categories=[dict(id=i + 1, name=n) for i, n in enumerate(REGIONS)],
        pathologies=list(PATHOLOGIES))
    path.write_text(json.dumps(coco))
    return coco


def test_imagenome_dataset_instances_and_metainfo(tmp_path):
    imagenome_json(tmp_path / 'imagenome_train.json')
    ds = DATASETS.build(dict(type='ImaGenomeDataset', data_root=str(tmp_path),
                             ann_file='imagenome_train.json', data_prefix=dict(img='images/'),
                             pipeline=[]))
    assert len(ds) == 2
    assert ds.metainfo['classes'] == REGIONS and ds.metainfo['pathologies'] == PATHOLOGIES
    assert len(ds.metainfo['palette']) == 29
    info = ds.get_data_info(0)
    assert info['img_path'] == str(tmp_path / 'images' / 'files/p1/a.jpg')
    assert info['img_id'] == 1 and info['width'] == 300
    assert [i['bbox'] for i in info['instances']] == [[10, 20, 40, 60], [0, 0, 5, 5]]
    assert [i['bbox_label'] for i in info['instances']] == [0, 28]
    assert info['instances'][0]['pathology_labels'][PATHOLOGIES.index('pneumonia')] == 1
    assert sum(info['pathology_labels']) == 1
    assert [i['bbox_label'] for i in ds.get_data_info(1)['instances']] == [8]


def test_imagenome_dataset_rejects_wrong_categories(tmp_path):
    coco = imagenome_json(tmp_path / 'x.json')
    coco['categories'][0]['name'] = 'left lung'
    (tmp_path / 'x.json').write_text(json.dumps(coco))
    with pytest.raises(ValueError, match='x.json'):
        DATASETS.build(dict(type='ImaGenomeDataset', ann_file=str(tmp_path / 'x.json'),
                            pipeline=[]))


def test_imagenome_dataset_rejects_duplicate_image_ids(tmp_path):
    """Each image's annotations are handed to it once (and then freed): a repeated image
    id is an error naming the file, not a second image silently without regions."""
    coco = imagenome_json(tmp_path / 'x.json')
    coco['images'][1]['id'] = 1
    (tmp_path / 'x.json').write_text(json.dumps(coco))
    with pytest.raises(ValueError, match=r'x\.json.*duplicate image ids'):
        DATASETS.build(dict(type='ImaGenomeDataset', ann_file=str(tmp_path / 'x.json'),
                            pipeline=[]))


@pytest.mark.parametrize('kind,hint', [('ImaGenomeDataset', 'imagenome_to_coco.py'),
                                       ('CXR8Dataset', 'cxr8_to_coco.py')])
def test_missing_annotation_file_names_path_and_converter(tmp_path, kind, hint):
    with pytest.raises(FileNotFoundError) as exc:
        DATASETS.build(dict(type=kind, data_root=str(tmp_path), ann_file='gone.json',
                            pipeline=[]))
    msg = str(exc.value)
    assert str(tmp_path / 'gone.json') in msg and hint in msg and 'MMADPD_' in msg


def cxr8_json(path, names):
    coco = dict(images=[dict(id=1, file_name='00000001_000.png', width=1024, height=1024,
                             patient_id=1, view='PA')],
                annotations=[dict(id=k + 1, image_id=1, category_id=k + 1,
                                  bbox=[10 * k, 10, 20, 30], area=600, iscrowd=0)
                             for k in range(len(names))],
                categories=[dict(id=k + 1, name=n) for k, n in enumerate(names)])
    path.write_text(json.dumps(coco))


def test_cxr8_dataset_classes_from_file(tmp_path):
    cxr8_json(tmp_path / 'cxr8_val.json', list(CXR8_CLASSES))
    ds = DATASETS.build(dict(type='CXR8Dataset', data_root=str(tmp_path),
                             ann_file='cxr8_val.json', test_mode=True, pipeline=[]))
    assert ds.metainfo['classes'] == CXR8_CLASSES
    inst = ds.get_data_info(0)['instances']
    assert [i['bbox_label'] for i in inst] == list(range(8))
    assert inst[2]['bbox'] == [20, 10, 40, 40]
    # another target set: classes follow the file
    cxr8_json(tmp_path / 'other.json', ['Lesion', 'Fluid', 'Air'])
    ds = DATASETS.build(dict(type='CXR8Dataset', ann_file=str(tmp_path / 'other.json'),
                             pipeline=[]))
    assert ds.metainfo['classes'] == ('Lesion', 'Fluid', 'Air')
    assert len(ds.metainfo['palette']) >= 3


def test_cxr8_dataset_explicit_classes_subset_and_error(tmp_path):
    cxr8_json(tmp_path / 'c.json', list(CXR8_CLASSES))
    ds = DATASETS.build(dict(type='CXR8Dataset', ann_file=str(tmp_path / 'c.json'),
                             metainfo=dict(classes=('Pneumothorax', 'Effusion')),
                             pipeline=[]))
    inst = ds.get_data_info(0)['instances']
    assert sorted(i['bbox_label'] for i in inst) == [0, 1]
    assert {tuple(i['bbox']) for i in inst if i['bbox_label'] == 0} == {(70, 10, 90, 40)}
    with pytest.raises(ValueError, match='Nodulez'):
        DATASETS.build(dict(type='CXR8Dataset', ann_file=str(tmp_path / 'c.json'),
                            metainfo=dict(classes=('Nodulez',)), pipeline=[]))
