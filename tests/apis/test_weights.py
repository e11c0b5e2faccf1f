"""Weights by name: publishing, resolution, sha256 checks, the model card."""
import json
import os.path as osp

import pytest
import torch
from apis_checkpoint import SYNTHETIC_CONFIG

from mmadpd.anatomy import CXR8_CLASSES
from mmadpd.apis import weights
from mmadpd.apis.calibration import calibration_of, file_sha256
from mmadpd.apis.publish import publish_checkpoint
from mmadpd.apis.thresholds import INTENDED_USE

CALIBRATION = dict(
    thresholds={c: 0.5 + 0.01 * i for i, c in enumerate(CXR8_CLASSES)},
    per_class=[dict({'class': c}, threshold=0.5 + 0.01 * i, precision=0.5, recall=0.4,
                    f1=0.44, tp=4, num_positive=8, num_gt=3 if c == 'Nodule' else 10,
                    fallback=c == 'Nodule', reason='3 GT boxes < 10' if c == 'Nodule'
                    else None) for i, c in enumerate(CXR8_CLASSES)],
    split='val', iou_thr=0.1, min_gt_boxes=10, fallback_threshold=0.5,
    data=dict(ann_file='/d/cxr8_val.json', sha256='ab' * 32, num_images=12), commit='c0ffee')
REPORT = dict(table1={'mAP': 12.5, 'AP@0.1': 30.0}, num_images=9,
              per_class=[{'class': 'Effusion', 'mean_ap': 40.0}],
              classes_without_gt=['Mass'])


@pytest.fixture(scope='module')
def published(random_ckpt, tmp_path_factory):
    """The random checkpoint with training state and a calibration, published twice
    under two names into one weights dir."""
    root = str(tmp_path_factory.mktemp('weights'))
    ckpt = torch.load(random_ckpt, weights_only=False)
    ckpt['optimizer'] = {'state': {0: torch.zeros(3)}}
    ckpt['message_hub'] = {'log': 1}
    ckpt['meta']['calibration'] = CALIBRATION
    src = osp.join(root, 'src.pth')
    torch.save(ckpt, src)
    entry = publish_checkpoint(src, 'loc-adpd_phantom', root, config=SYNTHETIC_CONFIG,
                               test_report=REPORT)
    other = publish_checkpoint(src, 'other-model', root, config=SYNTHETIC_CONFIG,
                               fields=dict(training_data='t', limits=['only a test']))
    return root, entry, other


def test_publish_strips_training_state_and_registers_the_name(published):
    root, entry, other = published
    path = entry['path']
    assert osp.basename(path) == f'loc-adpd_phantom-{entry["sha256"][:8]}.pth'
    assert file_sha256(path) == entry['sha256']
    ckpt = torch.load(path, weights_only=False)
    assert set(ckpt) == {'state_dict', 'meta'}
    assert 'ADPD' in ckpt['meta']['cfg'] and calibration_of(ckpt)['thresholds'] == \
        CALIBRATION['thresholds']
    index = json.load(open(osp.join(root, 'index.json')))['models']
    assert set(index) == {'loc-adpd_phantom', 'other-model'}
    got = index['loc-adpd_phantom']
    assert got['file'] == osp.relpath(path, root) and got['target_classes'] == list(CXR8_CLASSES)
    assert got['input_size'] == [128, 128] and got['thresholds'] == CALIBRATION['thresholds']
    assert got['metrics']['table1']['mAP'] == 12.5
    # fields not given come from the package index entry of the name
    assert 'phantom' in got['training_data'] and 'NOT for real' in ' '.join(got['limits'])
    assert other['training_data'] == 't' and other['limits'] == ['only a test']
    again = publish_checkpoint(osp.join(root, 'src.pth'), 'loc-adpd_phantom', root,
                               config=SYNTHETIC_CONFIG, test_report=REPORT)
    assert (again['path'], again['sha256']) == (path, entry['sha256'])  # same bytes


