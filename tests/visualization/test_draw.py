"""Overlay drawing and PR-curve figures."""
import numpy as np
import pytest

from mmadpd.visualization import class_colors, draw_detections, plot_pr_curves


def near(pixel, rgb, tol=40):
    return np.abs(pixel.astype(int) - np.array(rgb)).max() <= tol


def test_colors_distinct_and_stable():
    for n in (2, 8, 15, 30):
        cols = class_colors(n)
        assert len(cols) == n and len(set(cols)) == n
    assert class_colors(8) == class_colors(8)


def test_pred_solid_gt_dashed_in_class_colour():
    img = np.full((200, 300), 0, np.uint8)
    names = ['A', 'B']
    out = draw_detections(img, boxes=[[40, 100, 140, 180]], labels=[1], scores=[0.83],
                          class_names=names, gt_boxes=[[160, 100, 280, 180]], gt_labels=[1],
                          legend=False)
    assert out.shape == (200, 300, 3) and out.dtype == np.uint8
    color = tuple(int(round(255 * c)) for c in class_colors(2)[1])
    pred_edge = out[140, 37:44]   # left edge of the predicted box (x = 40)
    assert any(near(p, color) for p in pred_edge)
    # solid: the bottom edge of the prediction is coloured along its whole length
    bottom = out[178:183, 50:130]
    assert np.mean([any(near(p, color) for p in col) for col in bottom.transpose(1, 0, 2)]) > 0.95
    # dashed: the GT's bottom edge has gaps
    gt_bottom = out[178:183, 170:270]
    hit = [any(near(p, color) for p in col) for col in gt_bottom.transpose(1, 0, 2)]
    assert 0.3 < np.mean(hit) < 0.95
    # the image away from the boxes is untouched
    assert out[20:60, 20:60].max() == 0


def test_regions_faint_and_min_side_and_input_forms():
    img = np.random.default_rng(0).random((64, 96))  # float [0, 1]
    out = draw_detections(img, region_boxes=[[0, 0, 40, 60], [np.nan] * 4],
                          region_names=['right lung', 'x'], min_side=128, title='t')
    assert out.shape == (128, 192, 3)
    out3 = draw_detections(np.zeros((3, 50, 40), np.uint8), class_names=['A'])
    assert out3.shape == (50, 40, 3)
    with pytest.raises(ValueError, match='out of range'):
        draw_detections(np.zeros((10, 10)), boxes=[[0, 0, 5, 5]], labels=[3], class_names=['A'])
    with pytest.raises(ValueError, match='differ in number'):
        draw_detections(np.zeros((10, 10)), boxes=[[0, 0, 5, 5]], labels=[0, 0],
                        class_names=['A'])


def test_pr_curve_png(tmp_path):
    import cv2
    curves = [dict(recall=[0.5, 0.5, 1.0], precision=[1.0, 0.5, 2 / 3]),
              dict(recall=[], precision=[])]
    path = plot_pr_curves('Effusion', curves, [0.1, 0.5], [83.2, 0.0],
                          str(tmp_path / 'sub' / 'pr.png'))
    im = cv2.imread(path)
    assert im is not None and im.shape[0] > 100


def test_fast_box_drawing_gives_the_plain_add_patch_pixels(monkeypatch):
    """detections.py adds its rectangles with add_artist (no data-limit update) and a
    'none' face (no colour-cycle lookup), for speed; the overlay must be the one plain
    add_patch with the default face draws, pixel for pixel."""
    from matplotlib.axes import Axes
    from matplotlib.patches import Rectangle

    import mmadpd.visualization.detections as detections

    rng = np.random.default_rng(0)
    corners = np.sort(rng.uniform(0, 200, (29, 2, 2)), axis=1)  # [:, 0] min x, y; [:, 1] max
    regions = np.stack([corners[:, 0, 0], corners[:, 0, 1], corners[:, 1, 0],
                        corners[:, 1, 1]], axis=1)
    kwargs = dict(boxes=regions[:3], labels=[0, 1, 2], scores=[0.9, 0.5, 0.7],
                  class_names=['a', 'b', 'c'], gt_boxes=regions[3:5], gt_labels=[0, 2],
                  region_boxes=regions, region_names=[f'r{i}' for i in range(29)],
                  fused_regions=[[0, 4, 9], [1], [2, 28]], title='t')
    image = rng.integers(0, 256, (200, 240), dtype=np.uint8)
    fast = draw_detections(image, **kwargs)
    add_artist, routed = Axes.add_artist, []

    def through_add_patch(self, artist):
        if isinstance(artist, Rectangle):
            routed.append(artist)
            return self.add_patch(artist)
        return add_artist(self, artist)

    def default_face(*args, facecolor=None, **kw):
        assert facecolor == 'none'
        return Rectangle(*args, **kw)

    monkeypatch.setattr(Axes, 'add_artist', through_add_patch)
    monkeypatch.setattr(detections, 'Rectangle', default_face)
    np.testing.assert_array_equal(fast, draw_detections(image, **kwargs))
    assert len(routed) == 29 + 3 + 2 + 6  # regions, predictions, GT, fused outlines
