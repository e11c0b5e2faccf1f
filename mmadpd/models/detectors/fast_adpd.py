"""FastADPD: ADPD with the fast config's speed layers (``configs/adpd/loc_adpd_fast-bf16.py``).

Same parameters, state_dict, targets, losses and gradients as :class:`ADPD` (tested:
``tests/models/test_fast_adpd.py``); what changes is how a training step reaches the
device:

* ``graph_heads``: in EAGER training on a GPU the heads and the loss arithmetic (~500
  small kernels, forward and backward, that take longer to launch than to run) are
  captured once with ``torch.cuda.make_graphed_callables`` and replayed as one launch
  each (:class:`HeadLossGraphs`). No effect on a CPU or on compiled parts: torch.compile
  fuses the same kernels.
* :meth:`FastADPD.parse_losses`: the loss terms summed in one operation and logged as
  detached copies (graph outputs are overwritten by the next replay).

Constraints of the graphs (torch's, made explicit here):
  * the heads' gradients are the graph's static buffers (autograd hands them to the
    parameters without a copy), so a replay needs ``.grad`` cleared to None, as
    mmengine's optimizer wrappers do (``zero_grad()``: ``set_to_none``). A step that
    finds the heads' gradients set (gradient accumulation: ``accumulative_counts > 1``)
    therefore runs eagerly (logged once): the first step of each accumulation is
    replayed, the others are not.
  * graphs are captured at the first training step of each input signature (shapes,
    dtypes, autocast state; at most ``max_signatures``, the rest runs eagerly), with
    autocast's weight cache off as torch requires. Evaluation, CPU tensors, steps without
    autograd and compiled heads or losses run eagerly.
  * parameters are updated in place (optimizers, ``load_state_dict``); moving the model
    (``.to()``) resets the graphs, and copies (EMA, deepcopy) capture their own.
Measured effect: benchmarks/README.md.
"""
from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log
from torch import Tensor, nn

from mmdet.registry import MODELS

from ...utils.compile import is_compiled
from .adpd import ADPD

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
                 pathology_inputs: Callable, loss_by_feat: Callable, target_keys: TargetKeys,
                 none_keys: TargetKeys) -> None:
        super().__init__()
        self.anatomy_head = anatomy_head
        self.pathology_head = pathology_head
        # bound methods of the model: plain attributes, not registered
        self.__dict__['pathology_inputs'] = pathology_inputs
        self.__dict__['loss_by_feat'] = loss_by_feat
        self.target_keys, self.none_keys = target_keys, none_keys
        self.loss_names: Optional[List[str]] = None

    def forward(self, feats: Tensor, *targets: Tensor) -> Tuple[Tensor, ...]:
        dicts: Tuple[Dict[str, Optional[Tensor]], ...] = ({}, {})
        for (which, key), value in zip(self.target_keys, targets):
            dicts[which][key] = value
        for which, key in self.none_keys:
            dicts[which][key] = None
        out = self.anatomy_head(feats)
        logits = self.pathology_head(self.pathology_inputs(feats, out))
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
                               model.pathology_inputs, model.loss_by_feat, target_keys,
                               none_keys)
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
            print_log('FastADPD(graph_heads=True): the heads still hold gradients from an '
                      'earlier step (gradient accumulation, or no zero_grad between '
                      'steps): such steps run the heads and losses eagerly; the graphs '
                      'replay only after zero_grad(set_to_none=True).',
                      logger='current', level=logging.WARNING)
        return True


def _autocast_state(feats: Tensor) -> tuple:
    device_type = feats.device.type
    return (torch.is_autocast_enabled(device_type),
            torch.get_autocast_dtype(device_type))


@MODELS.register_module()
class FastADPD(ADPD):
    """:class:`ADPD` with the fast config's speed layers (see the module docstring).

    Args:
        graph_heads: replay the heads + losses as CUDA graphs in eager GPU training.
        **kwargs: :class:`ADPD`'s arguments.
    """

    def __init__(self, *args, graph_heads: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.graph_heads = graph_heads

    def __getstate__(self):
        # captured CUDA graphs belong to the original's parameters: a copy captures its own
        state = super().__getstate__()
        state.pop('_head_graphs', None)
        return state

    def _apply(self, fn, *args, **kwargs):
        # .to() / .cuda() / .half() may move or replace parameters: graphs captured
        # before would read the old ones
        graphs = self.__dict__.get('_head_graphs')
        if graphs is not None:
            graphs.reset()
        return super()._apply(fn, *args, **kwargs)

    def head_graphs(self) -> Optional[HeadLossGraphs]:
        """The CUDA graphs of heads + losses, made on first use; None when
        ``graph_heads`` is off."""
        if not self.graph_heads:
            return None
        graphs = self.__dict__.get('_head_graphs')
        if graphs is None:
            graphs = self.__dict__['_head_graphs'] = HeadLossGraphs(self)
        return graphs

    def loss(self, batch_inputs: Tensor, batch_data_samples: list) -> Dict[str, Tensor]:
        """:meth:`ADPD.loss`, with the heads and losses replayed as CUDA graphs where
        they apply."""
        targets, cls_targets = self.get_targets(batch_data_samples, batch_inputs.device)
        feats = self.extract_feat(batch_inputs)
        graphs = self.head_graphs()
        if graphs is not None and graphs.applies(feats):
            losses = graphs(feats, targets, cls_targets)
            if losses is not None:
                return losses
        out = self.anatomy_head(feats)
        return self.loss_by_feat(out, self.pathology_head(self.pathology_inputs(feats, out)),
                                 targets, cls_targets)

    def parse_losses(self, losses: Dict[str, Tensor]) -> Tuple[Tensor, Dict[str, Tensor]]:
        """mmengine's ``parse_losses`` (the total is the sum of the terms whose name
        contains ``'loss'``; ``log_vars`` holds ``loss`` then every term) in one stack and
        one sum instead of a mean and an add per term, with the logged terms detached
        views of the stacked COPY: a term may be a CUDA-graph output (graphed heads, or
        the compiled ``loss_by_feat``) that the next iteration overwrites while the
        logging hooks still hold it. Anything but scalar tensors of one dtype and device
        takes mmengine's path."""
        names, values = list(losses), list(losses.values())
        if not all(isinstance(v, Tensor) and v.dim() == 0 for v in values) or \
                len({(v.dtype, v.device) for v in values}) > 1:
            return super().parse_losses(losses)
        if not values:
            return 0, OrderedDict(loss=0)
        stacked = torch.stack(values)
        terms = [v for k, v in losses.items() if 'loss' in k]
        # ADPD's terms are all losses: the one stack serves the total and the log
        total = stacked.sum() if len(terms) == len(values) else \
            (torch.stack(terms).sum() if terms else 0)
        logged = stacked.detach().unbind()
        return total, OrderedDict([('loss', total)] + list(zip(names, logged)))
