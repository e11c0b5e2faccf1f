"""Choose a CAM detector's ``box_threshold`` on the CXR8 **val** half.

    python tools/analysis_tools/cam_threshold.py CONFIG CHECKPOINT --work-dir DIR
        [--thresholds 0.2 0.3 0.4 0.5 0.6 0.7 0.8] [--cfg-options ...]

Tests the checkpoint on the val half (``val_dataloader``'s annotation file) once per
threshold with ``tools/test.py`` (``CXR8DetectionMetric``), writes ``DIR/cam_threshold.json``
(mAP per threshold, the best) and prints the option that sets the best one, e.g.
``--cfg-options model.box_threshold=0.4`` for ``tools/test.py`` on the test half. The
test half is never looked at.
"""
import argparse
import importlib.util
import json
import os
import os.path as osp
import sys

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='CAM box threshold chosen on the val half')
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--work-dir', required=True)
    p.add_argument('--thresholds', type=float, nargs='+',
                   default=[0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    p.add_argument('--cfg-options', nargs='+', default=[])
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmengine.config import Config
    val_ann = Config.fromfile(args.config).val_dataloader.dataset.ann_file
    spec = importlib.util.spec_from_file_location('cam_threshold_test',
                                                  osp.join(TOOLS, 'test.py'))
    test_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_tool)
    results = {}
    for thr in args.thresholds:
        metrics = test_tool.main([
            args.config, args.checkpoint, '--work-dir', osp.join(args.work_dir, f'thr_{thr}'),
            '--cfg-options', f'test_dataloader.dataset.ann_file={val_ann}',
            f'model.box_threshold={thr}', 'default_hooks.report.on_test=False',
            *args.cfg_options])
        results[thr] = metrics['cxr8/mAP']
    # ties: the lower threshold (larger boxes), for a deterministic choice
    best = max(sorted(results), key=lambda t: results[t])
    os.makedirs(args.work_dir, exist_ok=True)
    out = osp.join(args.work_dir, 'cam_threshold.json')
    with open(out, 'w') as f:
        json.dump(dict(config=args.config, checkpoint=args.checkpoint, split=val_ann,
                       val_mAP={str(t): v for t, v in results.items()}, best=best), f,
                  indent=1)
    print('\n'.join(f'box_threshold {t}: val mAP {v:.2f}' for t, v in results.items()))
    print(f'best on the val half: --cfg-options model.box_threshold={best}  ({out})')
    return best


if __name__ == '__main__':
    sys.exit(0 if main() is not None else 1)
