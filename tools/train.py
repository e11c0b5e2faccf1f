"""Train a detector with an mmengine Runner (mmdet's tools/train.py interface).

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--resume [CKPT]]
                          [--cfg-options k=v ...] [--launcher {none,pytorch,slurm}]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _cli_common import (add_common_args, checkpoint_problem, clear_errors, fail,  # noqa: E402
                         load_config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train an mmadpd (mmdet) model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (AmpOptimWrapper)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the learning rate by total batch / auto_scale_lr.base_batch_size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint of the work '
                        'dir when no path is given')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    # Imported late so that --help is fast and argument errors come first.
    from mmengine.runner import Runner

    from mmadpd.utils import register_all_modules, shutdown_distributed

    register_all_modules(init_default_scope=False)
    cfg = load_config(args)

    if args.amp:
        lazy = 'LazyGradNorm' in str(cfg.optim_wrapper.get('type', ''))
        cfg.optim_wrapper.type = 'LazyGradNormAmpOptimWrapper' if lazy else 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', dict(base_batch_size=128))
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        problem = checkpoint_problem(args.resume)
        if problem:
            fail(problem)
        cfg.resume = True
        cfg.load_from = args.resume

    with clear_errors(args.config):
        runner = Runner.from_cfg(cfg)
        runner.train()
    shutdown_distributed()


if __name__ == '__main__':
    main()
