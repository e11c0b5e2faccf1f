"""Images/s of ``tools/infer.py`` over a folder of phantom PNGs: torch vs ONNX Runtime, with
and without overlays (issue 26). The issue's measurement is 2,000 PNGs:

    python benchmarks/folder_infer.py --num-files 2000 --out benchmarks/cpu_DATE_folder.json
        [--config configs/adpd/loc_adpd.py] [--file-size 1024] [--workers 1]
        [--batch-size 16] [--threads 2] [--keep DIR] [--unique 100]

Each of the four runs is a fresh ``tools/infer.py`` process; its rate is the tool's own
"N image(s) done ... in S s" (from the first input to the last output, model loading
excluded); torch (OMP_NUM_THREADS) and ONNX Runtime (--onnx-threads) both get --threads
intra-op threads. The model has random weights with all regions present and every pathology
positive (the heaviest post-processing and overlay case); the ONNX file is exported once
with ``tools/deployment/pytorch2onnx.py --dynamic-batch``. The JSON records the load
average before and after each run.
"""
import argparse
import os
import os.path as osp
import re
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--num-files', type=int, default=2000)
    parser.add_argument('--file-size', type=int, default=1024)
    parser.add_argument('--config', default=osp.join(REPO, 'configs', 'adpd', 'loc_adpd.py'))
    parser.add_argument('--workers', type=int, default=1)
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--keep', help='reuse/keep the PNGs, checkpoint and ONNX here')
    parser.add_argument('--unique', type=int, default=100,
                        help='distinct phantoms among the files (the rest are copies)')
    parser.add_argument('--out', required=True)
    return parser.parse_args(argv)


def folder_of_copies(images, count, size, unique):
    """``count`` PNGs in ``images``: ``unique`` phantoms, each copied under new names.

    Drawing one 1024-px phantom takes about a second on this machine; decoding does not
    depend on which phantom a file holds, so copies measure the same work.
    """
    import shutil

    from inference_benchmark import phantom_pngs

    sources = phantom_pngs(images, min(unique, count), size)
    for i in range(len(sources), count):
        shutil.copyfile(sources[i % len(sources)], osp.join(images, f'phantom_{i:05d}.png'))


def main(argv=None):
    args = parse_args(argv)
    sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
    from inference_benchmark import saturated_checkpoint

    from mmadpd.benchmark.results import write_json
    from mmadpd.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    work = args.keep or tempfile.mkdtemp(prefix='folder_infer_')
    images = osp.join(work, 'images')
    os.makedirs(images, exist_ok=True)
    have = len([f for f in os.listdir(images) if f.endswith('.png')])
    if have != args.num_files:
        for f in os.listdir(images):
            os.unlink(osp.join(images, f))
        folder_of_copies(images, args.num_files, args.file_size, args.unique)
    ckpt = osp.join(work, 'model.pth')
    if not osp.isfile(ckpt):
        saturated_checkpoint(args.config, ckpt)
    onnx_path = osp.join(work, 'model.onnx')
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
               PYTHONPATH=REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
    if not osp.isfile(onnx_path):
        subprocess.run([sys.executable, osp.join(REPO, 'tools', 'deployment', 'pytorch2onnx.py'),
                        args.config, ckpt, '--out', onnx_path, '--dynamic-batch'],
                       check=True, env=env)
    res = dict(command='python ' + ' '.join([osp.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
               num_files=args.num_files, unique_phantoms=min(args.unique, args.num_files),
               file_size=args.file_size, workers=args.workers,
               batch_size=args.batch_size, threads=args.threads, runs={})
    for backend in ('pytorch', 'onnxruntime'):
        for overlay in (True, False):
            name = f'{backend}_{"overlay" if overlay else "no_overlay"}'
            out = osp.join(work, 'out_' + name)
            cmd = [sys.executable, osp.join(REPO, 'tools', 'infer.py'), args.config, ckpt,
                   images, '--out-dir', out, '--device', 'cpu', '--backend', backend,
                   '--onnx-model', onnx_path, '--onnx-threads', str(args.threads),
                   '--workers', str(args.workers),
                   '--batch-size', str(args.batch_size)] + ([] if overlay else ['--no-overlay'])
            load_start, start = list(os.getloadavg()), time.perf_counter()
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - start
            found = re.search(r'(\d+) image\(s\) done, (\d+) failed in ([\d.]+) s', proc.stdout)
            if proc.returncode != 0 or not found:
                raise SystemExit(f'{name} failed (rc {proc.returncode}):\n{proc.stderr[-3000:]}')
            done, seconds = int(found.group(1)), float(found.group(3))
            res['runs'][name] = dict(images=done, seconds=seconds, img_per_s=done / seconds,
                                     process_wall_s=wall, load_avg_start=load_start,
                                     load_avg_end=list(os.getloadavg()))
            res[f'folder_{name}_img_per_s'] = done / seconds
            print(f'{name}: {done / seconds:.1f} img/s ({done} images in {seconds:.1f} s)',
                  flush=True)
            write_json(res, args.out)
    write_json(res, args.out, final=True)
    print(f'wrote {args.out}; inputs and outputs in {work}')


if __name__ == '__main__':
    main()
