"""AnatomyDETRHead: one learned query per anatomical region, fixed one-to-one assignment."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample

from ...box_ops import box_cxcywh_to_xyxy
from ..vocabulary import resolve_vocabulary
from .region_targets import box_targets


def _is_compiling() -> bool:
    compiler = getattr(torch, 'compiler', None)
    return bool(compiler is not None and compiler.is_compiling())


@MODELS.register_module()
class AnatomyDETRHead(BaseModule):
    """Region detector of ADPD: query i always predicts region i (no Hungarian matching).

    Pipeline: backbone feature map (B, C_in, H, W) -> patch projection Linear(C_in, d) +
    dropout -> memory (B, H*W, d) with 2-D sine positions -> ``num_layers`` pre-LN decoder
    layers over N queries (start at zero; a learned query embedding is added before every
    attention) -> final LayerNorm -> presence logit Linear(d, 1) and box MLP
    d->d->d->4 (ReLU, dropout between layers, sigmoid).

    Boxes are normalised (cx, cy, w, h) of the network input (the padded batch shape).

    Initialisation: torch's defaults, as in DETR's reference (FACTS.md is silent on it):
    the query embeddings ``nn.Embedding`` ~ N(0, 1), the projection and the heads'
    ``nn.Linear`` layers Kaiming-uniform, attention ``in_proj`` Xavier-uniform with zero
    biases (``nn.MultiheadAttention``), LayerNorms 1 / 0, LayerScale 0.1.

    Losses (targets from ``gt_instances``: ``labels`` = region index, ``bboxes`` xyxy
    network-input pixels): presence BCE over all B*N queries; L1 and GIoU only on the
    regions present in the ground truth, each summed and divided by the number of present
    regions in the batch.

    Args:
        num_regions: N, number of queries/regions.
        in_channels: channels of the backbone feature map.
        embed_dims: d.
        num_layers: decoder layers.
        layer_cfg: kwargs of :class:`PreLNDecoderLayer` (embed_dims is filled in).
        proj_dropout: dropout after the patch projection.
        box_dropout: dropout between the box MLP layers.
        positional_encoding: config of a mask-based 2-D position encoding returning
            (B, d, H, W); ``num_feats`` defaults to d / 2.
        loss_presence, loss_bbox, loss_iou: mmdet loss configs (weights 1, 5, 2).
        region_names: optional names of the N regions (kept for visualisation), or the
            name of an :mod:`mmadpd.anatomy` vocabulary such as ``'REGIONS'``.
    """

    def __init__(self, num_regions: int = 29, in_channels: int = 1024, embed_dims: int = 512,
                 num_layers: int = 1, layer_cfg: Optional[dict] = None,
                 proj_dropout: float = 0.3, box_dropout: float = 0.3,
                 positional_encoding: Optional[dict] = None,
                 loss_presence: Optional[dict] = None, loss_bbox: Optional[dict] = None,
                 loss_iou: Optional[dict] = None,
                 region_names: Optional[Sequence[str]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        region_names = resolve_vocabulary(region_names, 'AnatomyDETRHead.region_names')
        if region_names is not None and len(region_names) != num_regions:
            raise ValueError(f'AnatomyDETRHead: {len(region_names)} region_names for '
                             f'num_regions={num_regions}')
        self.num_regions = num_regions
        self.embed_dims = embed_dims
        self.region_names = list(region_names) if region_names is not None else None
        self.input_proj = nn.Linear(in_channels, embed_dims)
        self.proj_dropout = nn.Dropout(proj_dropout)
        pe = dict(positional_encoding or {})
        pe.setdefault('type', 'SinePositionalEncoding')
        pe.setdefault('num_feats', embed_dims // 2)
        if pe['type'] == 'SinePositionalEncoding':  # other encodings take no normalize
            pe.setdefault('normalize', True)
        self.positional_encoding = MODELS.build(pe)
        # a parameter-free encoding (sine) gives constants: cached in memory_positions
        self._cache_positions = not any(True for _ in self.positional_encoding.parameters())
        self.query_embed = nn.Embedding(num_regions, embed_dims)
        layer = dict(type='PreLNDecoderLayer', num_heads=8, ffn_ratio=4, dropout=0.3,
                     drop_path=0.2, layer_scale_init=0.1)
        layer.update(layer_cfg or {})
        layer['embed_dims'] = embed_dims
        self.layers = nn.ModuleList(MODELS.build(dict(layer)) for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(embed_dims)
        self.presence_fc = nn.Linear(embed_dims, 1)
        self.box_mlp = nn.Sequential(
            nn.Linear(embed_dims, embed_dims), nn.ReLU(inplace=True), nn.Dropout(box_dropout),
            nn.Linear(embed_dims, embed_dims), nn.ReLU(inplace=True), nn.Dropout(box_dropout),
            nn.Linear(embed_dims, 4))
        self.loss_presence = MODELS.build(loss_presence or dict(
            type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0))
        self.loss_bbox = MODELS.build(loss_bbox or dict(type='L1Loss', loss_weight=5.0))
        # mmdet's GIoULoss gives the same numbers but blocks on a host->device copy
        self.loss_iou = MODELS.build(loss_iou or dict(type='AlignedGIoULoss',
                                                      loss_weight=2.0))

    def forward(self, feats: Tensor) -> Dict[str, Tensor]:
        """feats (B, C_in, H, W) -> dict of presence_logits (B, N), boxes (B, N, 4)
        normalised cxcywh, region_feats (B, N, d)."""
        b, _, h, w = feats.shape
        memory = self.proj_dropout(self.input_proj(feats.flatten(2).transpose(1, 2)))
        memory_pos = self.memory_positions(h, w, memory).expand(b, -1, -1)
        query_pos = self.query_embed.weight[None].expand(b, -1, -1)
        query = torch.zeros_like(query_pos)
        for layer in self.layers:
            query = layer(query, query_pos, memory, memory_pos)
        region_feats = self.final_norm(query)
        return dict(presence_logits=self.presence_fc(region_feats).squeeze(-1),
                    boxes=self.box_mlp(region_feats).sigmoid(),
                    region_feats=region_feats)

    def memory_positions(self, h: int, w: int, memory: Tensor) -> Tensor:
        """Positions of an unpadded h x w feature map, (1, h*w, d) in ``memory``'s dtype.

        Every image of a batch is unpadded (one shared input size), so the positions are
        those of one all-valid mask. They depend on nothing learned when the encoding has
        no parameters (the sine one), and are then computed once per (h, w, dtype, device)
        and reused (in an eager step they are a few dozen small kernels for a constant). Under
        ``torch.compile`` they are computed in the graph (a cache would break it; the
        compiler folds them instead).
        """
        def compute():
            mask = memory.new_zeros((1, h, w))
            pos = self.positional_encoding(mask).flatten(2).transpose(1, 2)
            return pos.to(memory.dtype)

        if not self._cache_positions or _is_compiling():
            return compute()
        key = (h, w, memory.dtype, memory.device)
        cache = self.__dict__.setdefault('_position_cache', {})
        if key not in cache:
            with torch.no_grad():
                cache[key] = compute()
        return cache[key]

    def get_targets(self, batch_data_samples: List[DetDataSample]) -> Dict[str, Tensor]:
        """The batch's box targets, built on the host (:func:`.region_targets.box_targets`:
        boxes normalised by each sample's input shape; a region listed twice in one image
        gets the union box).

        Returns CPU tensors: ``present`` (B, N) bool, ``boxes`` (B, N, 4) float32
        normalised cxcywh and the same boxes as ``boxes_xyxy`` (B, N, 4) corners (zeros
        where absent), the GIoU target.
        """
        num_b, num_r = len(batch_data_samples), self.num_regions
        present, boxes = box_targets(batch_data_samples, num_r, 'AnatomyDETRHead')
        boxes = torch.from_numpy(boxes).reshape(num_b, num_r, 4)
        return dict(present=torch.from_numpy(present).reshape(num_b, num_r), boxes=boxes,
                    boxes_xyxy=box_cxcywh_to_xyxy(boxes))

    def loss_by_feat(self, outputs: Dict[str, Tensor], targets: Dict[str, Tensor]
                     ) -> Dict[str, Tensor]:
        """Named loss terms: loss_presence, loss_bbox (L1), loss_giou.

        ``targets`` (:meth:`get_targets`, on the outputs' device): ``present`` (B, N)
        bool and ``boxes`` (B, N, 4) cxcywh, optionally ``boxes_xyxy`` (B, N, 4) (else
        converted here). Every region row takes part in the
        box losses with weight 1 if present and 0 if absent, divided by the number of
        present regions (a tensor): the sums of gathering the present rows, but with the
        same shapes for every batch and nothing read back to the host, so a compiled
        step is one graph whatever the batch (a gather of the P present rows would be a
        new shape, a recompilation and a new CUDA graph, for every P).
        """
        logits = outputs['presence_logits']
        weight = targets['present'].reshape(-1).float()  # (B*N,) 1 = present
        loss_presence = self.loss_presence(logits.float().reshape(-1), weight)
        num = weight.sum()
        pred = outputs['boxes'].flatten(0, 1).float()
        target = targets['boxes'].flatten(0, 1)
        target_xyxy = (targets['boxes_xyxy'].flatten(0, 1) if 'boxes_xyxy' in targets
                       else box_cxcywh_to_xyxy(target))
        # 0/1 row weights applied to both sides: |p w - t w| = w |p - t|. (mmdet's L1Loss
        # takes a weight too, but checks it on the host: a synchronisation per step.)
        row = weight[:, None]
        loss_bbox = self.loss_bbox(pred * row, target * row, avg_factor=num)
        loss_giou = self.loss_iou(box_cxcywh_to_xyxy(pred), target_xyxy, weight=weight,
                                  avg_factor=num)
        return dict(loss_presence=loss_presence, loss_bbox=loss_bbox, loss_giou=loss_giou)
