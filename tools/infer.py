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
empty file, unsupported DICOM, unreadable path, anything failing for that one file, its
outputs not writable) is reported with a one-line reason and skipped; one input's JSON and
PNG are written all-or-nothing and the summary lists exactly what is on disk. The exit
code is 1 if any input failed or the summary could not be written, 0 otherwise, 2 for a
wrong command line, a missing or truncated config/checkpoint, an unusable --device or an
--out-dir that cannot be a folder. Errors are sentences on stderr (MMADPD_TRACEBACK=1 shows
the traceback).
"""
import argparse
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _cli_common import checkpoint_problem, device_problem  # noqa: E402


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


def _setup_problem(args) -> str:
    """Why the run cannot start ('' when it can)."""
    if not osp.isfile(args.config):
        return f'config file not found: {args.config}'
    if args.batch_size < 1:
        return '--batch-size must be >= 1'
    if osp.exists(args.out_dir) and not osp.isdir(args.out_dir):
        return f'--out-dir {args.out_dir}: EEXIST (exists and is not a folder)'
    return checkpoint_problem(args.checkpoint) or device_problem(args.device)


def _one_line(exc: BaseException) -> str:
    from mmadpd.apis.failure_reason import exception_reason
    return exception_reason(exc)


def main(argv=None) -> int:
    args = parse_args(argv)
    problem = _setup_problem(args)
    if problem:
        print(f'error: {problem}', file=sys.stderr)
        return 2

    from mmadpd.apis import ADPDInferencer

    try:
        inferencer = ADPDInferencer(args.config, args.checkpoint, device=args.device,
                                    batch_size=args.batch_size, score_thr=args.score_thr,
                                    allow_views=args.allow_views)
    except Exception as exc:
        if os.environ.get('MMADPD_TRACEBACK') == '1':
            raise
        print(f'error: cannot build the model from {args.config} and {args.checkpoint}: '
              f'{_one_line(exc)} (MMADPD_TRACEBACK=1 shows the traceback)', file=sys.stderr)
        return 2
    start = time.perf_counter()

    def report(row, done, total):
        if row['status'] == 'ok':
            print(f'[{done}/{total}] ok      {row["input"]} -> {row["json"]} '
                  f'({row["num_pathologies"]} pathology boxes)', flush=True)
        else:
            print(f'[{done}/{total}] FAILED  {row["input"]}: {row["reason"]}', flush=True)

    try:
        result = inferencer(args.inputs, out_dir=args.out_dir, on_error='skip',
                            progress=report)
    except Exception as exc:  # only the run's own files (out dir, summary) get here
        if os.environ.get('MMADPD_TRACEBACK') == '1':
            raise
        print(f'error: the run stopped: {_one_line(exc)}; the summary in {args.out_dir} '
              'lists the outputs on disk', file=sys.stderr)
        return 1
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
