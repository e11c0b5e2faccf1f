"""Calibrate per-class operating thresholds of a checkpoint on the CXR8 val half.

    python tools/analysis_tools/calibrate.py CONFIG CKPT --out CKPT_OUT [--split val]
        [--iou-thr 0.1] [--min-gt-boxes 10] [--work-dir DIR] [--cfg-options k=v ...]

Runs the model over the config's VALIDATION loader (the CXR8 val half; the test half is
never used), chooses per target class the score threshold with the best F1 of
localisation (a box is a hit when its class matches a GT box with IoU > --iou-thr, each
GT box counted once), and writes CKPT_OUT: the checkpoint with ``meta['calibration']``
(thresholds, per-class precision / recall / F1 / GT boxes, fallback flags, the data file
and its sha256, the git commit). A class with fewer than --min-gt-boxes val boxes, or
without any hit, keeps the config's ``prob_thr`` and is flagged. Prints the table.
"""
import argparse
import os.path as osp
import sys
import tempfile

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _cli_common import clear_errors, fail  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    from mmengine.config import DictAction

    p = argparse.ArgumentParser(description='Per-class operating thresholds on CXR8 val')
    p.add_argument('config', help='model config (its val loader is the CXR8 val half)')
    p.add_argument('checkpoint', help='checkpoint to calibrate')
    p.add_argument('--out', required=True, help='calibrated checkpoint to write (.pth)')
    p.add_argument('--split', default='val', choices=['val'],
                   help='the split to calibrate on: only the val half (never the test half)')
    p.add_argument('--iou-thr', type=float, default=0.1, help='hit: IoU > this (default 0.1)')
    p.add_argument('--min-gt-boxes', type=int, default=10,
                   help='classes with fewer val GT boxes keep prob_thr (flagged)')
    p.add_argument('--work-dir', help='folder for the run log (default: a temporary one)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config entries, key=value')
    return p.parse_args(argv)


def _ann_file(dataset_cfg) -> str:
    root = dataset_cfg.get('data_root') or ''
    return osp.join(root, dataset_cfg['ann_file'])


def run_val_half(cfg, checkpoint: str, work_dir: str):
    """The model's top-1 predictions and the GT of every val image, sorted by image id
    (``CXR8DetectionMetric`` details) -> (preds, gts, class_names)."""
    from mmengine.runner import Runner

    cfg.load_from, cfg.resume, cfg.work_dir = checkpoint, False, work_dir
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper', 'param_scheduler'):
        cfg[key] = None
    cfg.test_dataloader = cfg.val_dataloader
    cfg.test_evaluator = dict(type='CXR8DetectionMetric', keep_details=True)
    if cfg.get('default_hooks', {}).get('report') is not None:
        cfg.default_hooks.report.on_test = False  # no report of the val half
    runner = Runner.from_cfg(cfg)
    runner.test()
    details = runner.test_evaluator.metrics[0].last_details
    preds = [dict(bboxes=r['pred_bboxes'], scores=r['pred_scores'], labels=r['pred_labels'])
             for r in details['images']]
    gts = [dict(bboxes=r['gt_bboxes'], labels=r['gt_labels']) for r in details['images']]
    return preds, gts, list(details['class_names'])


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config

    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            fail(f'{what} file not found: {path}')
    if not args.out.endswith('.pth'):
        fail(f'--out must be a .pth file, got {args.out}')
    with clear_errors():
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        val_ann = _ann_file(cfg.val_dataloader.dataset)
    test_ds = (cfg.get('test_dataloader') or {}).get('dataset')
    if test_ds is not None and osp.abspath(_ann_file(test_ds)) == osp.abspath(val_ann):
        fail(f'the val loader reads the test file {val_ann}; calibrating on the test half '
             'would leak it into the reported numbers')
    fallback = float((cfg.model.get('postprocessor') or {}).get('prob_thr', 0.5))

    import torch

    from mmadpd.apis.calibration import make_calibration, save_with_calibration
    from mmadpd.evaluation.functional.operating_points import calibrate_thresholds
    from mmadpd.evaluation.operating_point_table import operating_points_table
    from mmadpd.utils import register_all_modules

    register_all_modules(init_default_scope=False)

    with clear_errors():
        with tempfile.TemporaryDirectory() as tmp:
            preds, gts, classes = run_val_half(cfg, args.checkpoint, args.work_dir or tmp)
    rows = calibrate_thresholds(preds, gts, classes, iou_thr=args.iou_thr,
                                min_gt_boxes=args.min_gt_boxes, fallback=fallback)
    calibration = make_calibration(
        rows, iou_thr=args.iou_thr, min_gt_boxes=args.min_gt_boxes,
        fallback_threshold=fallback, ann_file=val_ann, num_images=len(preds),
        config=osp.abspath(args.config), source_checkpoint=args.checkpoint, repo=REPO,
        split=args.split)
    try:
        checkpoint = torch.load(args.checkpoint, map_location='cpu', weights_only=False)
    except Exception as exc:  # torch raises many types for a non-checkpoint file
        fail(f'{args.checkpoint}: cannot read the checkpoint ({type(exc).__name__}: {exc})')
    save_with_calibration(checkpoint, calibration, args.out)
    print(f'\nOperating points on the {args.split} half ({len(preds)} images, '
          f'{osp.abspath(val_ann)}; hit at IoU > {args.iou_thr:g}):\n')
    print(operating_points_table(rows))
    flagged = [r['class'] for r in rows if r['fallback']]
    if flagged:
        print(f'\nnot calibrated (prob_thr {fallback:g} kept): {", ".join(flagged)}')
    print(f'\ncalibrated checkpoint written to {osp.abspath(args.out)}')
    return rows


if __name__ == '__main__':
    main()
