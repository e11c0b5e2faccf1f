"""ADPD's heads and loss arithmetic as CUDA graphs in EAGER training (opt-in).

Why: in an eager training step the backbone's kernels are large and the host keeps ahead
of the GPU, but between the backbone's forward and backward come the decoder layer, the
two heads, the losses and their backward: ~500 small kernels (under bf16 autocast ~120 of
them casts) that take longer to launch than to run, so the GPU waits on the host there
(H100, batch 256: 109.9 ms per ADPD step for 101.9 ms of kernels, bare DenseNet121 102.2 ms
for 98.8; benchmarks/h100_2026-11-26_cudagraphs.json). ``torch.cuda.make_graphed_callables``
captures that stretch once, forward and backward, and replays each as ONE launch. No
compiler is involved; ``torch.compile`` (the fast config) removes the same host cost by
fusion and needs none of this.

What is graphed: ``anatomy_head`` -> ``pathology_head`` -> ``ADPD.loss_by_feat`` from the
backbone map and the batch's target tensors (built on the host before, as always) to the
loss terms. The graphs are captured at the first training step of each input signature
(shapes, dtypes, autocast state; at most ``max_signatures``, the rest runs eagerly), with
autocast's weight cache off as torch requires. Everything else runs eagerly as before,
and eagerly too: evaluation, CPU tensors, steps without autograd, and compiled heads or
losses.

Constraints (torch's, made explicit here):
  * the heads' gradients are the graph's static buffers (autograd hands them to the
    parameters without a copy), so a replay needs ``.grad`` cleared to None, as
    mmengine's optimizer wrappers do (``zero_grad()``: ``set_to_none``); a replay into
    gradients still held would overwrite them before adding them to themselves. A step
    that finds the heads' gradients set (gradient accumulation: ``accumulative_counts >
    1``) therefore runs eagerly (logged once) and adds its gradients as autograd always
    does: the first step of each accumulation is replayed, the others are not.
  * the loss terms are graph outputs whose memory the next replay overwrites:
    ``ADPD.parse_losses`` logs copies (as for the compiled ``loss_by_feat``).
  * parameters are updated in place (optimizers, ``load_state_dict``); moving the model
    (``.to()``) or replacing parameters after a capture needs :meth:`reset`.
"""
from __future__ import annotations

import logging
from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor, nn

from ...utils.compile import is_compiled

# (dict name, key) of every target tensor, in the order they are passed to the graphs
TargetKeys = List[Tuple[int, str]]


def _on_cuda(tensor: Tensor) -> bool:
    return tensor.is_cuda


class _HeadsAndLosses(nn.Module):
    """The graphed callable: (backbone map, *target tensors) -> loss terms (a tuple).

    Holds the two heads as sub-modules (their parameters are the graph's trainable
    inputs) and the model's ``loss_by_feat`` as a plain attribute; it is not a sub-module
    of the model, so the model's ``state_dict`` does not see it. One instance per
    captured signature: ``make_graphed_callables`` patches the instance's ``forward``.
    """

    def __init__(self, anatomy_head: nn.Module, pathology_head: nn.Module,
                 loss_by_feat: Callable, target_keys: TargetKeys,
                 none_keys: TargetKeys) -> None:
        super().__init__()
        self.anatomy_head = anatomy_head
        self.pathology_head = pathology_head
        self.__dict__['loss_by_feat'] = loss_by_feat  # a bound method: not registered
        self.target_keys, self.none_keys = target_keys, none_keys
        self.loss_names: Optional[List[str]] = None

    def forward(self, feats: Tensor, *targets: Tensor) -> Tuple[Tensor, ...]:
        dicts: Tuple[Dict[str, Optional[Tensor]], ...] = ({}, {})
        for (which, key), value in zip(self.target_keys, targets):
            dicts[which][key] = value
        for which, key in self.none_keys:
            dicts[which][key] = None
        out = self.anatomy_head(feats)
        logits = self.pathology_head(out['region_feats'])
        losses = self.loss_by_feat(out, logits, dicts[0], dicts[1])
        # the same order at every call: the first (eager, warm-up) call fixes the names
        if self.loss_names is None:
            self.loss_names = list(losses)
        return tuple(losses[name] for name in self.loss_names)


