"""ADPDLocalVisualizer: built from the registry, draws one overlay (regions, fused regions,
pathology boxes, ground truth) in the dataset palette and sends it to its vis backends."""
import cv2
import numpy as np
import torch
from mmengine.structures import InstanceData
from mmdet.registry import VISUALIZERS
from mmdet.structures import DetDataSample

import mmadpd  # noqa: F401  (registers the visualizer)
from mmadpd.visualization import ADPDLocalVisualizer

H, W = 200, 300
PALETTE = [(255, 0, 0), (0, 0, 255)]


def near(pixel, rgb, tol=40):
    return np.abs(pixel.astype(int) - np.array(rgb)).max() <= tol


def _sample():
    """Box 0 (class 1, score 0.9) fused from region 0; box 1 (score 0.1) below the
    threshold; region 1 absent (logit -3); one GT box of class 0."""
    sample = DetDataSample(metainfo=dict(img_path='x.png', ori_shape=(H, W),
                                         fused_regions=[[0], [1]]))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[40., 100., 140., 180.], [200., 20., 260., 60.]]),
        scores=torch.tensor([0.9, 0.1]), labels=torch.tensor([1, 0]))
    sample.pred_regions = InstanceData(
        bboxes=torch.tensor([[20., 80., 160., 195.], [180., 10., 280., 70.]]),
        presence_logits=torch.tensor([3.0, -3.0]))
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[170., 100., 280., 180.]]),
                                       labels=torch.tensor([0]))
    return sample


def _edge_has(out, rows, cols, rgb, tol=40):
    return any(near(p, rgb, tol) for p in out[rows, cols].reshape(-1, 3))


def test_add_datasample_draws_regions_fused_regions_boxes_and_gt(tmp_path):
    vis = VISUALIZERS.build(dict(type='ADPDLocalVisualizer', name='test_adpd_vis_draw',
                                 min_side=0, vis_backends=[dict(type='LocalVisBackend')],
                                 save_dir=str(tmp_path / 'backend')))
    assert isinstance(vis, ADPDLocalVisualizer)
    vis.dataset_meta = dict(classes=('A', 'B'), palette=PALETTE)
    image = np.zeros((H, W, 3), np.uint8)
    out_file = tmp_path / 'overlay.png'
    vis.add_datasample('x', image, _sample(), out_file=str(out_file), pred_score_thr=0.3)
    out = cv2.imread(str(out_file))[..., ::-1]
    assert out.shape == (H, W, 3)
    shown = vis.get_image()  # the visualizer holds the overlay (re-rendered by mmengine)
    assert shown.shape == out.shape and np.abs(shown.astype(int) - out).mean() < 4
    # the kept prediction (class 1: blue), solid along its bottom edge
    assert _edge_has(out, slice(175, 185), slice(60, 120), PALETTE[1])
    # the ground truth (class 0: red) and no box drawn for the low-scoring prediction
    assert _edge_has(out, slice(175, 185), slice(190, 260), PALETTE[0])
    assert not _edge_has(out, slice(55, 65), slice(210, 250), PALETTE[0])
    # region 0 (fused into the blue box) outlined in blue on its left edge (x = 20);
    # the absent region 1 is not drawn at all
    assert _edge_has(out, slice(120, 160), slice(17, 24), PALETTE[1], tol=70)  # alpha 0.8
    assert out[5:15, 185:275].max() == 0 and out[72:78, 185:275].max() == 0
    # without out_file the overlay goes to every backend (LocalVisBackend: a PNG per step)
    vis.add_datasample('case', image, _sample(), step=7)
    saved = list((tmp_path / 'backend').rglob('case_7.png'))
    assert len(saved) == 1 and cv2.imread(str(saved[0])).shape == (H, W, 3)


def test_draw_overlay_scales_large_images_down_and_small_ones_up():
    vis = ADPDLocalVisualizer(name='test_adpd_vis_scale', min_side=512, max_side=1024)
    big = vis.draw_overlay(np.zeros((2048, 1536), np.uint8), boxes=[[0, 0, 100, 100]],
                           labels=[0], scores=[0.5])
    assert big.shape == (1024, 768, 3)
    small = vis.draw_overlay(np.zeros((128, 160), np.uint8))
    assert small.shape == (512, 640, 3)