def test_model_card_has_the_sections_and_the_limits(published):
    root, entry, _ = published
    card = open(osp.join(root, entry['model_card'])).read()
    for section in ('## Intended use', '## Training data', '## Evaluation data',
                    '## Quantitative analyses', '## Operating points',
                    '## Caveats and recommendations'):
        assert section in card
    assert INTENDED_USE in card and entry['sha256'] in card
    assert '| 12.50 | 30.00 |' in card and '| Effusion | 40.00 |' in card
    assert 'Nodule (3 GT boxes < 10)' in card  # the fallback class is a known limit
    assert 'lateral views are unsupported' in card and 'NOT for real radiographs' in card
    assert 'No test boxes for Mass' in card


def test_resolve_verifies_sha256_and_leaves_a_corrupted_file_alone(published, tmp_path):
    root, entry, _ = published
    assert weights.resolve('loc-adpd_phantom', root).path == entry['path']
    # a copy of the weights dir with one byte changed in the weights file
    bad_root = tmp_path / 'w'
    bad_root.mkdir()
    (bad_root / 'index.json').write_text(open(osp.join(root, 'index.json')).read())
    target = bad_root / entry['file']
    target.parent.mkdir()
    data = bytearray(open(entry['path'], 'rb').read())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(weights.WeightsIntegrityError,
                       match=r'sha256 mismatch for model .loc-adpd_phantom.*corrupted'):
        weights.resolve('loc-adpd_phantom', str(bad_root))
    assert target.read_bytes() == bytes(data)


def test_unknown_and_unavailable_names_fail_clearly(published, tmp_path):
    root, _, _ = published
    with pytest.raises(weights.UnknownModelError) as err:
        weights.resolve('loc-adpd_phantomm', root)
    assert "known names: loc-adpd_phantom, other-model" in str(err.value)
    # known from the package index, but nothing published in this weights dir
    with pytest.raises(weights.WeightsNotAvailableError, match='make demo'):
        weights.resolve('loc-adpd_phantom', str(tmp_path))


def test_a_url_entry_is_downloaded_and_checked(published, tmp_path):
    root, entry, _ = published
    url = 'file://' + entry['path']
    weights.register_local('hosted', dict(url=url, sha256=entry['sha256']), str(tmp_path))
    got = weights.resolve('hosted', str(tmp_path))
    assert got.path == str(tmp_path / osp.basename(entry['path']))
    assert file_sha256(got.path) == entry['sha256']
    weights.register_local('tampered', dict(url=url, sha256='0' * 64, file='t.pth'),
                           str(tmp_path))
    with pytest.raises(weights.WeightsIntegrityError):
        weights.resolve('tampered', str(tmp_path))
    assert not (tmp_path / 't.pth').exists()  # a bad download is not kept


def test_inferencer_by_name_reports_name_sha_and_intended_use(published, monkeypatch,
                                                              tmp_path):
    import numpy as np

    from mmadpd.apis import ADPDInferencer

    root, entry, _ = published
    monkeypatch.setenv(weights.WEIGHTS_DIR_ENV, root)
    assert weights.is_model_name('loc-adpd_phantom')
    assert not weights.is_model_name(SYNTHETIC_CONFIG)
    inferencer = ADPDInferencer('loc-adpd_phantom', device='cpu')
    out = inferencer(np.full((96, 80), 90, np.uint8))['predictions'][0]
    model = out['model']
    assert (model['name'], model['sha256']) == ('loc-adpd_phantom', entry['sha256'])
    assert model['intended_use'] == INTENDED_USE
    assert model['thresholds'] == CALIBRATION['thresholds']
    assert 'fallback prob_thr for Nodule' in model['threshold_source']
    for box in out['pathologies']:
        assert box['positive'] == (box['score'] >= CALIBRATION['thresholds'][box['class']])
