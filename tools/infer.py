"""Run an ADPD checkpoint on your own chest X-rays (PNG, JPG, DICOM files or folders).

    python tools/infer.py CONFIG CHECKPOINT INPUT [INPUT ...] --out-dir DIR
                          [--score-thr calibrated|F] [--device cpu|cuda] [--batch-size N]
                          [--allow-views VIEW [VIEW ...]]
                          [--workers N] [--backend pytorch|onnxruntime] [--onnx-model F]
                          [--onnx-threads N]
                          [--resume] [--no-overlay] [--launcher none|pytorch]
    python tools/infer.py NAME INPUT [INPUT ...] ...   # a published model, e.g. loc-adpd_phantom

Writes per input ``DIR/<stem>.json`` (pathology boxes [x1, y1, x2, y2] in original
pixels with class, score, threshold, positive and the regions fused into each box, plus
every region's box, presence and per-class probabilities; ``model`` names the weights,
their sha256 and the intended use) and ``DIR/<stem>.png`` (overlay of the positive boxes;
``--no-overlay`` skips it), and ``DIR/summary.json`` / ``DIR/summary.csv`` listing every input with status
ok/failed and the reason. Folders are searched recursively (sorted). Two inputs with the
same stem get ``<stem>``, ``<stem>__2``, ... in input order. A bad input (not an image,
truncated or empty file, unsupported DICOM, a lateral view, unreadable path, anything
failing for that one file, its outputs not writable) is reported with a one-line reason and
skipped; one input's JSON and PNG are written all-or-nothing and the summary lists exactly
what is on disk. The exit code is 1 if any input failed or the summary could not be
written, 0 otherwise, 2 for a wrong command line, a missing or truncated config/checkpoint,
an unusable --device or an --out-dir that cannot be a folder, 130 when interrupted. Errors
are sentences on stderr (MMADPD_TRACEBACK=1 shows the traceback).

Archive scale: ``--workers`` DataLoader processes decode while the network runs; a
progress bar shows rate and ETA; every finished input is appended to ``summary.csv`` at
once; outputs are written atomically (the JSON last), so an interrupted run (Ctrl-C,
SIGKILL) leaves no half-written file and ``--resume`` skips the inputs whose JSON is
complete. ``tools/dist_infer.sh`` runs one process per GPU (or CPU process with gloo),
each on a shard of the input list; rank 0 writes the summary.
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
    parser.add_argument('--allow-views', nargs='+', default=(), metavar='VIEW',
                        help="DICOM views to process although not frontal PA/AP, e.g. "
                             "'LL LATERAL', or 'all' (lateral views are refused by default)")
    parser.add_argument('--workers', type=int, default=2,
                        help='DataLoader processes decoding inputs (0: none)')
    parser.add_argument('--backend', choices=['pytorch', 'onnxruntime'], default='pytorch')
    parser.add_argument('--onnx-model', help='for --backend onnxruntime (default: '
                        'CHECKPOINT with .onnx, as tools/deployment/pytorch2onnx.py writes; '
                        'an INT8 model of tools/deployment/quantize_onnx.py runs the same '
                        'way, its results say so)')
    parser.add_argument('--onnx-threads', type=int, default=None,
                        help="ONNX Runtime's intra-op threads (default: one per core)")
    parser.add_argument('--resume', action='store_true',
                        help='skip inputs whose JSON in --out-dir is complete')
    parser.add_argument('--no-overlay', action='store_true', help='write no overlay PNGs')
    parser.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                        help='pytorch: one shard per torchrun process (tools/dist_infer.sh)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    from mmadpd.apis.weights import is_model_name

    # CONFIG CHECKPOINT INPUT... or NAME INPUT...
    args.checkpoint = None if is_model_name(args.config) else args.inputs.pop(0)
    return args


def _setup_problem(args) -> str:
    """Why the run cannot start ('' when it can)."""
    if not args.inputs:
        return 'no input images given'
    if args.checkpoint is not None and not osp.isfile(args.config):
        return f'config file not found: {args.config}'  # (a model name is resolved later)
    if args.batch_size < 1 or args.workers < 0:
        return '--batch-size must be >= 1 and --workers >= 0'
    if osp.exists(args.out_dir) and not osp.isdir(args.out_dir):
        return f'--out-dir {args.out_dir}: EEXIST (exists and is not a folder)'
    return ((checkpoint_problem(args.checkpoint) if args.checkpoint is not None else '')
            or device_problem(args.device))


def _one_line(exc: BaseException) -> str:
    from mmadpd.apis.failure_reason import exception_reason
    return exception_reason(exc)


def _init_distributed(args):
    """(rank, world size); for --launcher pytorch the process group over torchrun's env."""
    if args.launcher == 'none':
        return 0, 1
    import torch
    import torch.distributed as dist

    use_cuda = args.backend == 'pytorch' and (
        args.device or ('cuda' if torch.cuda.is_available() else 'cpu')).startswith('cuda')
    if use_cuda:  # (mmengine's init_dist always picks a CUDA device: no CPU runs)
        args.device = f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}'
        torch.cuda.set_device(args.device)
    dist.init_process_group(backend='nccl' if use_cuda else 'gloo')
    return dist.get_rank(), dist.get_world_size()


