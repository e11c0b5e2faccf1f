"""FastADPD, the fast config's layer around ADPD: the same numbers as the plain model
(fused forms included), the stacked ``parse_losses``, and the CUDA-graphed heads.

Graphs: the heads + losses of an eager training step go through
torch.cuda.make_graphed_callables. This CPU has no CUDA, so torch's capture is replaced
by a stand-in that records the call and returns the callable as it is (its eager
forward); what is checked is everything around it: the same losses and gradients as the
plain step, the targets reassembled, one capture per input signature, the fallbacks to
eager (gradient accumulation included), and the model's state. What the graphs
themselves compute is checked on a GPU (benchmark.py --graph-heads compares them with the
eager step, benchmarks/run_gpu.sh step eager_graphed)."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel

from mmdet.registry import MODELS

from mmadpd.models.detectors import ADPD, FastADPD, fast_adpd
from mmadpd.utils.compile import compile_submodules

from adpd_model_builders import (deterministic_tiny_adpd, small_training_batch,
                                 tiny_adpd_cfg)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
graphed_heads = fast_adpd  # the module whose capture helpers are replaced


def _model(graph_heads=True, mil=True, loc=True):
    # no randomness: the graphed and the plain step are compared element by element
    if graph_heads is None:  # the plain ADPD
        return deterministic_tiny_adpd(mil=mil, loc=loc)
    return deterministic_tiny_adpd(mil=mil, loc=loc, type='FastADPD',
                                   graph_heads=graph_heads)


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
    ref_losses, ref_grads = _step(_model(graph_heads=None, mil=mil, loc=loc))
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
    ref = accumulate(_model(graph_heads=None), batches)
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
    keys = list(_model(graph_heads=None).state_dict())
    _step(model)
    assert list(model.state_dict()) == keys
    assert len(model.head_graphs().graphs) == 1
    clone = copy.deepcopy(model)  # EMA-style copy: captures its own graphs
    assert clone.graph_heads and clone.head_graphs().graphs == {}
    assert clone.head_graphs().model is clone
    model.to(torch.float64)  # parameters replaced: the captured graphs are stale
    assert model.head_graphs().graphs == {}


# ---------------------------------------------------------------- the fast layers' numbers
def _fused(cfg):
    """``cfg`` with the fast config's layers: FastADPD and every fused form."""
    cfg = copy.deepcopy(cfg)
    cfg['type'] = 'FastADPD'
    head = cfg['anatomy_head']
    head['layer_cfg'] = dict(head.get('layer_cfg') or {}, fused_attention=True)
    head['loss_iou'] = dict(head.get('loss_iou') or dict(type='AlignedGIoULoss',
                                                         loss_weight=2.0), fused=True)
    path = cfg['pathology_head']
    if path.get('loss_cls'):
        path['loss_cls'] = dict(path['loss_cls'], fused=True)
    if path.get('loss_mil'):
        mil = path['loss_mil']
        mil['loss_cls'] = dict(mil.get('loss_cls') or dict(type='AsymmetricLoss',
                                                            use_sigmoid=False), fused=True)
    return cfg


def _train_and_predict(cfg, batch):
    """Seeded build, one loss + backward with dropout ON (seeded), then predict."""
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    torch.manual_seed(1)
    losses = model.loss(data['inputs'], data['data_samples'])
    total, log_vars = model.parse_losses(losses)
    total.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    model.eval()
    data = model.data_preprocessor(copy.deepcopy(batch), False)
    preds = model.predict(data['inputs'], data['data_samples'])
    return model, {k: v.detach() for k, v in losses.items()}, total.detach(), grads, preds


