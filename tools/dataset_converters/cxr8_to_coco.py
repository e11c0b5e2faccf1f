"""Convert the NIH ChestX-ray8 box list to COCO JSON with a deterministic val/test split.

    python tools/dataset_converters/cxr8_to_coco.py --bbox-csv BBox_List_2017.csv[.gz] \
        --data-entry Data_Entry_2017_v2020.csv[.gz] [--image-dir DIR] --out-dir DIR \
        [--seed 0] [--strict] [--split-csv CSV | --recompute-split]

Writes OUT/cxr8_val.json, OUT/cxr8_test.json, OUT/cxr8_split.csv, OUT/cxr8_skipped.json
(every skipped record by reason, and the row account: rows read = kept + skipped) and
links OUT/images to --image-dir. For the real NIH box list the committed split
mmadpd/data/cxr8_split.csv is used (and the output says so). Exit 0 on success (skips are
reported), 1 on bad arguments, unreadable inputs or when no box is kept, 2 in --strict
mode at the first skipped record. Errors are one line on stderr (MMADPD_TRACEBACK=1 shows
the traceback).
"""
import argparse
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--bbox-csv', required=True, help='BBox_List_2017.csv (or .gz)')
    parser.add_argument('--data-entry', required=True,
                        help='Data_Entry_2017_v2020.csv (or .gz): patient ids and views')
    parser.add_argument('--image-dir', help='folder of the PNGs (sizes are read from the '
                        'files); without it every image is taken as 1024x1024')
    parser.add_argument('--out-dir', required=True, help='output directory')
    parser.add_argument('--seed', type=int, default=0, help='seed of the computed split')
    parser.add_argument('--strict', action='store_true',
                        help='fail at the first skipped or repaired record')
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--split-csv', help='use this image,patient,split file')
    group.add_argument('--recompute-split', action='store_true',
                       help='compute the split even for the real NIH box list')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmadpd.datasets.converters.cxr8 import convert_cxr8
    from mmadpd.datasets.converters.skips import run_converter

    return run_converter(convert_cxr8, args.bbox_csv, args.data_entry, args.out_dir,
                         image_dir=args.image_dir, seed=args.seed, strict=args.strict,
                         split_csv=args.split_csv, recompute_split=args.recompute_split)


if __name__ == '__main__':
    sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
    from _exit_cleanly import run
    sys.exit(run(main, 'cxr8_to_coco'))
