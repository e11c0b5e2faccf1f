"""Does a training run repeat bit for bit? Trains a config for a few iterations with a
given intra-op thread count and DataLoader worker count and saves the weights; compare
two saved files with --compare.

    MMADPD_PHANTOM_DIR=DIR python benchmarks/train_determinism.py CONFIG THREADS WORKERS OUT.pt
    python benchmarks/train_determinism.py --compare A.pt B.pt

(6 iterations, batch 8, no validation; the config's seed, randomness.deterministic as set.)
"""
import os
import sys

import torch


def train(config, threads, workers, out):
    torch.set_num_threads(threads)
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmadpd.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config)
    cfg.merge_from_dict({
        'train_dataloader.num_workers': workers,
        'train_dataloader.persistent_workers': workers > 0,
        'train_dataloader.batch_size': 8, 'train_cfg.max_iters': 6,
        'train_cfg.val_interval': 1000, 'default_hooks.checkpoint.interval': 6})
    cfg.work_dir = os.path.splitext(out)[0] + '_work'
    runner = Runner.from_cfg(cfg)
    runner.train()
    torch.save({k: v.clone() for k, v in runner.model.state_dict().items()}, out)


def compare(a, b):
    sa, sb = torch.load(a), torch.load(b)
    diff = max((sa[k].float() - sb[k].float()).abs().max().item()
               for k in sa if sa[k].is_floating_point())
    print(f'max |weight difference| {a} vs {b}: {diff}')
    return diff


if __name__ == '__main__':
    if sys.argv[1] == '--compare':
        compare(sys.argv[2], sys.argv[3])
    else:
        train(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
