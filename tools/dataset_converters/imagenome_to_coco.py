"""Convert Chest ImaGenome silver scene graphs (+ MIMIC-CXR-JPG) to COCO JSON.

    python tools/dataset_converters/imagenome_to_coco.py --scene-graphs PATH(dir|zip) \
        --splits-dir DIR --images-root DIR --metadata CSV [--images-to-avoid CSV] \
        --out-dir DIR [--workers N] [--strict] [--resize-short-side N]

Writes OUT/imagenome_{train,val,test}.json, OUT/imagenome_skipped.json (every skipped image
and repaired region by reason) and OUT/images (a symlink to --images-root, or with
--resize-short-side the pre-resized grey JPEG cache the JSON files then refer to). Filters
and rules: mmadpd/datasets/converters/imagenome.py. Exit 0 on success (skips reported), 1
on bad arguments or unreadable inputs, 2 in --strict mode at the first skipped record.
"""
import argparse
import os
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--scene-graphs', required=True,
                        help='scene_graph folder or scene_graph.zip')
    parser.add_argument('--splits-dir', required=True,
                        help='silver_dataset/splits (train.csv, valid.csv, test.csv)')
    parser.add_argument('--images-root', required=True,
                        help='MIMIC-CXR-JPG root (the folder that holds files/)')
    parser.add_argument('--metadata', required=True, help='mimic-cxr-2.0.0-metadata.csv')
    parser.add_argument('--images-to-avoid', help='gold images to exclude (default: '
                        'SPLITS_DIR/images_to_avoid.csv when present)')
    parser.add_argument('--out-dir', required=True, help='output directory')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                        help='parallel worker processes (default: all cores)')
    parser.add_argument('--strict', action='store_true',
                        help='fail at the first skipped image or repaired region')
    parser.add_argument('--resize-short-side', type=int, default=None, metavar='N',
                        help='write a grey JPEG cache with short side N (e.g. 256); boxes, '
                        'file names and sizes in the JSON then refer to the cache')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmadpd.datasets.converters.imagenome import convert_imagenome
    from mmadpd.datasets.converters.skips import run_converter

    return run_converter(convert_imagenome, args.scene_graphs, args.splits_dir,
                         args.images_root, args.metadata, args.out_dir,
                         images_to_avoid=args.images_to_avoid, workers=args.workers,
                         strict=args.strict, resize_short_side=args.resize_short_side,
                         progress=not args.no_progress)

if __name__ == '__main__':
    sys.exit(main())
