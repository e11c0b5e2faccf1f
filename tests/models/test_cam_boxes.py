"""cam_box / cam_boxes on hand-made heatmaps (box convention: pixel edges, xyxy)."""
import numpy as np
import pytest

from mmadpd.models.postprocessing.cam_boxes import cam_box, cam_boxes


def test_one_blob_gives_its_box():
    m = np.zeros((20, 30))
    m[5:9, 10:16] = 1.0  # rows 5-8, columns 10-15
    m[6, 12] = 2.0
    np.testing.assert_array_equal(cam_box(m, 0.4), [10, 5, 16, 9])
    # above the blob's plateau only the peak pixel is left
    np.testing.assert_array_equal(cam_box(m, 0.9), [12, 6, 13, 7])


def test_two_blobs_largest_component_wins_not_the_highest():
    m = np.zeros((20, 20))
    m[1:3, 1:3] = 1.0      # small, highest peak
    m[10:16, 8:18] = 0.8   # large
    np.testing.assert_array_equal(cam_box(m, 0.5), [8, 10, 18, 16])
    # raise the threshold above the large blob: only the small one remains
    np.testing.assert_array_equal(cam_box(m, 0.9), [1, 1, 3, 3])


def test_diagonal_pixels_are_one_component():
    m = np.zeros((6, 6))
    m[1, 1] = m[2, 2] = m[3, 3] = 1.0  # 8-connected chain
    m[5, 0] = 1.0
    np.testing.assert_array_equal(cam_box(m, 0.5), [1, 1, 4, 4])


def test_threshold_is_relative_to_the_maps_range():
    m = np.zeros((10, 10))
    m[2:4, 2:4] = 1.0
    m[2:8, 2:8] += 0.5
    expected = cam_box(m, 0.6)
    np.testing.assert_array_equal(cam_box(100 * m - 7, 0.6), expected)
    np.testing.assert_array_equal(expected, [2, 2, 4, 4])


def test_flat_map_gives_the_whole_map():
    np.testing.assert_array_equal(cam_box(np.full((7, 9), 3.0), 0.5), [0, 0, 9, 7])


def test_blob_at_the_border_reaches_the_edge():
    m = np.zeros((12, 16))
    m[8:12, 13:16] = 1.0  # bottom-right corner
    np.testing.assert_array_equal(cam_box(m, 0.5), [13, 8, 16, 12])
    m = np.zeros((12, 16))
    m[0:3, :] = 1.0  # the whole top rows
    np.testing.assert_array_equal(cam_box(m, 0.5), [0, 0, 16, 3])


def test_cam_boxes_one_box_per_class_scored_by_probability():
    maps = np.zeros((3, 8, 8))
    maps[0, 0:2, 0:2] = 1
    maps[1, 4:8, 4:8] = 1
    boxes, scores, labels = cam_boxes(maps, np.array([0.9, 0.2, 0.5]), 0.5)
    np.testing.assert_array_equal(boxes, [[0, 0, 2, 2], [4, 4, 8, 8], [0, 0, 8, 8]])
    np.testing.assert_allclose(scores, [0.9, 0.2, 0.5])
    np.testing.assert_array_equal(labels, [0, 1, 2])
    assert boxes.dtype == np.float32 and labels.dtype == np.int64


@pytest.mark.parametrize('bad', [np.zeros(5), np.full((3, 3), np.nan)])
def test_bad_maps_raise(bad):
    with pytest.raises(ValueError, match='cam_box'):
        cam_box(bad)


def test_bad_threshold_and_shapes_raise():
    with pytest.raises(ValueError, match='threshold'):
        cam_box(np.eye(3), 0.0)
    with pytest.raises(ValueError, match='disagree'):
        cam_boxes(np.zeros((2, 4, 4)), np.zeros(3))