def _assert_same_step(plain, fast):
    model, losses, total, grads, preds = plain
    fmodel, flosses, ftotal, fgrads, fpreds = fast
    assert type(model) is ADPD and type(fmodel) is FastADPD
    assert list(flosses) == list(losses)
    for key in losses:  # the fused forms reorder float arithmetic: rounding only
        torch.testing.assert_close(flosses[key], losses[key], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(ftotal, total, rtol=1e-5, atol=1e-7)
    assert fgrads.keys() == grads.keys()
    scale = max(float(g.abs().max()) for g in grads.values())
    for name in grads:  # relative to the largest gradient: BN sums cancel to ~0
        torch.testing.assert_close(fgrads[name], grads[name], rtol=1e-4,
                                   atol=1e-5 * scale, msg=name)
    for p, f in zip(preds, fpreds):
        torch.testing.assert_close(f.pred_regions.bboxes, p.pred_regions.bboxes)
        torch.testing.assert_close(f.pred_regions.pathology_probs,
                                   p.pred_regions.pathology_probs)
        assert torch.equal(f.pred_instances.labels, p.pred_instances.labels)


@pytest.mark.parametrize('mil,loc', [(True, True), (False, True), (True, False)])
def test_fast_layers_give_the_plain_models_numbers(mil, loc):
    """Same seed, dropout on: the fused attention draws the plain path's dropout masks,
    and losses, gradients and predictions agree up to float rounding."""
    cfg = tiny_adpd_cfg(num_regions=5, num_classes=4, mil=mil, loc=loc)
    batch = small_training_batch(3)
    _assert_same_step(_train_and_predict(cfg, batch), _train_and_predict(_fused(cfg), batch))


def test_fast_config_step_equals_the_default_configs():
    """configs/adpd/loc_adpd_fast-bf16.py's model (channels_last off: a CPU) against
    loc_adpd.py's: 29 regions, 53 classes, d 512, DenseNet121."""
    from mmadpd.benchmark.steps import synthetic_batch
    plain = Config.fromfile(osp.join(ROOT, 'configs/adpd/loc_adpd.py')).model
    fast = Config.fromfile(osp.join(ROOT, 'configs/adpd/loc_adpd_fast-bf16.py')).model
    fast.data_preprocessor.channels_last = False
    for cfg in (plain, fast):
        cfg.backbone.init_cfg = None
    batch = synthetic_batch(2, 64, 29, 53, torch.device('cpu'))
    _assert_same_step(_train_and_predict(plain.to_dict(), batch),
                      _train_and_predict(fast.to_dict(), batch))


def test_deprecated_graph_heads_key_builds_the_fast_layer():
    cfg = tiny_adpd_cfg()
    with pytest.warns(DeprecationWarning, match='FastADPD'):
        model = MODELS.build(dict(cfg, graph_heads=True))
    assert type(model) is FastADPD and model.graph_heads is True
    assert type(MODELS.build(dict(cfg, graph_heads=False))) is ADPD
    assert type(copy.deepcopy(model)) is FastADPD


def test_parse_losses_equals_mmengine():
    model = MODELS.build(dict(tiny_adpd_cfg(), type='FastADPD'))
    leaf = torch.tensor([0.5, 1.25, 2.0, 0.75], requires_grad=True)
    losses = dict(loss_a=leaf[0] * 2, loss_b=leaf[1] ** 2, acc=leaf[2] + 1,
                  loss_c=leaf[3].exp())
    total, log_vars = model.parse_losses(losses)
    ref_total, ref_log = BaseModel.parse_losses(model, losses)
    assert list(log_vars) == list(ref_log) == ['loss', 'loss_a', 'loss_b', 'acc', 'loss_c']
    for key in ref_log:
        assert torch.allclose(log_vars[key], ref_log[key]), key
    # logged terms are copies: a term may live in a CUDA graph's memory, which the next
    # iteration overwrites while the logging hooks still hold the value
    for key in losses:
        assert log_vars[key].data_ptr() != losses[key].data_ptr(), key
        assert not log_vars[key].requires_grad
    grad, = torch.autograd.grad(total, leaf, retain_graph=True)
    ref_grad, = torch.autograd.grad(ref_total, leaf)
    assert torch.equal(grad, ref_grad) and grad[2] == 0  # 'acc' is logged, not trained
    # non-scalar terms: mmengine's path (its .mean() of each term)
    total, _ = model.parse_losses(dict(loss_v=leaf[:2] * 1.0))
    assert torch.allclose(total, leaf[:2].mean())
