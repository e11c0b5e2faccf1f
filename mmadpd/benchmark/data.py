"""(d) the data pipeline as one DataLoader worker runs it, and (d2) the main process's
CPU time per batch received from the workers."""
from __future__ import annotations

import copy
import statistics
import time

from ..engine.hooks.worker_shutdown_hook import shutdown_persistent_workers
from .timing import worker_threads


def config_collate(cfg):
    """The collate function the config's train DataLoader uses (as Runner builds it)."""
    from functools import partial
    from mmengine.registry import FUNCTIONS
    coll = dict(cfg.train_dataloader.get('collate_fn', dict(type='pseudo_collate')))
    fn = coll.pop('type')
    return partial(FUNCTIONS.get(fn) if isinstance(fn, str) else fn, **coll), \
        fn if isinstance(fn, str) else getattr(fn, '__name__', str(fn))


def bench_pipeline(cfg, args):
    """Dataset __getitem__ (decode + augmentation + pack) + collate in this process.

    Returns samples/s (median of --repeats passes over the first --pipeline-samples
    images), the set size, the collate name and the median ms per sample of every
    transform (one extra pass)."""
    from mmdet.registry import DATASETS
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    collate, collate_name = config_collate(cfg)
    n = min(args.pipeline_samples, len(ds))
    batch_size = min(32, args.batch_size)
    with worker_threads():
        for i in range(min(10, n)):
            ds[i]
        rates = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            batch = []
            for i in range(n):
                batch.append(ds[i])
                if len(batch) == batch_size:
                    collate(batch)
                    batch = []
            if batch:
                collate(batch)
            rates.append(n / (time.perf_counter() - t0))
        per_transform = {}
        for i in range(n):
            results = ds.get_data_info(i)
            for t in ds.pipeline.transforms:
                t0 = time.perf_counter()
                results = t(results)
                per_transform.setdefault(type(t).__name__, []).append(
                    time.perf_counter() - t0)
    breakdown = {k: 1e3 * statistics.median(v) for k, v in per_transform.items()}
    return statistics.median(rates), len(ds), collate_name, breakdown


def timing_loader_cfg(dl, args, device, workers=None):
    """The config's train DataLoader as the timed parts use it (modified in place and
    returned): --loop-batch-size, ``workers`` processes (persistent), pinned memory on a
    GPU, and a sampler that never ends: a small (phantom) set would end an epoch every
    few batches, and each new epoch waits for its first batch; the real 234k-image set
    does that once per ~1,800 iterations (nothing measurable)."""
    if args.loop_batch_size:
        dl['batch_size'] = args.loop_batch_size
    if workers is not None:
        dl['num_workers'] = workers
        dl['persistent_workers'] = workers > 0
    dl['pin_memory'] = device.type == 'cuda'
    dl['sampler'] = dict(type='InfiniteSampler', shuffle=True)
    return dl


def bench_transfer(cfg, args, device, batches=12):
    """Main-process CPU time per batch received from DataLoader workers: unpickling the
    batch (shared-memory handles, the data samples), unpacking it and, on a GPU, pinning
    it. This runs on the one main process however many workers there are, so it bounds
    the training loop: at 2,200 samples/s a 128-sample batch must cost well under 58 ms.

    Returns (median ms per batch, batch size, workers)."""
    from mmengine.runner import Runner
    from mmengine.utils.dl_utils import set_multi_processing
    dl_cfg = timing_loader_cfg(copy.deepcopy(cfg.train_dataloader), args, device,
                               workers=max(1, min(args.workers or 2, 4)))
    set_multi_processing(mp_start_method='fork', opencv_num_threads=0, distributed=False)
    loader = Runner.build_dataloader(dl_cfg, seed=0)
    it = iter(loader)
    next(it)  # workers started
    per_batch = []
    for _ in range(batches):
        # process_time: CPU of the main process only (its pin-memory thread included),
        # not the time spent waiting for the workers
        t0 = time.process_time()
        next(it)
        per_batch.append(time.process_time() - t0)
    shutdown_persistent_workers(loader)  # now, not at exit (see WorkerShutdownHook)
    del it, loader
    return 1e3 * statistics.median(per_batch), dl_cfg['batch_size'], dl_cfg['num_workers']
