"""What one training step asks of the device, counted without a GPU.

Run on the ``meta`` device (shapes, no data), a forward + backward dispatches exactly the
operators it would dispatch on a GPU, so two numbers that decide a step's GPU time can be
counted on any machine:

* **FLOPs** (torch's ``FlopCounterMode``: convolutions, matmuls, attention), the work
  that dominates a CNN's kernel time;
* **device operators**: every non-view operator with a tensor on the device is at least
  one kernel launch. A kernel costs a few microseconds of GPU time and ~5-20 us of host
  time however small its tensors, so a model part with few FLOPs but many operators (a
  detection head and its losses) costs launches, not arithmetic.

Operators whose tensors are all on the CPU (targets built from the data samples) are
counted apart as host operators: they launch nothing.
"""
from __future__ import annotations

from collections import Counter
from typing import Callable, Dict

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode


class OpCounter(TorchDispatchMode):
    """Counts the aten operators dispatched inside its context.

    ``device_ops`` counts non-view operators with at least one tensor argument or output
    off the CPU, by operator; ``host_ops`` the non-view ones on CPU tensors only;
    ``view_ops`` views (metadata only, no kernel anywhere).
    """

    def __init__(self) -> None:
        super().__init__()
        self.device_ops: Counter = Counter()
        self.host_ops: Counter = Counter()
        self.view_ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func.is_view:
            self.view_ops += 1
            return out
        tensors = [t for t in tree_leaves((args, kwargs, out)) if isinstance(t, torch.Tensor)]
        if any(t.device.type != 'cpu' for t in tensors):
            self.device_ops[func] += 1
        else:
            self.host_ops[func] += 1
        return out

    def summary(self) -> Dict[str, int]:
        return dict(device_ops=sum(self.device_ops.values()),
                    host_ops=sum(self.host_ops.values()), view_ops=self.view_ops)


def train_step_cost(loss_fn: Callable[[], torch.Tensor]) -> Dict[str, object]:
    """Counts one forward (``loss_fn()`` -> scalar loss) and its backward, after one
    uncounted warm-up forward.

    Returns ``forward`` and ``backward`` (each :meth:`OpCounter.summary` plus ``by_op``,
    the device operators by name, most frequent first) and ``flops`` (forward + backward,
    multiply-add = 2 FLOPs).
    """
    # one uncounted forward first: what a model computes once and reuses (cached position
    # encodings, lazily built buffers) is not part of every step. No backward: gradients
    # left behind would turn the counted backward's first writes into accumulations.
    with torch.no_grad():
        loss_fn()
    flops = FlopCounterMode(display=False)
    fwd, bwd = OpCounter(), OpCounter()
    with flops:
        with fwd:
            loss = loss_fn()
        if loss.dim() != 0:
            raise ValueError(f'train_step_cost: loss_fn must return a scalar, got shape '
                             f'{tuple(loss.shape)}')
        with bwd:
            loss.backward()

    def phase(counter):
        by_op = {str(func): n for func, n in counter.device_ops.most_common()}
        return dict(counter.summary(), by_op=by_op)

    return dict(forward=phase(fwd), backward=phase(bwd), flops=int(flops.get_total_flops()))
