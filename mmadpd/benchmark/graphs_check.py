"""With ``--graph-heads``: do the CUDA-graphed heads + losses compute what the eager step
does? The losses and gradients of one training step, run twice (the graphed model
captures at the first and replays at the second, which is compared), of two identically
initialised models, one with ``graph_heads`` and one without, every dropout and DropPath off (a captured
graph draws its random numbers differently), under the optimizer wrapper's autocast."""
from __future__ import annotations

import torch
from torch import nn


def no_randomness(model: nn.Module) -> nn.Module:
    """Turn off ``model``'s dropout (``nn.Dropout``, attention dropout) and DropPath, in
    place; returns the model."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        elif isinstance(module, nn.MultiheadAttention):
            module.dropout = 0.0
        elif hasattr(module, 'drop_prob'):  # mmcv / mmdet DropPath
            module.drop_prob = 0.0
    return model


def _losses_and_grads(build, batch, steps):
    model, optim_wrapper = build()
    no_randomness(model).train()
    for _ in range(steps):  # the graphed model captures at its first step
        optim_wrapper.zero_grad()
        with optim_wrapper.optim_context(model):
            data = model.data_preprocessor(batch, True)
            losses = model(**data, mode='loss')
        total, _ = model.parse_losses(losses)
        total.backward()
    grads = {n: p.grad.detach().float().clone() for n, p in model.named_parameters()
             if p.grad is not None}
    return {k: v.detach().float().clone() for k, v in losses.items()}, grads


def compare_graphed_heads(build_eager, build_graphed, batch, steps=2):
    """Max relative differences of the loss terms and of the gradients (over all
    parameters; relative to each tensor's largest magnitude) between the eager and the
    graphed model, each built by its callable (same seed) -> dict."""
    ref_losses, ref_grads = _losses_and_grads(build_eager, batch, steps)
    losses, grads = _losses_and_grads(build_graphed, batch, steps)
    if losses.keys() != ref_losses.keys() or grads.keys() != ref_grads.keys():
        raise RuntimeError(f'graphed heads: different loss terms or gradients '
                           f'({sorted(losses)} vs {sorted(ref_losses)}; '
                           f'{len(grads)} vs {len(ref_grads)} gradients)')

    def rel(a, b):
        return float((a - b).abs().max() / b.abs().max().clamp(min=1e-12))

    loss_diff = max(rel(losses[k], ref_losses[k]) for k in losses)
    grad_diff = max(rel(grads[k], ref_grads[k]) for k in grads)
    return dict(max_loss_rel_diff=loss_diff, max_grad_rel_diff=grad_diff,
                loss_terms=len(losses), grads=len(grads))


def seeded(build, seed=0):
    """``build`` called with torch's seed set first (identical initialisation)."""
    def call():
        torch.manual_seed(seed)
        return build()
    return call
