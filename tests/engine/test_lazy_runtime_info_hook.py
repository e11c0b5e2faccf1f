"""LazyRuntimeInfoHook puts exactly RuntimeInfoHook's values into the message hub (same
order, same log lines, same checkpoint state), but reads them back only when they are
about to be used."""
import json
import os.path as osp
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmadpd.engine import LazyRuntimeInfoHook

TOOLS_TESTS = osp.join(osp.dirname(__file__), '..', 'tools')
TOY_CFG = osp.join(osp.dirname(__file__), '..', 'data', 'configs', 'toy.py')


class _HubSpy(Hook):
    """Records, after every iteration (after the runtime-info hook), how many loss values
    the message hub holds."""
    priority = 'LOW'

    def __init__(self):
        self.seen = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        scalars = runner.message_hub.log_scalars
        self.seen.append(len(scalars['train/loss'].data[0]) if 'train/loss' in scalars
                         else 0)


def _run(tmp_path, name, runtime_info):
    sys.path.insert(0, TOOLS_TESTS)  # toy_components
    try:
        cfg = Config.fromfile(TOY_CFG)
        cfg.work_dir = str(tmp_path / name)
        cfg.experiment_name = f'lazy-hook-{name}'
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=23, val_interval=10)
        cfg.default_hooks.logger = dict(type='LoggerHook', interval=5)
        cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=7,
                                            by_epoch=False)
        cfg.default_hooks.runtime_info = runtime_info
        runner = Runner.from_cfg(cfg)
        spy = _HubSpy()
        runner.register_hook(spy)
        runner.train()
    finally:
        sys.path.remove(TOOLS_TESTS)
    losses = list(runner.message_hub.log_scalars['train/loss'].data[0])
    ckpts = {i: torch.load(osp.join(cfg.work_dir, f'iter_{i}.pth'), map_location='cpu',
                           weights_only=False)['message_hub']['log_scalars']['train/loss']
             for i in (7, 14, 21)}
    scalars_file = osp.join(cfg.work_dir, runner.timestamp, 'vis_data', 'scalars.json')
    with open(scalars_file) as f:
        logged = [(r['step'], r['loss']) for r in map(json.loads, f) if 'loss' in r]
    return losses, ckpts, logged, spy.seen, runner


def test_same_hub_logs_and_checkpoints_as_mmengine(tmp_path):
    ref = _run(tmp_path, 'ref', dict(type='RuntimeInfoHook'))
    lazy = _run(tmp_path, 'lazy', dict(type='LazyRuntimeInfoHook'))
    assert isinstance([h for h in lazy[4].hooks if 'RuntimeInfo' in type(h).__name__][0],
                      LazyRuntimeInfoHook)
    ref_losses, lazy_losses = ref[0], lazy[0]
    assert len(ref_losses) == 23 and lazy_losses == ref_losses
    for i in (7, 14, 21):  # a resumed run sees every iteration up to the checkpoint
        assert len(lazy[1][i].data[0]) == i
        assert list(lazy[1][i].data[0]) == list(ref[1][i].data[0])
    assert lazy[2] == ref[2] and [s for s, _ in ref[2]] == [5, 10, 15, 20]
    # mmengine's hook has each value in the hub at once; the lazy one only at the
    # logging interval (5), at the end of a dataloader pass (8 = 32 samples / batch 4),
    # at validation, checkpoints and the end.
    assert ref[3] == list(range(1, 24))
    assert lazy[3][:10] == [0, 0, 0, 0, 5, 5, 5, 8, 8, 10]
    assert lazy[3][-1] == 23


def test_flush_interval_validated():
    with pytest.raises(ValueError, match='flush_interval'):
        LazyRuntimeInfoHook(flush_interval=0)


def test_flush_keeps_order_and_python_numbers():
    """Tensors and plain numbers of several iterations reach the hub in iteration order."""
    from types import SimpleNamespace
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('lazy-hook-unit')
    runner = SimpleNamespace(message_hub=hub, iter=0, max_iters=100,
                             train_dataloader=list(range(1000)))
    hook = LazyRuntimeInfoHook(flush_interval=3)
    for i in range(3):
        runner.iter = i
        hook.after_train_iter(runner, i, outputs=dict(
            loss=torch.tensor(1.0 + i), acc=0.5 * i, loss_b=torch.tensor([[10.0 * i]])))
        if i < 2:  # not read yet
            assert 'train/loss' not in hub.log_scalars
    assert list(hub.log_scalars['train/loss'].data[0]) == [1.0, 2.0, 3.0]
    assert list(hub.log_scalars['train/acc'].data[0]) == [0.0, 0.5, 1.0]
    assert list(hub.log_scalars['train/loss_b'].data[0]) == [0.0, 10.0, 20.0]
    assert hook._pending == []
