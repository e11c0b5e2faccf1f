"""Evaluate a checkpoint with an mmengine Runner (mmdet's tools/test.py interface).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
                         [--show-dir DIR] [--show [--wait-time S]] [--cfg-options k=v ...]
                         [--launcher ...]

At the end it prints the paper's Table-1 layout for the metric and where the report
(metrics.json, tables, PR curves, overlays) was written.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _cli_common import (add_common_args, checkpoint_problem, clear_errors, fail,  # noqa: E402
                         load_config)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (evaluate) an mmadpd model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump raw predictions to this pickle file')
    parser.add_argument('--show-dir', help='draw predictions of every image into '
                        '<work_dir>/<timestamp>/<show_dir>')
    parser.add_argument('--show', action='store_true',
                        help='show every overlay in a window (needs a display)')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='seconds each overlay of --show stays up')
    parser.add_argument('--method-name', default=None,
                        help='row name in the printed table (default: config name)')
    add_common_args(parser)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.runner import Runner

    from mmadpd.utils import register_all_modules, shutdown_distributed

    register_all_modules(init_default_scope=False)
    problem = checkpoint_problem(args.checkpoint)
    if problem:
        fail(problem)
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    # train-only parts must not be built (their data may be absent at test time)
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper', 'param_scheduler'):
        cfg[key] = None

    report_hook = (cfg.get('default_hooks') or {}).get('report')
    if args.method_name and report_hook is not None:
        # the report files carry the same row name as the printed table
        report_hook['method_name'] = args.method_name

    if args.show_dir or args.show:
        # mmdet's DetVisualizationHook; the config's visualizer (ADPDLocalVisualizer)
        # draws regions, fused regions, pathology boxes and ground truth
        vis_hook = cfg.default_hooks.get('visualization', None)
        if vis_hook is None:
            fail('--show-dir/--show need default_hooks.visualization (DetVisualizationHook)')
        vis_hook['draw'] = True
        if args.show_dir:
            vis_hook['test_out_dir'] = args.show_dir
        if args.show:
            vis_hook.update(show=True, wait_time=args.wait_time)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            fail('--out must be a .pkl or .pickle file')
        cfg.test_evaluator = [cfg.test_evaluator] if isinstance(cfg.test_evaluator, dict) \
            else list(cfg.test_evaluator)
        cfg.test_evaluator.append(dict(type='DumpDetResults', out_file_path=args.out))

    with clear_errors(args.config):
        runner = Runner.from_cfg(cfg)
        metrics = runner.test()

    if runner.rank == 0:
        _print_summary(metrics, args, cfg)
    shutdown_distributed()
    return metrics


def _print_summary(metrics, args, cfg):
    name = args.method_name or osp.splitext(osp.basename(args.config))[0]
    print()
    if any(k.startswith('cxr8/') for k in metrics):
        from mmadpd.evaluation import format_table1
        print(format_table1(metrics, name))
    else:  # a config with another evaluator: print its numbers as they are
        for key, value in metrics.items():
            print(f'{key}: {value}')
    report_dir = osp.join(cfg.work_dir, 'report')
    if osp.isdir(report_dir):
        print(f'\nreport written to {osp.abspath(report_dir)}')
    if args.out:
        print(f'raw predictions written to {osp.abspath(args.out)}')


if __name__ == '__main__':
    main()
