"""Generate the synthetic phantom chest X-ray data set in the real dataset layouts.

    python tools/dataset_converters/make_synthetic_cxr.py OUT_DIR [--seed 0]
        [--num-train N] [--num-val N] [--num-test N] [--num-cxr8 N] [--size PX]
        [--defect-rate F] [--workers N] [--num-cxr8-train N]

writes OUT_DIR/mimic-cxr-jpg/, OUT_DIR/chest-imagenome/silver_dataset/ and OUT_DIR/cxr8/
(see ``mmadpd.datasets.synthetic.generate``). Same seed + arguments -> same bytes.
"""
import argparse
import json
import os.path as osp
import sys

from mmadpd.datasets.synthetic import generate_dataset


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('out_dir', help='output root folder')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-train', type=int, default=1600, help='MIMIC-style train images')
    p.add_argument('--num-val', type=int, default=200, help='MIMIC-style validation images')
    p.add_argument('--num-test', type=int, default=200, help='MIMIC-style test images')
    p.add_argument('--num-cxr8', type=int, default=400, help='NIH CXR8-style box images')
    p.add_argument('--num-cxr8-train', type=int, default=0,
                   help='NIH CXR8-style image-label-only training images (+ the official '
                        'train_val_list.txt / test_list.txt); 0 = none')
    p.add_argument('--size', type=int, default=512,
                   help='long side of MIMIC images (varied, non-square) and side of CXR8 '
                        'images, in pixels')
    p.add_argument('--defect-rate', type=float, default=0.01,
                   help='fraction of MIMIC images with one injected defect (0 = clean)')
    p.add_argument('--workers', type=int, default=1, help='rendering processes')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    summary = generate_dataset(args.out_dir, seed=args.seed, num_train=args.num_train,
                               num_val=args.num_val, num_test=args.num_test,
                               num_cxr8=args.num_cxr8, size=args.size,
                               defect_rate=args.defect_rate, workers=args.workers,
                               progress=True, num_cxr8_train=args.num_cxr8_train)
    print(json.dumps(summary, indent=1))
    return summary


if __name__ == '__main__':
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from _exit_cleanly import run
    sys.exit(run(main, 'make_synthetic_cxr'))
