"""Start-up cost of the training annotation file at the real Chest ImaGenome size.

    python tools/analysis_tools/dataset_load_benchmark.py ANN_JSON [--images 234000]
        [--work-dir DIR] [--keep] [--cache-dir DIR] [--out benchmarks/x.json]

ANN_JSON is an ``imagenome_*.json`` written by ``imagenome_to_coco.py`` (the phantom set's
will do). Its images and their region annotations are repeated, with new ids, into a file
of ``--images`` images (the paper's training set: ~234k images, ~6.8 M regions, about
2 GB of JSON), streamed to disk without holding it in memory. A fresh Python process then
builds ``ImaGenomeDataset`` from it exactly as a training run does (parse, data list,
mmengine's serialisation) and reports the seconds and the peak resident memory. Every DDP
rank pays this once at start-up; DataLoader workers fork afterwards and share the result.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import platform
import subprocess
import sys
import tempfile
import time

# Runs in the child process: build the dataset, print one JSON line.
_CHILD = r'''
import json, resource, sys, time
from mmadpd.utils import register_all_modules
register_all_modules()
from mmdet.registry import DATASETS

def rss():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * 4096 / 1e9

rss_before = rss()  # torch, mmdet and mmadpd imported
t0 = time.perf_counter()
ds = DATASETS.build(dict(type='ImaGenomeDataset', ann_file=sys.argv[1], data_prefix=dict(img=''),
                         pipeline=[], test_mode=False, cache_dir=sys.argv[2] or None))
seconds = time.perf_counter() - t0
print(json.dumps(dict(images=len(ds), load_s=seconds, rss_before_gb=rss_before,
                      peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                      rss_after_gb=rss())))
'''


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('ann_json', help='an imagenome_*.json written by imagenome_to_coco.py')
    p.add_argument('--images', type=int, default=234000,
                   help='images in the scaled file (default: the paper\'s training set)')
    p.add_argument('--work-dir', help='where the scaled file goes (default: a temp dir)')
    p.add_argument('--keep', action='store_true', help='keep the scaled file')
    p.add_argument('--cache-dir', help='also time the start with the annotation cache '
                   '(ImaGenomeDataset cache_dir): a first build writes it, a second build '
                   'memory-maps it')
    p.add_argument('--out', help='write the results JSON here')
    return p.parse_args(argv)


def write_scaled(src: dict, num_images: int, path: str) -> int:
    """Stream ``num_images`` images (``src``'s, repeated, new ids) and their annotations
    into ``path``; returns the number of annotations written."""
    if num_images < 1:
        raise ValueError(f'--images must be >= 1, got {num_images}')
    images = src['images']
    if not images:
        raise ValueError('the source file has no images')
    from mmadpd.datasets.imagenome import group_annotations
    by_image = group_annotations(src)
    head = {k: v for k, v in src.items() if k not in ('images', 'annotations')}
    num_anns = 0
    with open(path, 'w', encoding='utf-8') as f:
        # the other top-level keys first, then the two big lists, one element at a time
        f.write(json.dumps(head)[:-1] + (', ' if head else '') + '"images": [')
        for i in range(num_images):
            f.write((', ' if i else '') + json.dumps(dict(images[i % len(images)], id=i + 1)))
        f.write('], "annotations": [')
        for i in range(num_images):
            for ann in by_image.get(images[i % len(images)]['id'], ()):
                num_anns += 1
                f.write((', ' if num_anns > 1 else '')
                        + json.dumps(dict(ann, id=num_anns, image_id=i + 1)))
        f.write(']}')
    return num_anns


def main(argv=None):
    args = parse_args(argv)
    with open(args.ann_json, encoding='utf-8') as f:
        src = json.load(f)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='mmadpd_load_')
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, f'imagenome_scaled_{args.images}.json')
    t0 = time.perf_counter()
    num_anns = write_scaled(src, args.images, path)
    write_s = time.perf_counter() - t0
    size_gb = osp.getsize(path) / 1e9
    print(f'scaled file: {args.images:,} images, {num_anns:,} annotations, {size_gb:.2f} GB '
          f'({write_s:.0f} s to write)')
    def build(cache_dir=''):  # one fresh process per build: its own peak memory
        child = subprocess.run([sys.executable, '-c', _CHILD, path, cache_dir], check=True,
                               capture_output=True, text=True)
        return json.loads(child.stdout.strip().splitlines()[-1])

    try:
        res = build()
        if args.cache_dir:
            for prefix in ('cache_write_', 'cached_'):
                res.update({prefix + k: v for k, v in build(args.cache_dir).items()})
            res['cache_gb'] = sum(
                osp.getsize(osp.join(args.cache_dir, f)) for f in os.listdir(args.cache_dir)
                if f.startswith(osp.splitext(osp.basename(path))[0])) / 1e9
    finally:
        if not args.keep:
            os.remove(path)
    for key in ('images', 'cache_write_images', 'cached_images'):
        if key in res and res[key] != args.images:
            raise RuntimeError(f'{key}: the dataset has {res[key]} images, the file '
                               f'{args.images}')
    res.update(annotations=num_anns, file_gb=size_gb, source=osp.relpath(args.ann_json),
               device=f'cpu ({platform.processor() or platform.machine()}, '
                      f'{os.cpu_count()} cores)', python=platform.python_version(),
               command=' '.join([osp.basename(sys.executable)] + sys.argv))
    print(f'ImaGenomeDataset from it: {res["load_s"]:.1f} s, peak RSS {res["peak_rss_gb"]:.1f} '
          f'GB ({res["rss_before_gb"]:.1f} GB before, after the imports; '
          f'{res["rss_after_gb"]:.1f} GB after), one process: each DDP rank pays it')
    if args.cache_dir:
        print(f'with the annotation cache: first start {res["cache_write_load_s"]:.1f} s '
              f'(writes {res["cache_gb"]:.2f} GB), later starts {res["cached_load_s"]:.1f} s, '
              f'peak RSS {res["cached_peak_rss_gb"]:.1f} GB (pages mapped from the cache '
              'are shared by all processes on the machine)')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == '__main__':
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from _exit_cleanly import run
    sys.exit(run(main, 'dataset_load_benchmark'))
