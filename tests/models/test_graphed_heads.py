"""ADPD(graph_heads=True): the heads + losses of an eager training step go through
torch.cuda.make_graphed_callables. This CPU has no CUDA, so torch's capture is replaced
by a stand-in that records the call and returns the callable as it is (its eager
forward); what is checked is everything around it: the same losses and gradients as the
plain step, the targets reassembled, one capture per input signature, the fallbacks to
eager (gradient accumulation included), and the model's state. What the graphs
themselves compute is checked on a GPU (benchmark.py --graph-heads compares them with the
eager step, benchmarks/run_gpu.sh step eager_graphed)."""
import copy

import pytest
import torch

from mmadpd.models.detectors import graphed_heads
from mmadpd.utils.compile import compile_submodules

from adpd_model_builders import deterministic_tiny_adpd, small_training_batch


def _model(graph_heads=True, mil=True, loc=True):
    # no randomness: the graphed and the plain step are compared element by element
    return deterministic_tiny_adpd(mil=mil, loc=loc, graph_heads=graph_heads)


def _batch(num=3):
    return small_training_batch(num)


@pytest.fixture
def captures(monkeypatch):
    """torch's capture replaced (see the module docstring); 'CUDA' tensors assumed."""
    calls = []

    def fake_make_graphed_callables(module, sample_args, **kwargs):
        call = dict(module=module, sample=sample_args, kwargs=kwargs,
                    cache=torch.is_autocast_cache_enabled(), replays=0)
        calls.append(call)
        module(*sample_args)  # torch's warm-up runs the callable eagerly
        eager_forward = module.forward

        def replay(*args):  # as torch does, the instance's forward is replaced
            call['replays'] += 1
            return eager_forward(*args)

        module.forward = replay
        return module

    monkeypatch.setattr(torch.cuda, 'make_graphed_callables', fake_make_graphed_callables)
    monkeypatch.setattr(graphed_heads, '_on_cuda', lambda tensor: True)
    return calls


def _step(model, batch=None):
    data = model.data_preprocessor(batch or _batch(), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    total = sum(losses.values())
    total.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return {k: v.detach() for k, v in losses.items()}, grads


@pytest.mark.parametrize('mil,loc', [(True, True), (False, True), (True, False)])
def test_graphed_step_gives_the_plain_steps_losses_and_gradients(captures, mil, loc):
    ref_losses, ref_grads = _step(_model(graph_heads=False, mil=mil, loc=loc))
    model = _model(mil=mil, loc=loc)
    losses, grads = _step(model)
    assert len(captures) == 1
    assert list(losses) == list(ref_losses)  # names and their order
    for k in losses:
        assert torch.equal(losses[k], ref_losses[k]), k
    # gradients reach the heads through the graphed callable and the backbone through
    # the graph's input gradient
    assert grads.keys() == ref_grads.keys()
    assert any(n.startswith('backbone') for n in grads)
    for name in grads:
        assert torch.allclose(grads[name], ref_grads[name], rtol=1e-6, atol=1e-7), name


def test_one_capture_per_input_signature_from_static_copies(captures):
    model = _model()
    _step(model)
    _step(model)  # same shapes: the captured graph is replayed
    assert len(captures) == 1
    call = captures[0]
    feats, *targets = call['sample']
    # the graph's inputs are its own copies, as they must stay put between replays
    assert feats.requires_grad and feats.grad_fn is None
    assert not any(t.requires_grad for t in targets)
    assert any(t.dtype == torch.bool for t in targets)  # 'present' travels as it is
    assert call['kwargs']['allow_unused_input'] is True
    # the graphed callable holds the model's own heads, and is not part of the model
    assert call['module'].anatomy_head is model.anatomy_head
    assert not any(m is call['module'] for m in model.modules())
    _step(model, _batch(num=2))  # the epoch's last, smaller batch: a second signature
    assert len(captures) == 2
    _step(model, _batch(num=1))  # beyond max_signatures: eager, nothing captured
    assert len(captures) == 2


def test_capture_under_autocast_turns_its_weight_cache_off(captures):
    """torch refuses to capture under autocast with its weight cache on."""
    model = _model()
    data = model.data_preprocessor(_batch(), True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert torch.is_autocast_cache_enabled()
        model.loss(data['inputs'], data['data_samples'])
        assert torch.is_autocast_cache_enabled()  # restored after the capture
    assert captures[0]['cache'] is False
    # the autocast state is part of the signature: without autocast, another capture
    model.loss(data['inputs'], data['data_samples'])
    assert len(captures) == 2


def test_eager_where_graphs_do_not_apply(captures, monkeypatch):
    model = _model()
    data = model.data_preprocessor(_batch(), True)
    with torch.no_grad():
        model.loss(data['inputs'], data['data_samples'])
    model.eval()
    model.loss(data['inputs'], data['data_samples'])
    model.train()
    assert captures == []
    monkeypatch.setattr(graphed_heads, '_on_cuda', lambda tensor: tensor.is_cuda)
    model.loss(data['inputs'], data['data_samples'])  # CPU tensors
    assert captures == []
    monkeypatch.setattr(graphed_heads, '_on_cuda', lambda tensor: True)
    compiled = _model()
    compile_submodules(compiled, parts=('loss_by_feat',), backend='eager')
    compiled.loss(data['inputs'], data['data_samples'])
    assert captures == []
    off = _model(graph_heads=False)
    off.loss(data['inputs'], data['data_samples'])
    assert captures == [] and off.head_graphs() is None


def test_gradient_accumulation_runs_eagerly_after_its_first_step(captures, monkeypatch):
    """A replay would overwrite gradients the heads still hold (they are the graph's
    buffers): such a step runs eagerly, and the accumulated gradients are the plain
    model's."""
    def accumulate(model, batches):
        for batch in batches:
            data = model.data_preprocessor(batch, True)
            sum(model.loss(data['inputs'], data['data_samples']).values()).backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters()
                 if p.grad is not None}
        model.zero_grad(set_to_none=True)
        return grads

    logged = []
    monkeypatch.setattr(graphed_heads, 'print_log', lambda msg, **kw: logged.append(msg))
    batches = [_batch(3), _batch(3), _batch(3)]
    ref = accumulate(_model(graph_heads=False), batches)
    model = _model()
    grads = accumulate(model, batches)
    assert len(captures) == 1 and captures[0]['replays'] == 1  # the first step only
    assert grads.keys() == ref.keys()
    for name in ref:
        torch.testing.assert_close(grads[name], ref[name], msg=name)
    assert len(logged) == 1 and 'still hold gradients' in logged[0]
    accumulate(model, batches[:2])  # next accumulation: its first step replays again
    assert len(captures) == 1 and captures[0]['replays'] == 2
    assert len(logged) == 1  # said once


def test_state_dict_copies_and_moves(captures):
    model = _model()
    keys = list(_model(graph_heads=False).state_dict())
    _step(model)
    assert list(model.state_dict()) == keys
    assert len(model.head_graphs().graphs) == 1
    clone = copy.deepcopy(model)  # EMA-style copy: captures its own graphs
    assert clone.graph_heads and clone.head_graphs().graphs == {}
    assert clone.head_graphs().model is clone
    model.to(torch.float64)  # parameters replaced: the captured graphs are stale
    assert model.head_graphs().graphs == {}
