"""Attention of the decoder layer: the fused form (mmadpd/models/layers/attention.py,
the fast config's) computes what nn.MultiheadAttention computes, and the layer's plain
and fused paths agree, dropout draws included."""
import pytest
import torch

from mmdet.registry import MODELS

from mmadpd.models.layers.attention import check_plain_attention, multi_head_attention


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


@pytest.mark.parametrize('training', [False, True])
def test_decoder_layer_plain_and_fused_attention_agree(training):
    """Same seed, every dropout and DropPath on: the plain layer (nn.MultiheadAttention
    modules) draws the fused layer's masks and gives its outputs and gradients."""
    torch.manual_seed(0)
    layer = MODELS.build(dict(type='PreLNDecoderLayer', embed_dims=32, num_heads=4))
    layer.train(training)
    query, query_pos = torch.randn(2, 5, 32), torch.randn(2, 5, 32)
    memory = torch.randn(2, 9, 32, requires_grad=True)
    memory_pos = torch.randn(2, 9, 32)
    outputs, grads = [], []
    for fused in (False, True):
        layer.fused_attention = fused
        torch.manual_seed(1)
        out = layer(query, query_pos, memory, memory_pos)
        memory.grad = None
        layer.zero_grad()
        out.sum().backward()
        outputs.append(out.detach())
        grads.append([memory.grad.clone(), layer.self_attn.in_proj_weight.grad.clone()])
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-5, atol=1e-6)
    for ref, got in zip(*grads):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
