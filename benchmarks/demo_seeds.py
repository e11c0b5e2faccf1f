"""`make demo` over several training seeds: mean and range of its numbers (README).

    python benchmarks/demo_seeds.py --out benchmarks/cpu_DATE_demo_seeds.json
        [--seeds 0 1 2] [--include work_dirs/demo] [--jobs 1] [--work-root work_dirs]
        [--data-dir data/phantom]

Runs ``tools/demo.py --seed S --work-dir WORK_ROOT/demo_seedS`` for each seed (the phantom
data are the same for every seed and generated once; a seed whose work folder already
holds ``metrics.json`` is reused, ``--force`` reruns it). ``--include DIR``: a finished demo
folder (e.g. ``make demo``'s) counts for the seed its ``metrics.json`` records, which is
then not rerun. ``--jobs 2`` runs two seeds at a time: each keeps its own thread count, so
its numbers are those of a run alone (README "Same seed, same numbers?"), only slower. The
published model of these runs goes to ``WORK_ROOT/demo_seeds_weights``, not the user's
weights folder. Writes per-seed metrics and wall times, and mean / min / max of each metric.
"""
import argparse
import concurrent.futures
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ROWS = ('loc_adpd', 'whole_lung', 'oracle_regions')
METRICS = ('mAP', 'AP@0.1', 'AP@0.3', 'AP@0.5', 'loc_acc@0.1', 'loc_acc@0.3', 'loc_acc@0.5')


def spread(values):
    return dict(mean=statistics.fmean(values), min=min(values), max=max(values))


def summarise(per_seed):
    """{seed: demo metrics.json} -> {row: {metric: {mean, min, max}}}."""
    return {row: {m: spread([per_seed[s][row][m] for s in per_seed]) for m in METRICS}
            for row in ROWS}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--out', required=True)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--work-root', default=osp.join(ROOT, 'work_dirs'))
    p.add_argument('--data-dir', default=osp.join(ROOT, 'data', 'phantom'))
    p.add_argument('--force', action='store_true', help='rerun seeds that already ran')
    p.add_argument('--include', nargs='*', default=[],
                   help='finished demo folders, counted for the seed they record')
    p.add_argument('--jobs', type=int, default=1, help='seeds run at the same time')
    args = p.parse_args(argv)
    env = dict(os.environ, MMADPD_WEIGHTS_DIR=osp.join(args.work_root, 'demo_seeds_weights'))
    per_seed, wall, folders = {}, {}, {}
    for folder in args.include:
        metrics = json.load(open(osp.join(folder, 'metrics.json')))
        if metrics.get('seed') in args.seeds:
            per_seed[metrics['seed']], folders[metrics['seed']] = metrics, folder

    def run(seed):
        work = osp.join(args.work_root, f'demo_seed{seed}')
        cmd = [sys.executable, osp.join(ROOT, 'tools', 'demo.py'), '--seed', str(seed),
               '--work-dir', work, '--data-dir', args.data_dir]
        if args.force or not osp.isfile(osp.join(work, 'metrics.json')):
            print('$ ' + ' '.join(cmd), flush=True)
            t0 = time.time()
            subprocess.run(cmd + (['--force'] if args.force and osp.isdir(work) else []),
                           env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
            wall[seed] = round(time.time() - t0, 1)
        return seed, work

    todo = [s for s in args.seeds if s not in per_seed]
    if todo and not osp.isdir(args.data_dir):
        run(todo[0])  # generates the shared data; the parallel runs below then reuse it
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        for seed, work in pool.map(run, todo):
            per_seed[seed], folders[seed] = json.load(open(osp.join(work, 'metrics.json'))), work
    out = dict(
        what='make demo (tools/demo.py) per training seed; same phantom data for all seeds',
        command='python ' + ' '.join([osp.relpath(__file__, ROOT)] + (
            sys.argv[1:] if argv is None else list(argv))),
        seeds=args.seeds,
        per_seed={str(s): {row: {m: per_seed[s][row][m] for m in METRICS} for row in ROWS}
                  | {'timings_s': per_seed[s].get('timings_s'),
                     'wall_s_this_run': wall.get(s),
                     'folder': osp.relpath(folders[s], ROOT)} for s in args.seeds},
        jobs=args.jobs,
        summary=summarise(per_seed),
        load_avg_end=list(os.getloadavg()))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(out, f, indent=1)
    loc = out['summary']['loc_adpd']['mAP']
    print(f"Loc-ADPD test mAP over seeds {args.seeds}: mean {loc['mean']:.2f}, range "
          f"{loc['min']:.2f}-{loc['max']:.2f} -> {args.out}")


if __name__ == '__main__':
    main()
