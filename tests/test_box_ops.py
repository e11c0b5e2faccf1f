"""mmadpd/box_ops.py: the conversions give mmdet's numbers, and network boxes map back to
original pixels through resize, crop and letterbox padding."""
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh

from mmadpd.box_ops import (box_cxcywh_to_xyxy, box_xywh_to_xyxy, box_xyxy_to_cxcywh,
                            boxes_to_original, input_shape_of)


def test_conversions_equal_mmdet_bitwise():
    boxes = torch.rand(2, 50, 4, dtype=torch.float32)
    assert torch.equal(box_cxcywh_to_xyxy(boxes), bbox_cxcywh_to_xyxy(boxes))
    assert torch.equal(box_xyxy_to_cxcywh(boxes), bbox_xyxy_to_cxcywh(boxes))
    assert box_xywh_to_xyxy([10, 20, 5, 7.5]) == [10.0, 20.0, 15.0, 27.5]


def test_input_shape_prefers_the_padded_batch_shape():
    sample = DetDataSample(metainfo=dict(img_shape=(30, 40), pad_shape=(32, 48)))
    assert input_shape_of(sample) == (32, 48)
    sample.set_metainfo(dict(batch_input_shape=(64, 64)))
    assert input_shape_of(sample) == (64, 64)
    try:
        input_shape_of(DetDataSample())
    except KeyError as exc:
        assert 'batch_input_shape' in str(exc)
    else:
        raise AssertionError('a sample without shapes must raise')


def test_boxes_to_original_undoes_resize_crop_and_clamps():
    """A 300 x 200 (w x h) image, cropped at (7, 3), resized by 0.5 into a 128 x 128
    letterboxed input: a box of the input maps back to original pixels."""
    sample = DetDataSample(metainfo=dict(batch_input_shape=(128, 128), ori_shape=(200, 300),
                                         scale_factor=(0.5, 0.5), crop_offset=(7, 3)))
    plain = DetDataSample(metainfo=dict(batch_input_shape=(128, 128)))
    net_xyxy = torch.tensor([[16.0, 32.0, 48.0, 96.0], [100.0, 120.0, 160.0, 140.0]])
    cxcywh = bbox_xyxy_to_cxcywh(net_xyxy) / 128
    out = boxes_to_original(torch.stack([cxcywh, cxcywh]), [sample, plain])
    assert out.shape == (2, 2, 4)
    torch.testing.assert_close(out[0, 0], torch.tensor([39.0, 67.0, 103.0, 195.0]))
    # beyond the original image: clamped to (w, h) = (300, 200)
    torch.testing.assert_close(out[0, 1], torch.tensor([207.0, 200.0, 300.0, 200.0]))
    # no scale, no crop, no ori_shape: the input pixels (clamped to the input)
    torch.testing.assert_close(out[1], torch.tensor([[16.0, 32.0, 48.0, 96.0],
                                                     [100.0, 120.0, 128.0, 128.0]]))
