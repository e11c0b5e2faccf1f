"""The batched post-processing returns exactly what the per-image reference returns."""
import numpy as np
import pytest
import torch

from mmdet.registry import MODELS, TASK_UTILS

from mmadpd.anatomy import CXR8_CLASSES, CXR8_MAPPING, PATHOLOGIES, mapping_indices
from mmadpd.models.postprocessing import fuse_region_boxes, fuse_region_boxes_batched

TARGET_INDEX = mapping_indices(CXR8_MAPPING, PATHOLOGIES, CXR8_CLASSES)
NUM_C = len(PATHOLOGIES)


def assert_same_results(reference, batched):
    assert len(reference) == len(batched)
    for (rb, rs, rl, rsrc), (bb, bs, bl, bsrc) in zip(reference, batched):
        for ref, got in ((rb, bb), (rs, bs), (rl, bl)):
            assert ref.dtype == got.dtype and ref.shape == got.shape
            np.testing.assert_array_equal(ref, got)  # bit for bit, not approximately
        assert rsrc == bsrc


def per_image(boxes, present, probs, sizes, **kwargs):
    return [fuse_region_boxes(boxes[i], present[i], probs[i], sizes[i], TARGET_INDEX, **kwargs)
            for i in range(len(boxes))]


def random_batch(rng, num_b=48, num_r=29, quantised=False):
    """Images of different sizes; boxes partly outside the image (clamped, some to zero
    area); ``quantised``: coarse values, so scores tie and boxes repeat."""
    sizes = rng.integers(40, 600, (num_b, 2)).astype(np.float64)
    corners = rng.uniform(-0.2, 1.2, (num_b, num_r, 2, 2)) * sizes[:, None, None, :]
    boxes = np.sort(corners, axis=2).reshape(num_b, num_r, 4)
    probs = rng.uniform(0, 1, (num_b, num_r, NUM_C)).astype(np.float32)
    if quantised:
        probs = np.round(probs * 4) / 4
        boxes = np.round(boxes / 40) * 40
    present = rng.random((num_b, num_r)) > rng.uniform(0, 0.9, (num_b, 1))
    return boxes, present, probs, sizes


@pytest.mark.parametrize('fusion', ['wbf', 'none'])
@pytest.mark.parametrize('quantised', [False, True])
def test_batched_equals_per_image_on_random_batches(fusion, quantised):
    rng = np.random.default_rng(1 + quantised)
    for _ in range(6):
        args = random_batch(rng, quantised=quantised)
        assert_same_results(per_image(*args, fusion=fusion),
                            fuse_region_boxes_batched(*args, TARGET_INDEX, fusion=fusion))


def test_all_scores_tied_duplicate_boxes_absent_regions_and_empty_classes():
    num_b, num_r = 6, 29
    sizes = np.tile([[320.0, 240.0]], (num_b, 1))
    boxes = np.tile(np.array([20.0, 30.0, 200.0, 180.0]), (num_b, num_r, 1))
    boxes[:, ::3] += 7.0  # two groups of identical boxes
    probs = np.full((num_b, num_r, NUM_C), 0.75, np.float32)  # every candidate ties
    probs[:, :, TARGET_INDEX[2]] = 0.2  # one class empty in every image
    present = np.ones((num_b, num_r), bool)
    present[1] = False  # an image without any region
    present[2, 1:] = False  # one region only
    probs[3] = 0.0  # an image without any candidate
    probs[4, :, TARGET_INDEX[0]] = 1.0  # saturated probabilities, as a trained model gives
    args = (boxes, present, probs, sizes)
    batched = fuse_region_boxes_batched(*args, TARGET_INDEX)
    assert_same_results(per_image(*args), batched)
    assert len(batched[1][0]) == 0 and len(batched[3][0]) == 0
    assert 2 not in batched[0][2].tolist()
    assert all(len(src) == num_r for src in batched[0][3])  # all 29 fused into one box


def test_iou_threshold_zero_and_one_and_a_batch_of_nothing():
    rng = np.random.default_rng(5)
    args = random_batch(rng, num_b=16)
    for iou_thr in (0.0, 1.0, 0.5):
        assert_same_results(per_image(*args, iou_thr=iou_thr),
                            fuse_region_boxes_batched(*args, TARGET_INDEX, iou_thr=iou_thr))
    boxes, _, probs, sizes = args
    none = fuse_region_boxes_batched(boxes, np.zeros(boxes.shape[:2], bool), probs, sizes,
                                     TARGET_INDEX)
    assert all(b.shape == (0, 4) and s.shape == (0,) and src == [] for b, s, _, src in none)


