"""The leaner eager train step (fewer device operators per step) computes what the
straightforward versions compute: attention, position cache, box conversion, host-side
box targets, loss parsing."""
import pytest
import torch
from mmengine.model import BaseModel

from mmdet.registry import MODELS
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy

from mmadpd.models.layers.attention import check_plain_attention, multi_head_attention
from mmadpd.models.losses import cxcywh_to_xyxy

from adpd_model_builders import make_sample, tiny_adpd_cfg


@pytest.mark.parametrize('self_attention', [True, False])
@pytest.mark.parametrize('training', [False, True])
def test_attention_equals_torch_multihead_attention(self_attention, training):
    """Same outputs and gradients as nn.MultiheadAttention; in training the same
    attention dropout draws (same seed -> same result)."""
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(32, 4, dropout=0.3, batch_first=True)
    mha.train(training)
    query = torch.randn(3, 5, 32, requires_grad=True)
    key = query if self_attention else torch.randn(3, 7, 32)
    value = torch.randn(3, key.shape[1], 32)
    outputs, grads = [], []
    for fn in (lambda: mha(query, key, value, need_weights=False)[0],
               lambda: multi_head_attention(mha, query, key, value)):
        torch.manual_seed(1)
        out = fn()
        mha.zero_grad()
        query.grad = None
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        outputs.append(out.detach())
        grads.append([query.grad.clone(), mha.in_proj_weight.grad.clone(),
                      mha.out_proj.weight.grad.clone()])
    assert torch.allclose(outputs[0], outputs[1], atol=1e-6)
    for ref, got in zip(*grads):
        assert torch.allclose(ref, got, atol=1e-5)


def test_attention_refuses_what_it_does_not_compute():
    with pytest.raises(ValueError, match='batch_first'):
        check_plain_attention(torch.nn.MultiheadAttention(16, 2))
    with pytest.raises(ValueError, match='add_bias_kv'):
        check_plain_attention(torch.nn.MultiheadAttention(16, 2, batch_first=True,
                                                          add_bias_kv=True))


def test_cxcywh_to_xyxy_equals_mmdet_bitwise():
    boxes = torch.rand(2, 50, 4, dtype=torch.float32)
    assert torch.equal(cxcywh_to_xyxy(boxes), bbox_cxcywh_to_xyxy(boxes))


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


def test_parse_losses_equals_mmengine():
    model = MODELS.build(tiny_adpd_cfg())
    leaf = torch.tensor([0.5, 1.25, 2.0, 0.75], requires_grad=True)
    losses = dict(loss_a=leaf[0] * 2, loss_b=leaf[1] ** 2, acc=leaf[2] + 1,
                  loss_c=leaf[3].exp())
    total, log_vars = model.parse_losses(losses)
    ref_total, ref_log = BaseModel.parse_losses(model, losses)
    assert list(log_vars) == list(ref_log) == ['loss', 'loss_a', 'loss_b', 'acc', 'loss_c']
    for key in ref_log:
        assert torch.allclose(log_vars[key], ref_log[key]), key
    # logged terms are copies: a term may live in a CUDA graph's memory, which the next
    # iteration overwrites while the logging hooks still hold the value
    for key in losses:
        assert log_vars[key].data_ptr() != losses[key].data_ptr(), key
        assert not log_vars[key].requires_grad
    grad, = torch.autograd.grad(total, leaf, retain_graph=True)
    ref_grad, = torch.autograd.grad(ref_total, leaf)
    assert torch.equal(grad, ref_grad) and grad[2] == 0  # 'acc' is logged, not trained
    # non-scalar terms: mmengine's path (its .mean() of each term)
    total, _ = model.parse_losses(dict(loss_v=leaf[:2] * 1.0))
    assert torch.allclose(total, leaf[:2].mean())
