"""mmdet's own inference APIs on an ADPD config and checkpoint (issue 23, acceptance 1):
``init_detector`` + ``inference_detector`` and ``DetInferencer`` on a phantom PNG, a grey
and an RGB array return the CXR8 classes as labels and the top boxes ``ADPDInferencer``
returns."""
import cv2
import numpy as np
import pytest
from apis_checkpoint import SYNTHETIC_CONFIG

from mmadpd.anatomy import CXR8_CLASSES


@pytest.fixture(scope='module')
def phantom_png(tmp_path_factory):
    """A rendered phantom chest X-ray, non-square, written as an 8-bit grey PNG."""
    from mmadpd.datasets.synthetic.phantom import make_phantom

    image = make_phantom(np.random.default_rng(3), 300, 260, kinds=['effusion']).image
    path = tmp_path_factory.mktemp('png') / 'phantom.png'
    cv2.imwrite(str(path), np.asarray(image, np.uint8))
    return str(path)


@pytest.fixture(scope='module')
def reference(inferencer, phantom_png):
    """ADPDInferencer's pathologies (sorted by score) on the PNG."""
    return inferencer(phantom_png)['predictions'][0]['pathologies']


def _top(labels, scores, boxes, k=3):
    """(class name, box) of the k best scores; ties broken by label (stable)."""
    order = np.lexsort((np.asarray(labels), -np.asarray(scores)))[:k]
    return [(CXR8_CLASSES[int(labels[i])], np.asarray(boxes[i], np.float64)) for i in order]


def _same_top_boxes(got, reference, k=3):
    ref = sorted(reference, key=lambda p: (-p['score'], CXR8_CLASSES.index(p['class'])))[:k]
    assert len(got) == len(ref) == k
    for (name, box), p in zip(got, ref):
        assert name == p['class']
        np.testing.assert_allclose(box, p['box'], atol=2e-3)  # the JSON rounds to 1/1000 px


def test_init_detector_names_the_cxr8_classes_and_matches_adpd_inferencer(
        random_ckpt, phantom_png, reference):
    from mmdet.apis import inference_detector, init_detector

    model = init_detector(SYNTHETIC_CONFIG, random_ckpt, device='cpu')
    assert tuple(model.dataset_meta['classes']) == CXR8_CLASSES
    assert len(model.dataset_meta['palette']) == len(CXR8_CLASSES)
    grey = cv2.imread(phantom_png, cv2.IMREAD_GRAYSCALE)
    for source in (phantom_png, grey, np.dstack([grey] * 3)):  # path, grey, RGB/BGR array
        pred = inference_detector(model, source).pred_instances
        assert pred.labels.max() < len(CXR8_CLASSES)
        _same_top_boxes(_top(pred.labels.numpy(), pred.scores.numpy(), pred.bboxes.numpy()),
                        reference)


def test_det_inferencer_runs_on_adpd_configs_and_draws_with_the_adpd_visualizer(
        random_ckpt, phantom_png, reference, tmp_path):
    from mmdet.apis import DetInferencer

    from mmadpd.visualization import ADPDLocalVisualizer

    inferencer = DetInferencer(model=SYNTHETIC_CONFIG, weights=random_ckpt, device='cpu',
                               show_progress=False)
    assert isinstance(inferencer.visualizer, ADPDLocalVisualizer)
    assert tuple(inferencer.visualizer.dataset_meta['classes']) == CXR8_CLASSES
    out = inferencer(phantom_png, out_dir=str(tmp_path), pred_score_thr=0.0)
    pred = out['predictions'][0]
    _same_top_boxes(_top(pred['labels'], pred['scores'], pred['bboxes']), reference)
    drawn = cv2.imread(str(tmp_path / 'vis' / 'phantom.png'))
    assert drawn is not None and min(drawn.shape[:2]) == 512  # enlarged for legibility
    # a grey array in, the same boxes out
    grey = cv2.imread(phantom_png, cv2.IMREAD_GRAYSCALE)
    pred = inferencer(grey, return_vis=True)['predictions'][0]
    _same_top_boxes(_top(pred['labels'], pred['scores'], pred['bboxes']), reference)


def test_readme_mmdet_api_example_runs_as_written(random_ckpt, phantom_png, tmp_path):
    import os.path as osp
    import re

    from apis_checkpoint import REPO

    readme = open(osp.join(REPO, 'README.md'), encoding='utf-8').read()
    blocks = [b for b in re.findall(r'```python\n(.*?)```', readme, flags=re.S)
              if 'init_detector' in b]
    assert len(blocks) == 1
    code = (blocks[0].replace("'configs/adpd/loc_adpd_synthetic.py'", repr(SYNTHETIC_CONFIG))
            .replace("'work_dirs/demo/latest.pth'", repr(random_ckpt))
            .replace("'my_cxr.png'", repr(phantom_png))
            .replace("'outputs/'", repr(str(tmp_path / 'outputs'))))
    assert "'work_dirs/" not in code and "'my_cxr" not in code
    namespace = {}
    exec(compile(code, 'README mmdet APIs', 'exec'), namespace)
    assert tuple(namespace['model'].dataset_meta['classes']) == CXR8_CLASSES
    assert len(namespace['result'].pred_instances) > 0
    assert (tmp_path / 'outputs' / 'vis' / 'phantom.png').is_file()
