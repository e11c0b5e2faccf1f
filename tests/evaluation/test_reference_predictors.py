"""Reference predictors (oracle regions, whole lung) and the reference_boxes tool."""
import importlib.util
import json
import os.path as osp
import pickle

import numpy as np
import pytest
import torch

from mmadpd.anatomy import CXR8_CLASSES, CXR8_MAPPING, PATHOLOGIES, REGIONS, mapping_indices
from mmadpd.evaluation.reference_predictors import (evaluate_predictions, load_cxr8_coco,
                                                    load_phantom_truth, mapped_probs,
                                                    oracle_region_predictions,
                                                    whole_lung_boxes, whole_lung_predictions)

TARGET_INDEX = mapping_indices(CXR8_MAPPING, PATHOLOGIES, CXR8_CLASSES)
R = len(REGIONS)
RL, LL = REGIONS.index('right lung'), REGIONS.index('left lung')
EFF, INF = CXR8_CLASSES.index('Effusion'), CXR8_CLASSES.index('Infiltration')


def test_mapped_probs_mean_over_mapped_classes():
    probs = np.zeros((2, len(PATHOLOGIES)))
    probs[0, PATHOLOGIES.index('lung opacity')] = 0.8
    probs[0, PATHOLOGIES.index('infiltration')] = 0.4
    m = mapped_probs(probs, TARGET_INDEX)
    assert m.shape == (2, 8)
    assert m[0, INF] == pytest.approx(0.6)
    assert m[1].max() == 0


def test_whole_lung_union_box_and_max_over_present_regions():
    boxes = np.tile([50.0, 50, 60, 60], (R, 1))
    boxes[RL] = [10, 20, 50, 90]
    boxes[LL] = [60, 15, 100, 80]
    present = np.zeros(R, bool)
    present[[RL, 5]] = True
    probs = np.zeros((R, len(PATHOLOGIES)))
    effusion = PATHOLOGIES.index('pleural effusion')
    probs[5, effusion] = 0.9   # present region
    probs[7, effusion] = 0.99  # absent region: ignored
    out = whole_lung_boxes(boxes, present, probs, TARGET_INDEX)
    np.testing.assert_allclose(out['bboxes'], np.tile([10, 15, 100, 90], (8, 1)))
    assert out['labels'].tolist() == list(range(8))
    assert out['scores'][EFF] == pytest.approx(0.9) and out['scores'].sum() == pytest.approx(0.9)
    none = whole_lung_boxes(boxes, np.zeros(R, bool), probs, TARGET_INDEX)
    assert none['scores'].max() == 0.0


def test_whole_lung_from_samples():
    sample = dict(img_path='/a/1.png', pred_regions=dict(
        bboxes=torch.tensor([[0.0, 0, 10, 10]] * R), presence_logits=torch.full((R,), 0.6),
        pathology_probs=torch.full((R, len(PATHOLOGIES)), 0.3)))
    out = whole_lung_predictions([sample], TARGET_INDEX)
    np.testing.assert_allclose(out[0]['scores'], 0.3)
    sample['pred_regions']['presence_logits'] = torch.full((R,), 0.5)  # not > 0.5
    assert whole_lung_predictions([sample], TARGET_INDEX)[0]['scores'].max() == 0
    with pytest.raises(ValueError, match='pred_regions'):
        whole_lung_predictions([dict(img_path='x.png')], TARGET_INDEX)


