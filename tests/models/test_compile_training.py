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

from mmdet.registry import MODELS

from mmadpd.utils import register_all_modules
from mmadpd.utils.compile import compile_submodules, is_compiled

from adpd_model_builders import make_sample, tiny_adpd_cfg

pytestmark = pytest.mark.skipif(shutil.which('g++') is None and shutil.which('cc') is None,
                                reason='inductor needs a C++ compiler on the CPU')


def _model():
    register_all_modules()
    cfg = tiny_adpd_cfg(num_regions=5, num_classes=4, embed_dims=32, mil=True)
    # no randomness, so compiled and eager runs are comparable element by element
    cfg['anatomy_head'].update(proj_dropout=0.0, box_dropout=0.0, layer_cfg=dict(
        num_heads=4, dropout=0.0, drop_path=0.0))
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    return model.train()


def _batch():
    g = torch.Generator().manual_seed(1)
    samples = []
    for i in range(3):
        labels = [0, 1, 2, 4] if i else [0, 1, 2, 3, 4, 2]
        xy = torch.rand(len(labels), 2, generator=g) * 30
        boxes = torch.cat([xy, xy + 8 + torch.rand(len(labels), 2, generator=g) * 20], 1)
        path = (torch.rand(len(labels), 4, generator=g) < 0.4).float()
        samples.append(make_sample(boxes, labels, size=64, pathology=path,
                                   image_labels=path.amax(0)))
    images = torch.randint(0, 256, (3, 1, 64, 64), generator=g, dtype=torch.uint8)
    return dict(inputs=images, data_samples=samples)


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
    clone = copy.deepcopy(model)
    assert 'loss_by_feat' not in vars(clone) and not is_compiled(clone, 'anatomy_head')
    assert clone.loss_by_feat.__self__ is clone
    assert 'loss_by_feat' not in vars(pickle.loads(pickle.dumps(model)))
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
