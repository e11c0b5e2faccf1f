"""Run an ADPD checkpoint on your own chest X-rays (PNG, JPG, DICOM files or folders).

    python tools/infer.py CONFIG CHECKPOINT INPUT [INPUT ...] --out-dir DIR
                          [--score-thr calibrated|F] [--device cpu|cuda] [--batch-size N]
    python tools/infer.py NAME INPUT [INPUT ...] ...   # a published model, e.g. loc-adpd_phantom

Writes per input ``DIR/<stem>.json`` (pathology boxes [x1, y1, x2, y2] in original
pixels with class, score, threshold, positive and the regions fused into each box, plus
every region's box, presence and per-class probabilities; ``model`` names the weights,
their sha256 and the intended use) and ``DIR/<stem>.png`` (overlay of the positive
boxes), and
``DIR/summary.json`` / ``DIR/summary.csv`` listing every input with status ok/failed and
the reason. Folders are searched recursively (sorted). Two inputs with the same stem get
``<stem>``, ``<stem>__2``, ... in input order. A bad input (not an image, truncated or
empty file, unsupported DICOM, unreadable path) is reported and skipped; the exit code is
1 if any input failed, 0 otherwise (2 for a wrong command line or a missing
config/checkpoint).
"""
import argparse
import os.path as osp
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='ADPD inference on PNG/JPG/DICOM files and folders')
    parser.add_argument('config', help='model config file (its test pipeline is used), '
                        'or a published model name (then no CHECKPOINT)')
    parser.add_argument('inputs', nargs='+', help='CHECKPOINT (.pth, after a config), then '
                        'image files and/or folders')
    parser.add_argument('--out-dir', default='outputs',
                        help='folder for JSON, PNG, summary (default: outputs)')
    parser.add_argument('--score-thr', default='calibrated',
                        help="'calibrated' (default: the checkpoint's per-class thresholds, "
                        "else the model's prob_thr) or a number for every class (0: every "
                        'box positive); boxes below it are kept with positive=false')
    parser.add_argument('--device', default=None,
                        help="'cpu', 'cuda', 'cuda:1' (default: cuda if available)")
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmadpd.apis.thresholds import parse_score_thr
    from mmadpd.apis.weights import is_model_name

    args.checkpoint = None if is_model_name(args.config) else args.inputs.pop(0)
    try:
        args.score_thr = parse_score_thr(args.score_thr)
    except ValueError as exc:
        print(f'error: --score-thr: {exc}', file=sys.stderr)
        return 2
    if not args.inputs:
        print('error: no input images given', file=sys.stderr)
        return 2
    files = [(args.config, 'config'), (args.checkpoint, 'checkpoint')] \
        if args.checkpoint is not None else []  # a name is resolved by the inferencer
    for path, what in files:
        if not osp.isfile(path):
            print(f'error: {what} file not found: {path}', file=sys.stderr)
            return 2
    if args.batch_size < 1:
        print('error: --batch-size must be >= 1', file=sys.stderr)
        return 2

    from mmadpd.apis import ADPDInferencer
    from mmadpd.apis.weights import (UnknownModelError, WeightsIntegrityError,
                                     WeightsNotAvailableError)

    try:
        inferencer = ADPDInferencer(args.config, args.checkpoint, device=args.device,
                                    batch_size=args.batch_size, score_thr=args.score_thr)
    except (UnknownModelError, WeightsIntegrityError, WeightsNotAvailableError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    start = time.perf_counter()

    def report(row, done, total):
        if row['status'] == 'ok':
            print(f'[{done}/{total}] ok      {row["input"]} -> {row["json"]} '
                  f'({row["num_pathologies"]} pathology boxes)', flush=True)
        else:
            print(f'[{done}/{total}] FAILED  {row["input"]}: {row["reason"]}', flush=True)

    result = inferencer(args.inputs, out_dir=args.out_dir, on_error='skip', progress=report)
    n_ok, n_failed = len(result['predictions']), len(result['failures'])
    print(f'{n_ok} image(s) done, {n_failed} failed in {time.perf_counter() - start:.1f} s; '
          f'summary: {osp.join(args.out_dir, "summary.json")}', flush=True)
    if n_failed:
        print(f'error: {n_failed} input(s) failed:', file=sys.stderr)
        for failure in result['failures']:
            print(f'  {failure["input"]}: {failure["reason"]}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
