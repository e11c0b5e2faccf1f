"""Batch-first multi-head attention on the parameters of an ``nn.MultiheadAttention``, in
fewer operators than its own forward (the fast config's ``fused_attention``)."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


def check_plain_attention(mha: nn.MultiheadAttention) -> None:
    """Raises ValueError unless ``mha`` is the plain kind :func:`multi_head_attention`
    computes: one packed in-projection with bias, batch-first, no extra key/value bias, no
    zero attention."""
    plain = (mha._qkv_same_embed_dim and mha.in_proj_bias is not None and mha.batch_first
             and mha.bias_k is None and mha.bias_v is None and not mha.add_zero_attn)
    if not plain:
        raise ValueError('multi_head_attention: needs a batch_first nn.MultiheadAttention '
                         'with equal q/k/v dims, bias=True, add_bias_kv=False and '
                         'add_zero_attn=False')


def multi_head_attention(mha: nn.MultiheadAttention, query: Tensor, key: Tensor,
                         value: Tensor) -> Tensor:
    """``mha(query, key, value, need_weights=False)[0]`` without masks, in fewer operators.

    Args:
        mha: a plain batch-first ``nn.MultiheadAttention`` (:func:`check_plain_attention`);
            its parameters, dropout and train/eval mode are used as they are, so its
            ``state_dict`` and initialisation stay torch's.
        query: (B, Lq, d); key, value: (B, Lk, d).

    Returns:
        (B, Lq, d).

    The same projections, scaled dot-product attention (with ``mha.dropout`` on the
    attention weights in training) and output projection as torch's
    ``multi_head_attention_forward``, equal up to float rounding. Torch's function works
    sequence-first: a batch-first input is transposed, each projection then runs on a
    strided view (a copy, a matmul and a separate bias add) and the output is permuted
    back. Here every projection is one fused matmul + bias on contiguous rows and only
    the heads' output is copied once, which matters because ADPD's decoder is a few
    hundred small kernels whose launch cost, not their arithmetic, sets its speed.
    """
    b, lq, d = query.shape
    lk = key.shape[1]
    heads = mha.num_heads
    w_qk, w_v = mha.in_proj_weight.split([2 * d, d])
    b_qk, b_v = mha.in_proj_bias.split([2 * d, d])

    def split_heads(x: Tensor, length: int) -> Tensor:
        # (B, L, d) -> (B, heads, L, d / heads): a view, no copy
        return x.view(b, length, heads, -1).transpose(1, 2)

    if key is query:  # self-attention: the q and k projections in one matmul
        q, k = F.linear(query, w_qk, b_qk).chunk(2, dim=-1)
        q, k = split_heads(q, lq), split_heads(k, lk)
    else:
        w_q, w_k = w_qk.chunk(2)
        b_q, b_k = b_qk.chunk(2)
        q = split_heads(F.linear(query, w_q, b_q), lq)
        k = split_heads(F.linear(key, w_k, b_k), lk)
    v = split_heads(F.linear(value, w_v, b_v), lk)
    out = F.scaled_dot_product_attention(q, k, v,
                                         dropout_p=mha.dropout if mha.training else 0.0)
    return mha.out_proj(out.transpose(1, 2).reshape(b, lq, d))
