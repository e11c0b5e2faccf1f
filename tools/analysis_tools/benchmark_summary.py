"""Summarise a GPU run of benchmarks/run_gpu.sh and check the speed goals.

    python tools/analysis_tools/benchmark_summary.py OUT_DIR [OUT_DIR ...] \
        --out benchmarks/h200_<date>.json [--config CONFIG] [--note TEXT]

Reads every ``bench_<step>.json`` in the given folders (the ``$OUT`` of each device call;
a step found in a later folder replaces an earlier one), writes the summary JSON (the
numbers the README table uses, the projected schedule minutes of each measured loop,
every step's JSON under ``steps``, the commit this checkout is at) and prints the speed
goals as a Markdown table: measured value, bar, met or not.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys

from mmengine.config import Config

from mmadpd.benchmark.runner import schedule_of
from mmadpd.benchmark.summary import check_goals, goals_table, summarize

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('dirs', nargs='+', help="folders with the run's bench_<step>.json files")
    p.add_argument('--out', help='write the summary JSON here')
    p.add_argument('--config', default=None,
                   help="the schedule's config (default: the config the steps ran)")
    p.add_argument('--note', default='', help='free text stored in the summary')
    return p.parse_args(argv)


def read_steps(dirs):
    """step name -> its JSON, from bench_<step>.json files (later folders win)."""
    steps = {}
    for d in dirs:
        if not osp.isdir(d):
            raise FileNotFoundError(f'benchmark_summary: {d} is not a folder')
        for path in sorted(glob.glob(osp.join(d, 'bench_*.json'))):
            name = osp.basename(path)[len('bench_'):-len('.json')]
            try:
                with open(path) as f:
                    steps[name] = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f'benchmark_summary: {path} is not valid JSON ({e})')
    if not steps:
        raise FileNotFoundError(f'benchmark_summary: no bench_*.json in {", ".join(dirs)}')
    return steps


def checkout_commit():
    """HEAD of this checkout (+ '-dirty' with uncommitted changes), or None."""
    root = ROOT
    try:
        head = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'],
                               cwd=root, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ('-dirty' if dirty else '')


def main(argv=None):
    args = parse_args(argv)
    steps = read_steps(args.dirs)
    config = args.config or next((s['config'] for s in steps.values() if s.get('config')),
                                 None)
    if config and not osp.isabs(config) and not osp.exists(config):
        config = osp.join(ROOT, config)  # the steps record it relative to the repository
    schedule = schedule_of(Config.fromfile(config)) if config else None
    summary = summarize(steps, schedule, note=args.note)
    summary['commit'] = checkout_commit()
    print(f'{summary["device"]}: steps {", ".join(steps)}'
          + ('' if all(s.get('complete') for s in steps.values()) else
             ' (incomplete: ' + ', '.join(n for n, s in steps.items()
                                          if not s.get('complete')) + ')'))
    print(goals_table(check_goals(summary)))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(summary, f, indent=2)
        print(f'written to {args.out}')
    return summary


if __name__ == '__main__':
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from _exit_cleanly import run
    sys.exit(run(main, 'benchmark_summary'))