def test_bad_batches_raise_with_the_problem():
    boxes, present, probs, sizes = random_batch(np.random.default_rng(0), num_b=2)
    with pytest.raises(ValueError, match='region_present must be'):
        fuse_region_boxes_batched(boxes, present[:, :3], probs, sizes, TARGET_INDEX)
    with pytest.raises(ValueError, match='image_sizes must be'):
        fuse_region_boxes_batched(boxes, present, probs, sizes[:1], TARGET_INDEX)
    probs[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match='NaN'):
        fuse_region_boxes_batched(boxes, present, probs, sizes, TARGET_INDEX)


def _phantom_model():
    """The synthetic config's model, random weights, with pathology biases that spread the
    probabilities around the 0.5 threshold."""
    from mmengine.config import Config

    from mmadpd.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile('configs/adpd/loc_adpd_synthetic.py')
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        model.pathology_head.fc.bias.uniform_(-0.3, 0.3)
    return model, cfg


def test_phantom_model_predictions_identical_with_batched_switch():
    from mmengine.dataset import Compose, pseudo_collate

    from mmadpd.apis.inferencer import in_memory_pipeline
    from mmadpd.datasets.synthetic.phantom import make_phantom

    model, cfg = _phantom_model()
    pipeline = Compose(in_memory_pipeline(cfg.test_dataloader.dataset.pipeline))
    data = []
    for i, (w, h) in enumerate([(256, 256), (300, 220), (200, 310), (256, 240)] * 2):
        image = make_phantom(np.random.default_rng(i), w, h).image
        image = image if image.dtype == np.uint8 else (image / image.max() * 255).astype(
            np.uint8)
        data.append(pipeline({'img': image, 'img_shape': (h, w), 'ori_shape': (h, w),
                              'img_path': f'p{i}.png', 'img_id': i}))
    with torch.no_grad():  # centre the presence logits on the threshold: some regions absent
        inputs = model.data_preprocessor(pseudo_collate(data), False)['inputs']
        logits = model._heads(inputs)[0]['presence_logits']
        model.anatomy_head.presence_fc.bias.sub_(logits.median() - 0.5)
    outputs = {}
    for batched in (False, True):
        model.postprocessor.batched = batched
        outputs[batched] = model.test_step(pseudo_collate(data))
    num_boxes = 0
    for ref, got in zip(outputs[False], outputs[True]):
        for key in ('bboxes', 'scores', 'labels'):
            assert torch.equal(ref.pred_instances[key], got.pred_instances[key])
        assert ref.fused_regions == got.fused_regions
        num_boxes += len(ref.pred_instances.labels)
    present = np.concatenate([s.pred_regions.presence_logits.numpy() > 0.5
                              for s in outputs[True]])
    assert num_boxes > 8 and 0 < present.mean() < 1  # the case exercises fusion and absence


def test_postprocessor_switch_is_off_by_default_and_configurable():
    common = dict(type='WBFPathologyPostProcessor', class_names='PATHOLOGIES',
                  target_classes='CXR8_CLASSES', class_mapping='CXR8_MAPPING')
    assert TASK_UTILS.build(common).batched is False
    pp = TASK_UTILS.build(dict(common, batched=True))
    boxes, present, probs, sizes = random_batch(np.random.default_rng(9), num_b=8)
    logits = np.where(present, 1.0, 0.0)
    assert_same_results(TASK_UTILS.build(common).process_batch(boxes, logits, probs, sizes),
                        pp.process_batch(boxes, logits, probs, sizes))


def test_benchmark_part_reports_both_paths_and_their_equality():
    from mmadpd.benchmark.inference_scale import bench_postprocess

    pp = TASK_UTILS.build(dict(type='WBFPathologyPostProcessor', class_names='PATHOLOGIES',
                               target_classes='CXR8_CLASSES', class_mapping='CXR8_MAPPING'))
    res = bench_postprocess(pp, num_regions=29, num_classes=NUM_C, batch=8, repeats=1)
    assert res['outputs_identical'] is True and pp.batched is False  # copies were switched
    assert res['batched_ms_per_img'] > 0 and res['per_image_ms_per_img'] > 0
