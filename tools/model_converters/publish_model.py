"""Publish a checkpoint under a name, as mmdet's tools/model_converters/publish_model.py.

    python tools/model_converters/publish_model.py CKPT NAME [--weights-dir DIR]
        [--config CFG] [--metrics TEST_REPORT/metrics.json]
        [--operating-points TEST_REPORT/operating_points.json]
        [--description TEXT] [--training-data TEXT] [--training-data-licence TEXT]
        [--evaluation-data TEXT] [--limit TEXT ...]

Strips the training state (optimizer, message hub, schedulers), embeds the config and the
metadata (calibrated thresholds stay in ``meta['calibration']``), writes
``DIR/NAME/NAME-<sha8>.pth`` and ``DIR/NAME/MODEL_CARD.md`` and adds NAME to
``DIR/index.json`` (DIR: --weights-dir, else $MMADPD_WEIGHTS_DIR, else
~/.cache/mmadpd/weights). Afterwards ``tools/infer.py NAME IMAGE ...`` and
``ADPDInferencer(NAME)`` load it by name. Fields not given default to the package index's
entry of NAME (mmadpd/data/weights_index.json), if it has one.
"""
import argparse
import json
import os.path as osp
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Publish an ADPD checkpoint under a name')
    p.add_argument('checkpoint', help='input checkpoint (.pth)')
    p.add_argument('name', help='registry name, e.g. loc-adpd_phantom')
    p.add_argument('--weights-dir', help='weights dir (default $MMADPD_WEIGHTS_DIR or '
                   '~/.cache/mmadpd/weights)')
    p.add_argument('--config', help="config to embed (default: the checkpoint's meta['cfg'])")
    p.add_argument('--metrics', help="test report's metrics.json (Table 1, per-class AP)")
    p.add_argument('--operating-points', help="test report's operating_points.json")
    for field in ('description', 'training-data', 'training-data-licence', 'evaluation-data'):
        p.add_argument(f'--{field}', help=f'model card / index field "{field}"')
    p.add_argument('--limit', action='append', dest='limits',
                   help='a known limit (repeatable; replaces the index default)')
    return p.parse_args(argv)


def _read_json(path, what):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        sys.exit(f'error: {what} {path}: {exc}')


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        sys.exit(f'error: checkpoint not found: {args.checkpoint}')
    from mmadpd.apis.publish import publish_checkpoint

    report = _read_json(args.metrics, '--metrics') if args.metrics else None
    points = _read_json(args.operating_points, '--operating-points')['per_class'] \
        if args.operating_points else None
    fields = dict(description=args.description, training_data=args.training_data,
                  training_data_licence=args.training_data_licence,
                  evaluation_data=args.evaluation_data, limits=args.limits)
    try:
        entry = publish_checkpoint(args.checkpoint, args.name, args.weights_dir,
                                   config=args.config, test_report=report,
                                   test_operating_points=points, fields=fields)
    except ValueError as exc:
        sys.exit(f'error: {exc}')
    root = osp.dirname(osp.dirname(entry['path']))
    print(f'published {args.name}: {entry["path"]}\n  sha256 {entry["sha256"]}\n'
          f'  model card {osp.join(root, entry["model_card"])}\n'
          f'  index {osp.join(root, "index.json")}')
    return entry


if __name__ == '__main__':
    main()
