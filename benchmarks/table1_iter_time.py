"""Seconds per training iteration of configs on a phantom set (the Table-1 budget).

    MMADPD_PHANTOM_DIR=DIR python benchmarks/table1_iter_time.py OUT.json CONFIG[:key=value...] ...

DIR: a converted phantom set with a CXR8 training set (tools/analysis_tools/table1.py
--tiny writes one under WORK_DIR/data). Each config trains 5 iterations at its own batch
size in this process (no DataLoader workers, no validation); the first iteration is
reported apart (warm-up) and the median of the other four is the rate.
"""
import json
import os
import platform
import statistics
import sys
import time

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from mmadpd.utils import register_all_modules


class IterTimer(Hook):

    def __init__(self):
        self.times = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.start = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.times.append(time.perf_counter() - self.start)


def main(out, specs):
    register_all_modules(init_default_scope=False)
    results = {}
    for spec in specs:
        config, *options = spec.split(':')
        cfg = Config.fromfile(config)
        cfg.merge_from_dict({
            'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False,
            'train_cfg.max_iters': 5, 'train_cfg.val_interval': 1000, 'param_scheduler': [],
            'default_hooks.checkpoint.interval': 1000})
        cfg.merge_from_dict({k: eval(v) for k, v in (o.split('=', 1) for o in options)})
        cfg.work_dir = os.path.join(os.path.dirname(os.path.abspath(out)), 'iter_time_wd')
        runner = Runner.from_cfg(cfg)
        timer = IterTimer()
        runner.register_hook(timer)
        runner.train()
        results[spec] = dict(batch_size=cfg.train_dataloader.batch_size,
                             first_s=round(timer.times[0], 2),
                             iter_s=[round(t, 2) for t in timer.times[1:]],
                             median_s=round(statistics.median(timer.times[1:]), 2))
        print(spec, results[spec], flush=True)
    with open(out, 'w') as f:
        json.dump(dict(command='python benchmarks/table1_iter_time.py ' + ' '.join(
            [out] + specs), machine=platform.node(), cpus=os.cpu_count(),
            load_average=os.getloadavg(), omp_num_threads=os.environ.get('OMP_NUM_THREADS'),
            results=results), f, indent=1)


if __name__ == '__main__':
    main(sys.argv[1], sys.argv[2:])
