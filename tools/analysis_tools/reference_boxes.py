"""Reference predictors on a CXR8 split, evaluated with the same protocol as the model.

    # oracle regions only (phantom set: needs its region ground truth)
    python tools/analysis_tools/reference_boxes.py --cxr8-json DATA/cxr8_test.json \
        --truth DATA/cxr8/phantom_truth.json --out-dir work_dirs/reference

    # + whole lung and the model itself, from predictions dumped by tools/test.py --out
    python tools/analysis_tools/reference_boxes.py --cxr8-json DATA/cxr8_test.json \
        --predictions preds.pkl --out-dir work_dirs/reference

    # or let the tool run the model (the config's test split must be this CXR8 split)
    python tools/analysis_tools/reference_boxes.py --cxr8-json DATA/cxr8_test.json \
        --config CFG --checkpoint CKPT --out-dir work_dirs/reference

Prints the rows in the paper's Table-1 layout and writes <out-dir>/reference_boxes.json.
"""
import argparse
import json
import os
import os.path as osp
import pickle
import sys


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Oracle-regions / whole-lung reference boxes')
    p.add_argument('--cxr8-json', required=True, help='CXR8 COCO JSON of the evaluated split')
    p.add_argument('--truth', help='phantom_truth.json (region ground truth) for the '
                   '"oracle regions" row')
    p.add_argument('--predictions', help='pickle of predicted data samples '
                   '(tools/test.py --out) for the "whole lung" and model rows')
    p.add_argument('--config', help='model config (runs its test loop) instead of --predictions')
    p.add_argument('--checkpoint', help='checkpoint for --config')
    p.add_argument('--method-name', default='model', help='row name of the model')
    p.add_argument('--fusion', default='wbf', choices=['wbf', 'none'],
                   help='post-processor fusion of the oracle (as the model)')
    p.add_argument('--presence-thr', type=float, default=0.5,
                   help='region present if its presence logit is > this (whole lung)')
    p.add_argument('--out-dir', required=True, help='output folder')
    return p.parse_args(argv)


def fail(msg):
    print(f'error: {msg}', file=sys.stderr)
    sys.exit(1)


def run_model(cfg_file, checkpoint, out_dir):
    """Test loop of the config with DumpDetResults -> list of predicted sample dicts."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmadpd.utils import register_all_modules

    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(cfg_file)
    cfg.load_from, cfg.resume = checkpoint, False
    cfg.work_dir = osp.join(out_dir, 'work')
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper', 'param_scheduler'):
        cfg[key] = None
    pkl = osp.join(out_dir, 'predictions.pkl')
    cfg.test_evaluator = [dict(type='CXR8DetectionMetric'),
                          dict(type='DumpDetResults', out_file_path=pkl)]
    Runner.from_cfg(cfg).test()
    return pkl


def align(samples, images):
    """Order the predicted samples as the COCO images (matched by file base name)."""
    by_name = {}
    for s in samples:
        path = s.get('img_path') if isinstance(s, dict) else s.img_path
        by_name[osp.basename(str(path))] = s
    missing = [im['file_name'] for im in images if osp.basename(im['file_name']) not in by_name]
    if missing:
        fail(f'{len(missing)} images of the CXR8 JSON have no prediction (first: '
             f'{missing[0]}); predictions and --cxr8-json must be the same split')
    return [by_name[osp.basename(im['file_name'])] for im in images]


def main(argv=None):
    args = parse_args(argv)
    from mmadpd.anatomy import CXR8_MAPPING, PATHOLOGIES, mapping_indices
    from mmadpd.evaluation.reference_predictors import (
        evaluate_predictions, load_cxr8_coco, load_phantom_truth, model_predictions,
        oracle_region_predictions, whole_lung_predictions)
    from mmadpd.evaluation.tables import format_table1_rows

    if not (args.truth or args.predictions or args.config):
        fail('nothing to evaluate: give --truth and/or --predictions or --config/--checkpoint')
    if args.config and not args.checkpoint:
        fail('--config needs --checkpoint')
    try:
        images, gts, classes = load_cxr8_coco(args.cxr8_json)
    except ValueError as exc:
        fail(str(exc))
    os.makedirs(args.out_dir, exist_ok=True)
    rows, results = [], {}

    if args.truth:
        try:
            truth = load_phantom_truth(args.truth)
            preds = oracle_region_predictions(truth, [im['file_name'] for im in images],
                                              classes, CXR8_MAPPING, fusion=args.fusion)
        except ValueError as exc:
            fail(str(exc))
        results['oracle regions'] = evaluate_predictions(preds, gts, classes)

    pkl = args.predictions
    if args.config:
        pkl = run_model(args.config, args.checkpoint, args.out_dir)
    if pkl:
        with open(pkl, 'rb') as f:
            samples = align(pickle.load(f), images)
        target_index = mapping_indices(CXR8_MAPPING, PATHOLOGIES, classes)
        results[args.method_name] = evaluate_predictions(model_predictions(samples), gts,
                                                         classes)
        try:
            wl = whole_lung_predictions(samples, target_index, args.presence_thr)
        except ValueError as exc:
            fail(str(exc))
        results['whole lung'] = evaluate_predictions(wl, gts, classes)

    rows = list(results.items())
    table = format_table1_rows(rows, prefix=None)
    out_file = osp.join(args.out_dir, 'reference_boxes.json')
    with open(out_file, 'w') as f:
        json.dump(dict(cxr8_json=osp.abspath(args.cxr8_json), num_images=len(images),
                       classes=classes, methods=results, table=table), f, indent=2)
    print(table)
    print(f'\nwritten to {osp.abspath(out_file)}')
    return results


if __name__ == '__main__':
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from _exit_cleanly import run
    sys.exit(run(main, 'reference_boxes'))
