"""WorkerShutdownHook: persistent DataLoader workers are stopped when a run ends (not left
for the interpreter's exit), and a later run of the same Runner starts them again."""
import torch
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import DataLoader, Dataset

from mmadpd.engine.hooks import WorkerShutdownHook, shutdown_persistent_workers


class Numbers(Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, i):
        return dict(inputs=torch.tensor([float(i)]))


class Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = inputs * self.w
        if mode == 'loss':
            return dict(loss=(out - 1).pow(2).mean())
        return out


def _loader_cfg(persistent=True):
    return dict(dataset=Numbers(), batch_size=4, num_workers=2,
                persistent_workers=persistent,
                sampler=dict(type='InfiniteSampler', shuffle=False),
                collate_fn=dict(type='default_collate'))


def test_shutdown_persistent_workers_stops_them():
    dl = DataLoader(Numbers(), batch_size=4, num_workers=2, persistent_workers=True)
    for _ in dl:  # one full epoch: the workers stay up for the next one
        pass
    workers = list(dl._iterator._workers)
    assert workers and all(w.is_alive() for w in workers)
    assert shutdown_persistent_workers(dl) is True
    assert dl._iterator is None
    assert not any(w.is_alive() for w in workers)
    assert shutdown_persistent_workers(dl) is False  # nothing left to stop
    assert sum(len(b['inputs']) for b in dl) == 16  # the next epoch starts new workers


def test_loaders_without_persistent_workers_are_left_alone():
    assert shutdown_persistent_workers(DataLoader(Numbers(), num_workers=0)) is False
    assert shutdown_persistent_workers(None) is False


def test_hook_stops_the_train_loop_workers_after_run(tmp_path):
    hook = WorkerShutdownHook()
    runner = Runner(
        model=Toy(), work_dir=str(tmp_path), train_dataloader=_loader_cfg(),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=3, val_interval=100),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        default_hooks=dict(checkpoint=None, logger=None), custom_hooks=[hook],
        default_scope='mmdet')  # as every test's Runner: the scope is process-global
    seen = {}

    class Spy(WorkerShutdownHook):  # records the workers before the hook under test runs
        priority = 'NORMAL'

        def after_run(self, runner):
            seen['workers'] = list(runner.train_loop.dataloader._iterator._workers)

    runner.register_hook(Spy())
    runner.train()
    assert seen['workers'] and hook.stopped == ['train']
    assert not any(w.is_alive() for w in seen['workers'])
    assert runner.train_loop.dataloader._iterator is None
