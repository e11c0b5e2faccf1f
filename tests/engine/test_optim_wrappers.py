"""The lazy gradient-norm wrappers clip exactly like mmengine's and log the mean norm once
per interval instead of syncing every step."""
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmdet.registry import OPTIM_WRAPPERS

import mmadpd  # noqa: F401  (registers the wrappers)
from mmadpd.engine import LazyGradNormOptimWrapper


def _model_and_data(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    x = torch.randn(32, 8) * 10  # large inputs: the clipping really acts
    y = torch.randn(32, 1)
    return model, x, y


def _train(wrapper_cls, steps, **kw):
    model, x, y = _model_and_data()
    wrapper = wrapper_cls(optimizer=torch.optim.AdamW(model.parameters(), lr=1e-2),
                          clip_grad=dict(max_norm=0.5), **kw)
    norms = []
    hub = MessageHub.get_current_instance()
    for _ in range(steps):
        loss = ((model(x) - y) ** 2).mean()
        wrapper.update_params(loss)
        if 'train/grad_norm' in hub.log_scalars:
            norms.append(list(hub.log_scalars['train/grad_norm'].data[0]))
    return model, norms


def test_same_parameters_as_mmengine_and_interval_logging():
    MessageHub.get_instance('lazy-test-ref')
    ref_model, ref_norms = _train(OptimWrapper, 4)
    MessageHub.get_instance('lazy-test-lazy')
    lazy_model, lazy_norms = _train(LazyGradNormOptimWrapper, 4, grad_norm_log_interval=2)
    for a, b in zip(ref_model.parameters(), lazy_model.parameters()):
        assert torch.equal(a, b)
    every_step = ref_norms[-1]
    assert len(every_step) == 4
    logged = lazy_norms[-1]
    assert len(logged) == 2  # once per interval of 2 steps
    assert logged[0] == pytest.approx((every_step[0] + every_step[1]) / 2, rel=1e-6)
    assert logged[1] == pytest.approx((every_step[2] + every_step[3]) / 2, rel=1e-6)


def test_registered_and_interval_validated():
    assert OPTIM_WRAPPERS.get('LazyGradNormOptimWrapper') is LazyGradNormOptimWrapper
    assert OPTIM_WRAPPERS.get('LazyGradNormAmpOptimWrapper') is not None
    model, _, _ = _model_and_data()
    with pytest.raises(ValueError, match='grad_norm_log_interval'):
        LazyGradNormOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                 grad_norm_log_interval=0)


def test_built_by_name_from_a_config_as_the_runner_does():
    from mmengine.optim import build_optim_wrapper
    from mmadpd.utils import register_all_modules
    register_all_modules()  # default scope mmdet, as in a Runner built from our configs
    model, _, _ = _model_and_data()
    wrapper = build_optim_wrapper(model, dict(
        type='LazyGradNormOptimWrapper', grad_norm_log_interval=5,
        optimizer=dict(type='AdamW', lr=1e-3), clip_grad=dict(max_norm=5.0)))
    assert isinstance(wrapper, LazyGradNormOptimWrapper)
    assert wrapper.grad_norm_log_interval == 5
