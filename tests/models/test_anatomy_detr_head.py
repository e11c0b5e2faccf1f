import pytest
import torch

from mmdet.registry import MODELS

from mmadpd.models.layers import PreLNDecoderLayer

from adpd_model_builders import make_sample


def build_head(num_regions=4, d=32):
    return MODELS.build(dict(type='AnatomyDETRHead', num_regions=num_regions,
                             in_channels=8, embed_dims=d, layer_cfg=dict(num_heads=4)))


def test_forward_shapes_and_box_range():
    head = build_head(num_regions=5, d=32).eval()
    out = head(torch.randn(2, 8, 3, 4))
    assert out['presence_logits'].shape == (2, 5)
    assert out['boxes'].shape == (2, 5, 4)
    assert out['region_feats'].shape == (2, 5, 32)
    assert ((out['boxes'] > 0) & (out['boxes'] < 1)).all()


def test_decoder_layer_branches():
    layer = PreLNDecoderLayer(embed_dims=16, num_heads=4, dropout=0.3, drop_path=0.2,
                              layer_scale_init=0.1).eval()
    assert torch.allclose(layer.ls_self.weight, torch.full((16,), 0.1))
    assert torch.allclose(layer.ffn.gamma2.weight, torch.full((16,), 0.1))
    q = torch.randn(2, 3, 16)
    out = layer(q, torch.randn(2, 3, 16), torch.randn(2, 7, 16), torch.randn(2, 7, 16))
    assert out.shape == q.shape and not torch.allclose(out, q)


def _outputs(boxes, logits):
    return dict(boxes=boxes, presence_logits=logits)


def test_fixed_assignment_and_permutation(sample_factory):
    head = build_head()
    boxes = [[4, 8, 20, 40], [30, 2, 60, 30], [10, 10, 12, 50]]
    labels = [2, 0, 3]
    pred = torch.rand(1, 4, 4) * 0.5 + 0.25
    logits = torch.randn(1, 4)
    ref = head.loss_by_feat(_outputs(pred, logits),
                            head.get_targets([sample_factory(boxes, labels)]))
    perm = [2, 0, 1]
    permuted = head.get_targets([sample_factory([boxes[i] for i in perm],
                                                [labels[i] for i in perm])])
    got = head.loss_by_feat(_outputs(pred, logits), permuted)
    for key in ref:
        assert got[key].item() == pytest.approx(ref[key].item(), rel=1e-6)
    # Query i's target is region i's box, whatever the GT order.
    targets = head.get_targets([sample_factory(boxes, labels)])
    assert targets['present'].tolist() == [[True, False, True, True]]
    assert torch.allclose(targets['boxes'][0, 2], torch.tensor([12, 24, 16, 32]) / 64.0)


def test_box_losses_only_on_present_regions(sample_factory):
    head = build_head()
    targets = head.get_targets([sample_factory([[0, 0, 32, 32]], [1]),
                                sample_factory([[16, 16, 48, 64], [0, 32, 64, 64]], [1, 3])])
    pred = torch.full((2, 4, 4), 0.5, requires_grad=True)
    logits = torch.zeros(2, 4, requires_grad=True)
    losses = head.loss_by_feat(_outputs(pred, logits), targets)
    # Hand computation: L1 summed over the 3 present boxes / 3, weight 5.
    tgt = targets['boxes'][targets['present']]
    l1 = (0.5 - tgt).abs().sum() / 3
    assert losses['loss_bbox'].item() == pytest.approx(5 * l1.item(), rel=1e-6)
    from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_overlaps
    giou = bbox_overlaps(bbox_cxcywh_to_xyxy(torch.full((3, 4), 0.5)),
                         bbox_cxcywh_to_xyxy(tgt), mode='giou', is_aligned=True)
    assert losses['loss_giou'].item() == pytest.approx(2 * (1 - giou).sum().item() / 3,
                                                       rel=1e-5)
    # Presence: BCE over all 8 queries (logit 0 -> log 2 each).
    assert losses['loss_presence'].item() == pytest.approx(0.6931472, rel=1e-6)
    (losses['loss_bbox'] + losses['loss_giou']).backward()
    grad = pred.grad.abs().sum(-1)
    assert (grad[targets['present']] > 0).all()
    assert (grad[~targets['present']] == 0).all()  # absent regions get no box gradient