def _progress_bar(total, rank):
    from tqdm import tqdm

    bar = tqdm(total=total, unit='img', dynamic_ncols=True, disable=rank != 0,
               desc='infer' if rank == 0 else None, mininterval=1.0)

    def report(row, done, _total):
        bar.update(done - bar.n)
        if row['status'] != 'ok':
            bar.write(f'FAILED  {row["input"]}: {row["reason"]}', file=sys.stderr)
    return bar, report


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmadpd.apis.thresholds import parse_score_thr
    try:
        args.score_thr = parse_score_thr(args.score_thr)
    except ValueError as exc:
        print(f'error: --score-thr: {exc}', file=sys.stderr)
        return 2
    problem = _setup_problem(args)
    if problem:
        print(f'error: {problem}', file=sys.stderr)
        return 2

    from mmadpd.apis import ADPDInferencer, expand_inputs, unique_stems, write_summary
    from mmadpd.apis.archive import run_archive
    from mmadpd.apis.weights import (UnknownModelError, WeightsIntegrityError,
                                     WeightsNotAvailableError)

    rank, world = _init_distributed(args)
    try:
        inferencer = ADPDInferencer(args.config, args.checkpoint, device=args.device,
                                    batch_size=args.batch_size, score_thr=args.score_thr,
                                    allow_views=args.allow_views, backend=args.backend,
                                    onnx_model=args.onnx_model,
                                    onnx_threads=args.onnx_threads,
                                    cfg_options={'model.postprocessor.batched': True})
    except (UnknownModelError, WeightsIntegrityError, WeightsNotAvailableError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    except Exception as exc:
        if os.environ.get('MMADPD_TRACEBACK') == '1':
            raise
        source = args.config + (f' and {args.checkpoint}' if args.checkpoint else '')
        print(f'error: cannot build the model from {source}: '
              f'{_one_line(exc)} (MMADPD_TRACEBACK=1 shows the traceback)', file=sys.stderr)
        return 2
    items = expand_inputs(args.inputs)
    stems = unique_stems(item.name for item in items)
    shard = list(range(rank, len(items), world))  # rank r: inputs r, r + W, r + 2W, ...
    start = time.perf_counter()
    bar, report = _progress_bar(len(shard), rank)
    interrupted = False
    try:
        rows = run_archive(inferencer, items, stems, args.out_dir, indices=shard,
                           batch_size=args.batch_size, workers=args.workers,
                           overlay=not args.no_overlay, resume=args.resume,
                           log_name='summary.csv' if world == 1 else f'summary.rank{rank}.csv',
                           progress=report)
    except KeyboardInterrupt:
        interrupted = True
    except Exception as exc:  # only the run's own files (out dir, logs) get here
        if os.environ.get('MMADPD_TRACEBACK') == '1':
            raise
        bar.close()
        print(f'error: the run stopped: {_one_line(exc)}; the outputs in {args.out_dir} '
              'are complete, rerun with --resume to finish', file=sys.stderr)
        return 1
    finally:
        bar.close()
    if interrupted:
        print(f'interrupted: the outputs written so far are complete; rerun with --resume '
              f'to finish (finished inputs are listed in {args.out_dir}/summary*.csv)',
              file=sys.stderr)
        return 130
    if world > 1:
        import torch.distributed as dist

        parts = [None] * world
        dist.all_gather_object(parts, rows)  # rank r's rows: inputs r, r + W, ... in order
        rows = [parts[i % world][i // world] for i in range(len(items))]
    failures = [row for row in rows if row['status'] != 'ok']
    if rank == 0:
        try:
            write_summary(args.out_dir, rows)
        except Exception as exc:
            if os.environ.get('MMADPD_TRACEBACK') == '1':
                raise
            print(f'error: cannot write the summary: {_one_line(exc)}', file=sys.stderr)
            return 1
        print(f'{len(rows) - len(failures)} image(s) done, {len(failures)} failed in '
              f'{time.perf_counter() - start:.1f} s ({world} process(es)); summary: '
              f'{osp.join(args.out_dir, "summary.json")}', flush=True)
        if failures:
            print(f'error: {len(failures)} input(s) failed:', file=sys.stderr)
            for row in failures:
                print(f'  {row["input"]}: {row["reason"]}', file=sys.stderr)
    if world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
