"""WorkerShutdownHook: stop persistent DataLoader workers when a run ends, not at exit.

A DataLoader with ``persistent_workers=True`` keeps its worker processes (and, with
``pin_memory=True``, its pin-memory thread) until the iterator is deleted. Left to
interpreter exit, older torch releases clean each such worker up with an atexit handler
that joins it with a 5 s timeout before terminating it, without first telling it to stop
(pytorch/pytorch#81794): 5 s per worker, one after the other, so the fast configs' 16
training + 16 validation workers would hold a finished ``tools/train.py`` ~160 s. Seen on
the H100 (torch 2.11): a benchmark process whose 16-worker pinned validation loader was
still alive wrote its results and then did not exit in the 2 minutes it had left. (The
torch 2.14 here shuts such iterators down in order at exit.) Shutting them down in
``after_run`` takes the orderly path everywhere: each worker is sent its stop signal,
then joined, well under a second, and the atexit handlers find nothing alive.

A later ``runner.val()``/``runner.test()`` of the same Runner starts new workers at its
first batch. (``runner.train()`` runs its iteration-based schedule once: a second call
finds ``max_iters`` reached and iterates no more.)
"""
from __future__ import annotations

from typing import List

from mmengine.hooks import Hook
from mmengine.runner import BaseLoop

from mmdet.registry import HOOKS


def shutdown_persistent_workers(dataloader) -> bool:
    """Stop the worker processes a persistent DataLoader keeps between epochs.

    Returns True when there were workers to stop. A DataLoader without persistent workers
    (or not iterated yet) is left as it is. Relies on ``DataLoader._iterator``, where
    torch keeps the persistent iterator (unchanged since torch 1.7)."""
    iterator = getattr(dataloader, '_iterator', None)
    if iterator is None or not hasattr(iterator, '_shutdown_workers'):
        return False
    iterator._shutdown_workers()
    dataloader._iterator = None  # the next epoch builds a fresh iterator (new workers)
    return True


@HOOKS.register_module()
class WorkerShutdownHook(Hook):
    """Stops the persistent DataLoader workers of the runner's train / val / test loops
    in ``after_run`` (see the module docstring for why this cannot wait for exit).

    Only loops the runner has already built are touched (building one here would start
    its dataset); ``stopped`` lists the loops whose workers were stopped by the last run.
    """

    priority = 'LOWEST'  # after every other after_run (e.g. a report still being written)

    def __init__(self) -> None:
        self.stopped: List[str] = []

    def after_run(self, runner) -> None:
        self.stopped = []
        for name in ('train', 'val', 'test'):
            loop = getattr(runner, f'_{name}_loop', None)
            if not isinstance(loop, BaseLoop):  # not built: a config dict or None
                continue
            if shutdown_persistent_workers(getattr(loop, 'dataloader', None)):
                self.stopped.append(name)