def test_duplicate_region_gets_union_and_bad_label_raises(sample_factory):
    head = build_head()
    t = head.get_targets([sample_factory([[0, 0, 16, 16], [8, 8, 32, 24]], [1, 1])])
    assert torch.allclose(t['boxes'][0, 1], torch.tensor([16, 12, 32, 24]) / 64.0)
    with pytest.raises(ValueError, match='synthetic.png'):
        head.get_targets([sample_factory([[0, 0, 16, 16]], [4])])


def test_no_present_region_gives_zero_box_loss(sample_factory):
    head = build_head()
    targets = head.get_targets([sample_factory([], [])])
    losses = head.loss_by_feat(_outputs(torch.rand(1, 4, 4), torch.zeros(1, 4)), targets)
    assert losses['loss_bbox'].item() == 0 and losses['loss_giou'].item() == 0


def _head(**kw):
    return MODELS.build(dict(type='AnatomyDETRHead', num_regions=4, in_channels=8,
                             embed_dims=32, layer_cfg=dict(num_heads=4), **kw))


def test_position_cache_equals_per_batch_encoding():
    head = _head()
    memory = torch.zeros(3, 12, 32)
    cached = head.memory_positions(3, 4, memory)
    again = head.memory_positions(3, 4, memory)
    assert again is cached  # computed once
    direct = head.positional_encoding(torch.zeros(3, 3, 4)).flatten(2).transpose(1, 2)
    assert torch.equal(cached.expand(3, -1, -1), direct)
    # another size or dtype is another entry, not the stale one
    assert head.memory_positions(2, 4, memory).shape == (1, 8, 32)
    assert head.memory_positions(3, 4, memory.double()).dtype == torch.float64


def test_learned_positions_are_not_cached():
    head = _head(positional_encoding=dict(type='LearnedPositionalEncoding', num_feats=16,
                                          row_num_embed=8, col_num_embed=8))
    memory = torch.zeros(2, 12, 32)
    pos = head.memory_positions(3, 4, memory)
    assert pos.requires_grad  # a function of the parameters, recomputed every step
    assert not getattr(head, '_position_cache', {})


def test_box_losses_keep_one_shape_for_every_batch():
    """The losses weight every region row (0 = absent) instead of gathering the P present
    ones, so batches with different P compile to ONE graph (fullgraph: no break, no host
    read) and the values are those of the gathered rows."""
    head = _head()
    graphs = []

    def counting_backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    torch._dynamo.reset()
    compiled = torch.compile(head.loss_by_feat, backend=counting_backend, fullgraph=True,
                             dynamic=False)
    batches = ([make_sample([[4, 8, 20, 40], [30, 2, 60, 30]], [2, 0]),
                make_sample([[10, 10, 12, 50]], [3])],
               [make_sample([[4, 8, 20, 40]], [1]), make_sample([], [])])
    for samples in batches:  # 3 and then 1 present region
        t = head.get_targets(samples)
        outputs = dict(boxes=torch.rand(2, 4, 4) * 0.5 + 0.25,
                       presence_logits=torch.randn(2, 4))
        got = compiled(outputs, t)
        ref = head.loss_by_feat(outputs, t)
        for key in ref:
            assert torch.allclose(got[key], ref[key], rtol=1e-6), key
        keep = t['present'].flatten()
        pred, tgt = outputs['boxes'].flatten(0, 1)[keep], t['boxes'].flatten(0, 1)[keep]
        l1 = 5 * (pred - tgt).abs().sum() / keep.sum()
        assert ref['loss_bbox'].item() == pytest.approx(l1.item(), rel=1e-5)
    assert len(graphs) == 1


def test_initialisation_is_torchs_default_as_documented():
    """Query embeddings N(0, 1), attention in-projection biases 0, LayerScale 0.1,
    LayerNorms 1 / 0 (the docstring's choice; FACTS.md is silent)."""
    torch.manual_seed(0)
    head = MODELS.build(dict(type='AnatomyDETRHead', num_regions=29, in_channels=8,
                             embed_dims=64, layer_cfg=dict(num_heads=4)))
    head.init_weights()
    q = head.query_embed.weight
    assert abs(float(q.mean())) < 0.05 and abs(float(q.std()) - 1) < 0.05
    layer = head.layers[0]
    assert torch.equal(layer.self_attn.in_proj_bias, torch.zeros(3 * 64))
    assert torch.equal(layer.ls_self.weight, torch.full((64,), 0.1))
    assert torch.equal(head.final_norm.weight, torch.ones(64))
    bound = 1 / 64 ** 0.5  # nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert float(head.presence_fc.weight.abs().max()) <= bound
