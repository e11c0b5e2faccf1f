"""Phantom CXR8 training set (generator) and CXR8ClassificationDataset."""
import csv
import os
import os.path as osp

import numpy as np
import pytest

from mmadpd.anatomy import CXR8_CLASSES
from mmadpd.datasets import CXR8ClassificationDataset
from mmadpd.datasets.synthetic import generate_dataset
from mmadpd.utils import register_all_modules

register_all_modules(init_default_scope=True)

SIZE = dict(seed=3, num_train=0, num_val=0, num_test=0, num_cxr8=6, size=64,
            defect_rate=0.0)


@pytest.fixture(scope='module')
def cxr8_train_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('cxr8cls'))
    summary = generate_dataset(root, num_cxr8_train=10, **SIZE)
    assert summary['cxr8_train_images'] == 10
    return root


def _read(path):
    with open(path, 'rb') as f:
        return f.read()


def test_training_set_is_written_in_the_real_format(cxr8_train_root, tmp_path):
    cxr8 = osp.join(cxr8_train_root, 'cxr8')
    train = _read(osp.join(cxr8, 'train_val_list.txt')).decode().split('\n')
    test = _read(osp.join(cxr8, 'test_list.txt')).decode().split('\n')
    assert train[-1] == '' and test[-1] == ''  # one name per line, newline-terminated
    train, test = train[:-1], test[:-1]
    assert len(train) == 10 and len(test) == 6 and not set(train) & set(test)
    with open(osp.join(cxr8, 'Data_Entry_2017_v2020.csv')) as f:
        rows = list(csv.DictReader(f))
    assert [r['Image Index'] for r in rows] == test + train
    assert len(rows[0]) == 11
    box_patients = {r['Patient ID'] for r in rows[:6]}
    assert not box_patients & {r['Patient ID'] for r in rows[6:]}  # patient-disjoint
    box_images = {line.split(',')[0] for line in
                  _read(osp.join(cxr8, 'BBox_List_2017.csv')).decode().splitlines()[1:]}
    assert box_images <= set(test)  # every box image is in the test list, as in NIH
    for r in rows[6:]:
        assert all(x in CXR8_CLASSES for x in r['Finding Labels'].split('|')) or \
            r['Finding Labels'] == 'No Finding'
        assert osp.isfile(osp.join(cxr8, 'images', r['Image Index']))
    # the box images do not change when a training set is added
    other = str(tmp_path / 'plain')
    generate_dataset(other, **SIZE)
    for name in test:
        assert _read(osp.join(cxr8, 'images', name)) == \
            _read(osp.join(other, 'cxr8', 'images', name))
    assert _read(osp.join(cxr8, 'BBox_List_2017.csv')) == \
        _read(osp.join(other, 'cxr8', 'BBox_List_2017.csv'))
    assert not osp.exists(osp.join(other, 'cxr8', 'train_val_list.txt'))


def test_dataset_reads_labels_and_leaves_out_box_images_patients_and_missing(
        cxr8_train_root, tmp_path):
    src = osp.join(cxr8_train_root, 'cxr8')
    root = tmp_path / 'cxr8'
    root.mkdir()
    for name in ('Data_Entry_2017_v2020.csv', 'BBox_List_2017.csv'):
        (root / name).write_bytes(_read(osp.join(src, name)))
    os.symlink(osp.join(src, 'images'), root / 'images')
    train = _read(osp.join(src, 'train_val_list.txt')).decode().split()
    with open(osp.join(src, 'Data_Entry_2017_v2020.csv')) as f:
        rows = {r['Image Index']: r for r in csv.DictReader(f)}
    box_image = _read(osp.join(src, 'BBox_List_2017.csv')).decode().splitlines()[1]
    box_image = box_image.split(',')[0]
    # a second image of a box patient, listed for training (the dataset must drop it)
    pat = rows[box_image]['Patient ID']
    same_patient = [i for i, r in rows.items() if r['Patient ID'] == pat and i != box_image]
    listed = train + [box_image] + same_patient + ['99999999_000.png']
    (root / 'train_val_list.txt').write_text('\n'.join(listed) + '\n')
    # a training image whose file is missing: reported and skipped
    (root / 'images_missing').mkdir()
    ds = CXR8ClassificationDataset(data_root=str(root), ann_file='Data_Entry_2017_v2020.csv',
                                   data_prefix=dict(img='images/'), pipeline=[])
    assert len(ds) == 10
    assert ds.skipped.ids['box_image'] == [box_image]
    assert ds.skipped.ids['box_patient'] == same_patient
    assert ds.skipped.ids['no_data_entry'] == ['99999999_000.png']
    info = ds.get_data_info(0)
    assert info['instances'] == [] and len(info['pathology_labels']) == len(CXR8_CLASSES)
    want = [int(c in rows[train[0]]['Finding Labels'].split('|')) for c in CXR8_CLASSES]
    assert info['pathology_labels'] == want
    os.unlink(root / 'images')
    os.symlink(root / 'images_missing', root / 'images')
    for name in train[1:]:
        os.symlink(osp.join(src, 'images', name), root / 'images_missing' / name)
    ds = CXR8ClassificationDataset(data_root=str(root), ann_file='Data_Entry_2017_v2020.csv',
                                   data_prefix=dict(img='images/'), pipeline=[])
    assert len(ds) == 9 and ds.skipped.ids['missing_image'] == [train[0]]


def test_pipeline_packs_image_labels(cxr8_train_root):
    ds = CXR8ClassificationDataset(
        data_root=osp.join(cxr8_train_root, 'cxr8'), ann_file='Data_Entry_2017_v2020.csv',
        data_prefix=dict(img='images/'),
        pipeline=[dict(type='LoadGreyImageFromFile'), dict(type='LoadADPDAnnotations'),
                  dict(type='RandomResizedBBoxSafeCrop', size=32, erosion_rate=0.2),
                  dict(type='PackADPDInputs')])
    out = ds[0]
    assert tuple(out['inputs'].shape) == (1, 32, 32)
    np.testing.assert_array_equal(out['data_samples'].gt_image_labels.numpy(),
                                  ds.get_data_info(0)['pathology_labels'])


def test_missing_list_file_names_it(tmp_path):
    (tmp_path / 'Data_Entry_2017_v2020.csv').write_text('Image Index,Finding Labels,'
                                                       'Patient ID\n')
    with pytest.raises(FileNotFoundError, match='train_val_list.txt'):
        CXR8ClassificationDataset(data_root=str(tmp_path),
                                  ann_file='Data_Entry_2017_v2020.csv', bbox_file=None,
                                  pipeline=[])
