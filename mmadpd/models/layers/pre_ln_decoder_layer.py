"""Pre-LayerNorm DETR decoder layer with DropPath and LayerScale (ADPD's single layer)."""
from __future__ import annotations

from typing import Optional

from mmcv.cnn.bricks.drop import DropPath
from mmcv.cnn.bricks.transformer import FFN, LayerScale
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS

from .attention import check_plain_attention, multi_head_attention


@MODELS.register_module()
class PreLNDecoderLayer(BaseModule):
    """``x += DropPath(LS(SelfAttn(LN(x))))``; ``x += LS(CrossAttn(LN(x), memory))``;
    ``x += DropPath(LS(FFN(LN(x))))``.

    Query positions are added to the queries (and key positions to the keys) before each
    attention, DETR style; values carry no position. DropPath acts on the self-attention
    and FFN branches only (FACTS.md §4).

    Args:
        embed_dims: d.
        num_heads: attention heads.
        ffn_ratio: FFN hidden size = ``ffn_ratio * d`` (ReLU).
        dropout: dropout of attention weights, attention outputs and the FFN.
        drop_path: stochastic-depth probability of the self-attention and FFN branches.
        layer_scale_init: initial LayerScale value of every branch (0 disables it).
        fused_attention: compute the attentions with
            :func:`~mmadpd.models.layers.attention.multi_head_attention` (the same
            parameters and numbers up to float rounding, fewer operators; the fast
            config's choice) instead of calling the ``nn.MultiheadAttention`` modules.
    """

    def __init__(self, embed_dims: int = 256, num_heads: int = 8, ffn_ratio: int = 4,
                 dropout: float = 0.3, drop_path: float = 0.2,
                 layer_scale_init: float = 0.1, fused_attention: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'PreLNDecoderLayer: embed_dims {embed_dims} is not divisible '
                             f'by num_heads {num_heads}')
        self.norm_self = nn.LayerNorm(embed_dims)
        self.self_attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=dropout,
                                               batch_first=True)
        self.norm_cross = nn.LayerNorm(embed_dims)
        self.cross_attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=dropout,
                                                batch_first=True)
        self.fused_attention = fused_attention
        if fused_attention:
            check_plain_attention(self.self_attn)
            check_plain_attention(self.cross_attn)
        self.norm_ffn = nn.LayerNorm(embed_dims)
        self.dropout = nn.Dropout(dropout)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        scale = (lambda: LayerScale(embed_dims, scale=layer_scale_init)
                 if layer_scale_init > 0 else nn.Identity())
        self.ls_self, self.ls_cross = scale(), scale()
        self.ffn = FFN(embed_dims=embed_dims, feedforward_channels=ffn_ratio * embed_dims,
                       num_fcs=2, act_cfg=dict(type='ReLU', inplace=True), ffn_drop=dropout,
                       dropout_layer=dict(type='DropPath', drop_prob=drop_path)
                       if drop_path > 0 else None,
                       add_identity=True, layer_scale_init_value=layer_scale_init)

    def forward(self, query: Tensor, query_pos: Tensor, memory: Tensor,
                memory_pos: Tensor) -> Tensor:
        """query, query_pos: (B, N, d); memory, memory_pos: (B, L, d). Returns (B, N, d)."""
        h = self.norm_self(query)
        q = h + query_pos
        attn = self.attention(self.self_attn, q, q, h)
        query = query + self.drop_path(self.ls_self(self.dropout(attn)))
        h = self.norm_cross(query)
        attn = self.attention(self.cross_attn, h + query_pos, memory + memory_pos, memory)
        query = query + self.ls_cross(self.dropout(attn))
        return self.ffn(self.norm_ffn(query), identity=query)

    def attention(self, mha: nn.MultiheadAttention, query: Tensor, key: Tensor,
                  value: Tensor) -> Tensor:
        """``mha`` on batch-first (B, L, d) inputs, without masks -> (B, Lq, d)."""
        if self.fused_attention:
            return multi_head_attention(mha, query, key, value)
        # torch returns a transposed view; the dropout after the attention draws its mask
        # in memory order, so contiguous rows give the fused path's masks for a seed
        return mha(query, key, value, need_weights=False)[0].contiguous()
