"""ADPDCompileHook / compile_submodules: in-place compile, and eager fallback with a log
line when torch.compile fails up front or at the first call."""
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import mmadpd.utils.compile as compile_mod
from mmadpd.engine.hooks import ADPDCompileHook


class TwoParts(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())
        self.anatomy_head = nn.Linear(4, 2)

    def forward(self, x):
        return self.anatomy_head(self.backbone(x).mean((2, 3)))

    def loss_by_feat(self, out):  # a method part, as ADPD's
        return (out ** 2).mean()


@pytest.fixture
def logged(monkeypatch):
    lines = []
    monkeypatch.setattr(compile_mod, 'print_log', lambda msg, *a, **k: lines.append(msg))
    return lines


def _runner(model):
    return SimpleNamespace(model=model)


def test_compile_raising_falls_back_to_eager(monkeypatch, logged):
    def broken(*args, **kwargs):
        raise RuntimeError('no compiler here')
    monkeypatch.setattr(torch, 'compile', broken)
    torch.manual_seed(0)
    model = TwoParts()
    x = torch.randn(2, 1, 8, 8)
    expected = model(x)
    hook = ADPDCompileHook(parts=('backbone', 'anatomy_head', 'missing'))
    hook.before_run(_runner(model))
    assert hook.compiled == []
    assert sum('torch.compile of backbone failed' in m and 'no compiler here' in m
               for m in logged) == 1
    assert torch.equal(model(x), expected)  # still runs, eagerly


def test_failure_at_first_call_falls_back_once(monkeypatch, logged):
    calls = []

    def lazy_broken(fn, **kwargs):
        calls.append(kwargs)

        def compiled(*a, **k):
            raise RuntimeError('BackendCompilerFailed: inductor exploded\nlong trace')
        return compiled
    monkeypatch.setattr(torch, 'compile', lazy_broken)
    model = TwoParts()
    x = torch.randn(2, 1, 8, 8)
    expected = model(x)
    expected_loss = model.loss_by_feat(expected)
    hook = ADPDCompileHook(mode='max-autotune')
    hook.before_run(_runner(model))
    assert hook.compiled == ['backbone', 'anatomy_head', 'loss_by_feat']
    assert calls == [dict(mode='max-autotune')] * 3  # None options are not passed on
    assert torch.equal(model(x), expected)
    assert torch.equal(model(x), expected)
    assert torch.equal(model.loss_by_feat(expected), expected_loss)
    failures = [m for m in logged if 'failed at its first use' in m]
    assert len(failures) == 3 and 'inductor exploded' in failures[0]
    assert 'long trace' not in failures[0]
    assert model.backbone._compiled_call_impl is None  # eager for good
    assert 'loss_by_feat' not in vars(model)  # the method itself again
    assert not compile_mod.is_compiled(model, 'loss_by_feat')


def test_real_error_is_not_swallowed(monkeypatch, logged):
    monkeypatch.setattr(torch, 'compile', lambda fn, **kw: fn)
    model = TwoParts()
    compile_mod.compile_submodules(model)
    with pytest.raises(RuntimeError):
        model(torch.randn(2, 3, 8, 8))  # wrong channel count fails eagerly too


def test_in_place_compile_keeps_state_dict_keys_and_outputs(logged):
    torch.manual_seed(0)
    model = TwoParts()
    keys = list(model.state_dict())
    x = torch.randn(2, 1, 8, 8)
    expected = model(x)
    hook = ADPDCompileHook(backend='eager')  # real dynamo tracing, no C++ toolchain needed
    hook.before_run(_runner(model))
    hook.before_run(_runner(model))  # second run (val after train): compiled once
    assert hook.compiled == ['backbone', 'anatomy_head', 'loss_by_feat']
    assert list(model.state_dict()) == keys
    assert model.backbone._compiled_call_impl is not None
    assert torch.allclose(model(x), expected, atol=1e-6)
    assert not [m for m in logged if 'failed' in m]


def test_each_iteration_marks_a_cuda_graph_step_when_compiled(monkeypatch, logged):
    marks = []
    monkeypatch.setattr(torch.compiler, 'cudagraph_mark_step_begin', lambda: marks.append(1))
    eager = ADPDCompileHook(parts=('missing',))  # nothing compiled: nothing to mark
    eager.before_run(_runner(TwoParts()))
    eager.before_train_iter(None, 0)
    assert marks == []
    monkeypatch.setattr(torch, 'compile', lambda fn, **kw: fn)
    hook = ADPDCompileHook(mode='reduce-overhead')
    hook.before_run(_runner(TwoParts()))
    hook.before_train_iter(None, 0)
    hook.before_val_iter(None, 0)
    hook.before_test_iter(None, 0)
    assert len(marks) == 3


def test_inductor_options_reach_torch_compile_and_exclude_a_mode(monkeypatch, logged):
    """options (e.g. the C++ wrapper) go to torch.compile as they are; with a mode as
    well the hook refuses at construction (torch.compile takes one of the two)."""
    seen = []
    monkeypatch.setattr(torch, 'compile', lambda fn, **kw: seen.append(kw) or fn)
    hook = ADPDCompileHook(parts=('backbone',), options=dict(cpp_wrapper=True))
    hook.before_run(_runner(TwoParts()))
    assert seen == [dict(options=dict(cpp_wrapper=True))]
    with pytest.raises(ValueError, match='mode .* or options'):
        ADPDCompileHook(mode='reduce-overhead', options=dict(cpp_wrapper=True))


def test_validation_runs_eager_and_training_compiles_as_usual(logged):
    """Between before_val_epoch and after_val_epoch the compiled parts run eagerly (same
    outputs, nothing compiled for eval mode or its batch sizes); training before and
    after compiles as usual, so torch's stance is put back. eager_val=False compiles
    validation too."""
    graphs = []

    def counting_backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    def run(eager_val):
        torch._dynamo.reset()
        graphs.clear()
        torch.manual_seed(0)
        model, x = TwoParts(), torch.randn(4, 4)
        hook = ADPDCompileHook(parts=('anatomy_head',), backend=counting_backend,
                               eager_val=eager_val)
        hook.before_run(_runner(model))
        model.anatomy_head(x)  # a training iteration: compiles
        trained = len(graphs)
        hook.before_val_epoch(None)
        model.eval()
        out = model.anatomy_head(torch.randn(3, 4))
        assert out.shape == (3, 2)
        hook.after_val_epoch(None, {})
        during_val = len(graphs) - trained
        model.train()
        model.anatomy_head(torch.randn(5, 4))  # training again, a new size: compiles
        after = len(graphs) - trained - during_val
        hook.after_run(_runner(model))
        return trained, during_val, after

    assert run(eager_val=True) == (1, 0, 1)
    assert run(eager_val=False)[:2] == (1, 1)