def write_phantom(tmp_path):
    """Two images; image 1: two lung-zone regions positive for pleural effusion (-> one
    fused Effusion box) and one region with only 'lung opacity' (Infiltration, score 0.5)."""
    images, gt_anns, truth = [], [], {}
    for i in range(2):
        name = f'0000000{i}_000.png'
        boxes = [[float(5 * r), float(4 * r), float(5 * r + 40), float(4 * r + 30)]
                 for r in range(R)]
        boxes[28] = None  # an absent region
        pos = [[] for _ in range(R)]
        if i == 1:
            pos[3] = ['pleural effusion']
            pos[6] = ['pleural effusion', 'atelectasis']
            pos[10] = ['lung opacity']
        truth[name] = dict(width=200, height=160, region_boxes=boxes, region_pathologies=pos)
        images.append(dict(id=i + 1, file_name=f'images/{name}', width=200, height=160))
    # GT: Effusion where regions 3 and 6 lie, Infiltration on region 10
    gt_anns.append(dict(id=1, image_id=2, category_id=EFF + 1, bbox=[15, 12, 45, 42],
                        area=1, iscrowd=0))
    gt_anns.append(dict(id=2, image_id=2, category_id=INF + 1, bbox=[50, 40, 40, 30],
                        area=1, iscrowd=0))
    cats = [dict(id=k + 1, name='Infiltrate' if c == 'Infiltration' else c)
            for k, c in enumerate(CXR8_CLASSES)]
    t_file, c_file = tmp_path / 'phantom_truth.json', tmp_path / 'cxr8_test.json'
    t_file.write_text(json.dumps(dict(regions=list(REGIONS), pathologies=list(PATHOLOGIES),
                                      images=truth)))
    c_file.write_text(json.dumps(dict(images=images, annotations=gt_anns, categories=cats)))
    return str(t_file), str(c_file)


def test_oracle_regions_through_the_post_processor(tmp_path):
    import mmadpd.models.postprocessing.functional  # noqa: F401  (a broken import fails)
    t_file, c_file = write_phantom(tmp_path)
    images, gts, classes = load_cxr8_coco(c_file)
    assert classes == list(CXR8_CLASSES)  # 'Infiltrate' alias accepted
    np.testing.assert_allclose(gts[1]['bboxes'][0], [15, 12, 60, 54])  # xywh -> xyxy
    preds = oracle_region_predictions(load_phantom_truth(t_file),
                                      [im['file_name'] for im in images])
    assert len(preds[0]['labels']) == 0
    p = preds[1]
    labels = p['labels'].tolist()
    assert labels == sorted([EFF, INF, CXR8_CLASSES.index('Atelectasis')])
    eff = labels.index(EFF)
    assert sorted(p['sources'][eff]) == [3, 6]  # fused from both positive regions
    assert p['scores'][labels.index(INF)] == pytest.approx(0.5)  # mean(0, 1)
    np.testing.assert_allclose(p['bboxes'][labels.index(INF)], [50, 40, 90, 70])
    m = evaluate_predictions(preds, gts, classes)
    assert m['AP_Infiltration'] == pytest.approx(100.0)
    none = oracle_region_predictions(load_phantom_truth(t_file), ['00000001_000.png'],
                                     fusion='none')[0]
    assert len(none['labels']) == 3
    with pytest.raises(ValueError, match='not in the phantom truth'):
        oracle_region_predictions(load_phantom_truth(t_file), ['99999999_000.png'])


def test_reference_boxes_tool(tmp_path, capsys):
    import mmadpd.models.postprocessing.functional  # noqa: F401  (a broken import fails)
    t_file, c_file = write_phantom(tmp_path)
    samples = []
    for i in range(2):
        probs = torch.zeros(R, len(PATHOLOGIES))
        probs[3, PATHOLOGIES.index('pleural effusion')] = 0.9
        boxes = torch.tensor([[5.0 * r, 4.0 * r, 5.0 * r + 40, 4.0 * r + 30] for r in range(R)])
        samples.append(dict(
            img_path=f'/data/images/0000000{1 - i}_000.png',  # other order than the JSON
            pred_instances=dict(bboxes=boxes[3:4], scores=torch.tensor([0.9]),
                                labels=torch.tensor([EFF])),
            pred_regions=dict(bboxes=boxes, presence_logits=torch.ones(R),
                              pathology_probs=probs)))
    pkl = tmp_path / 'preds.pkl'
    pkl.write_bytes(pickle.dumps(samples))
    path = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'analysis_tools',
                    'reference_boxes.py')
    spec = importlib.util.spec_from_file_location('reference_boxes', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out_dir = tmp_path / 'out'
    results = tool.main(['--cxr8-json', c_file, '--truth', t_file, '--predictions', str(pkl),
                         '--out-dir', str(out_dir)])
    assert set(results) == {'oracle regions', 'model', 'whole lung'}
    printed = capsys.readouterr().out
    for name in results:
        assert f'| {name} | {results[name]["mAP"]:.2f} |' in printed
    saved = json.loads((out_dir / 'reference_boxes.json').read_text())
    assert saved['methods']['whole lung']['mAP'] == pytest.approx(results['whole lung']['mAP'])
