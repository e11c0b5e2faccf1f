"""Run an ADPD checkpoint on your own chest X-rays (PNG, JPG, DICOM files or folders).

    python tools/infer.py CONFIG CHECKPOINT INPUT [INPUT ...] --out-dir DIR
                          [--score-thr F] [--device cpu|cuda] [--batch-size N]
                          [--allow-views VIEW [VIEW ...]]

Writes per input ``DIR/<stem>.json`` (pathology boxes [x1, y1, x2, y2] in original
pixels with class, score and the regions fused into each box, plus every region's box,
presence and per-class probabilities) and ``DIR/<stem>.png`` (overlay), and
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
    parser.add_argument('config', help='model config file (its test pipeline is used)')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('inputs', nargs='+', help='image files and/or folders')
    parser.add_argument('--out-dir', required=True, help='folder for JSON, PNG, summary')
    parser.add_argument('--score-thr', type=float, default=0.0,
                        help='leave out pathology boxes scoring below this (default 0)')
    parser.add_argument('--device', default=None,
                        help="'cpu', 'cuda', 'cuda:1' (default: cuda if available)")
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--allow-views', nargs='+', default=(), metavar='VIEW',
                        help="DICOM views to process although not frontal PA/AP, e.g. "
                             "'LL LATERAL', or 'all' (lateral views are refused by default)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            print(f'error: {what} file not found: {path}', file=sys.stderr)
            return 2
    if args.batch_size < 1:
        print('error: --batch-size must be >= 1', file=sys.stderr)
        return 2

    from mmadpd.apis import ADPDInferencer

    inferencer = ADPDInferencer(args.config, args.checkpoint, device=args.device,
                                batch_size=args.batch_size, score_thr=args.score_thr,
                                allow_views=args.allow_views)
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
