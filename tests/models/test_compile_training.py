"""The ADPD heads and the loss arithmetic train under torch.compile (inductor, the default
backend) exactly as in eager mode: same losses and same gradients, forward AND backward
compiled. (The backbone
is a stock torchvision DenseNet; compiling it on this CPU takes minutes, so it is left to
the GPU benchmark.)"""
import copy
import pickle
import shutil

import pytest
import torch
from mmengine.optim import build_optim_wrapper

from mmadpd.utils.compile import compile_submodules, is_compiled

from adpd_model_builders import deterministic_tiny_adpd, small_training_batch

pytestmark = pytest.mark.skipif(shutil.which('g++') is None and shutil.which('cc') is None,
                                reason='inductor needs a C++ compiler on the CPU')


def _model():
    # no randomness, so compiled and eager runs are comparable element by element
    return deterministic_tiny_adpd()


def _batch():
    return small_training_batch()


def _losses_and_grads(model):
    data = model.data_preprocessor(_batch(), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    total = sum(losses.values())
    model.zero_grad(set_to_none=True)
    total.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None and not n.startswith('backbone')}
    return {k: v.detach() for k, v in losses.items()}, grads


def test_heads_compiled_forward_and_backward_match_eager():
    eager = _model()
    ref_losses, ref_grads = _losses_and_grads(eager)
    model = _model()
    parts = ('anatomy_head', 'pathology_head', 'loss_by_feat')  # the losses compiled too
    assert compile_submodules(model, parts=parts) == list(parts)
    losses, grads = _losses_and_grads(model)
    # still compiled after the first call: no fall-back to eager happened
    assert all(is_compiled(model, name) for name in parts)
    # the compiled method is an attribute of this model only; no state of its own
    assert 'loss_by_feat' in vars(model) and 'loss_by_feat' not in vars(eager)
    assert model.state_dict().keys() == eager.state_dict().keys()
    # copies (EMA) and pickles run eagerly, as torch's compiled modules do: a compiled
    # method is bound to the original model
    for copied in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert not any(is_compiled(copied, name) for name in parts)
        assert copied.loss_by_feat.__self__ is copied  # the class's method, eager
        assert copied.loss_by_feat.__func__ is type(model).loss_by_feat
    assert losses.keys() == ref_losses.keys()
    for k in losses:
        assert torch.allclose(losses[k], ref_losses[k], rtol=1e-4, atol=1e-5), k
    assert grads.keys() == ref_grads.keys() and len(grads) > 10
    for name in grads:
        assert torch.allclose(grads[name], ref_grads[name], rtol=1e-3, atol=1e-5), name
    # and a full optimizer step through mmengine's wrapper runs compiled
    wrapper = build_optim_wrapper(model, dict(
        type='LazyGradNormOptimWrapper', optimizer=dict(type='AdamW', lr=1e-3),
        clip_grad=dict(max_norm=5.0)))
    log_vars = model.train_step(_batch(), wrapper)
    assert torch.isfinite(log_vars['loss'])