class HeadLossGraphs:
    """Replays ADPD's heads + losses as CUDA graphs in eager training (see module doc).

    Args:
        model: the ADPD detector (its ``anatomy_head``, ``pathology_head`` and
            ``loss_by_feat`` are used; nothing is copied).
        max_signatures: input signatures to capture (the schedule's batch, and the
            epoch's last, smaller one); later ones run eagerly.
        num_warmup_iters: eager iterations ``make_graphed_callables`` runs before it
            captures (with ``torch.autograd.grad``: no ``.grad`` is touched).
    """

    def __init__(self, model: nn.Module, max_signatures: int = 2,
                 num_warmup_iters: int = 3) -> None:
        self.model = model
        self.max_signatures = max_signatures
        self.num_warmup_iters = num_warmup_iters
        self.graphs: Dict[tuple, _HeadsAndLosses] = {}
        self._told_accumulating = False

    def reset(self) -> None:
        """Forget the captured graphs (after moving or replacing parameters)."""
        self.graphs.clear()

    def applies(self, feats: Tensor) -> bool:
        """Whether this training step can use (or capture) a graph."""
        model = self.model
        return (model.training and torch.is_grad_enabled() and _on_cuda(feats)
                and not any(is_compiled(model, part) for part in
                            ('anatomy_head', 'pathology_head', 'loss_by_feat')))

    def __call__(self, feats: Tensor, targets: Dict[str, Tensor],
                 cls_targets: Dict[str, Optional[Tensor]]) -> Optional[Dict[str, Tensor]]:
        """The loss terms of ``feats`` (B, C_in, h, w) and the batch's targets from the
        graphs, or None where this step runs eagerly (then the caller does)."""
        if self._grads_held():
            return None
        target_keys: TargetKeys = []
        none_keys: TargetKeys = []
        values: List[Tensor] = []
        for which, d in enumerate((targets, cls_targets)):
            for key in sorted(d):
                if d[key] is None:
                    none_keys.append((which, key))
                else:
                    target_keys.append((which, key))
                    values.append(d[key])
        signature = (tuple(target_keys), tuple(none_keys),
                     tuple((tuple(t.shape), t.dtype, t.requires_grad)
                           for t in [feats] + values), _autocast_state(feats))
        graphed = self.graphs.get(signature)
        if graphed is None:
            if len(self.graphs) >= self.max_signatures:
                return None
            graphed = self._capture(feats, values, target_keys, none_keys)
            self.graphs[signature] = graphed
        outputs = graphed(feats, *values)
        return dict(zip(graphed.loss_names, outputs))

    def _capture(self, feats: Tensor, values: List[Tensor], target_keys: TargetKeys,
                 none_keys: TargetKeys) -> _HeadsAndLosses:
        model = self.model
        core = _HeadsAndLosses(model.anatomy_head, model.pathology_head,
                               model.loss_by_feat, target_keys, none_keys)
        # static copies: the graphs read their inputs from these (the replays copy each
        # step's tensors in)
        sample = (feats.detach().clone().requires_grad_(feats.requires_grad),
                  *(v.detach().clone() for v in values))
        device_type = feats.device.type
        enabled = torch.is_autocast_enabled(device_type)
        # torch captures under autocast only without its weight cache
        with torch.autocast(device_type, dtype=torch.get_autocast_dtype(device_type),
                            enabled=enabled, cache_enabled=False):
            # allow_unused_input: a head parameter no loss term reaches (a config's
            # choice) gets no gradient instead of failing the capture
            graphed = torch.cuda.make_graphed_callables(
                core, sample, num_warmup_iters=self.num_warmup_iters,
                allow_unused_input=True)
        return graphed

    def _grads_held(self) -> bool:
        """Whether the heads hold gradients from an earlier step (then this step runs
        eagerly: see the module doc). One trained parameter stands for all:
        ``zero_grad`` clears them together."""
        param = next((p for p in self.model.anatomy_head.parameters() if p.requires_grad),
                     None)
        if param is None or param.grad is None:
            return False
        if not self._told_accumulating:
            self._told_accumulating = True
            print_log('ADPD(graph_heads=True): the heads still hold gradients from an '
                      'earlier step (gradient accumulation, or no zero_grad between '
                      'steps): such steps run the heads and losses eagerly; the graphs '
                      'replay only after zero_grad(set_to_none=True).',
                      logger='current', level=logging.WARNING)
        return True


def _autocast_state(feats: Tensor) -> tuple:
    device_type = feats.device.type
    return (torch.is_autocast_enabled(device_type),
            torch.get_autocast_dtype(device_type))
