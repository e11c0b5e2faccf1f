"""Convert Chest ImaGenome silver scene graphs (+ MIMIC-CXR-JPG) to COCO JSON.

    python tools/dataset_converters/imagenome_to_coco.py --scene-graphs PATH(dir|zip) \
        --images-root DIR --metadata CSV [--split-source mimic|imagenome] \
        [--mimic-split mimic-cxr-2.0.0-split.csv.gz] [--splits-dir DIR] \
        [--images-to-avoid CSV] [--image-labels regions|all_attributes] \
        --out-dir DIR [--workers N] [--strict] [--resize-short-side N]

The split is MIMIC-CXR-JPG's official one by default (the paper's: --mimic-split, default
next to --metadata); --split-source imagenome uses Chest ImaGenome's splits/*.csv in
--splits-dir. Writes OUT/imagenome_{train,val,test}.json, OUT/imagenome_skipped.json (every
record by reason: skipped images, repaired regions, unused labels) and OUT/images (a
symlink to --images-root, or with --resize-short-side the pre-resized grey JPEG cache the
JSON files then refer to). Filters and rules: mmadpd/datasets/converters/imagenome.py.
Exit 0 when images were kept (skips reported), 1 on bad arguments, unreadable inputs or
when no image was kept, 2 in --strict mode at the first defect (the paper's filters never
stop it), 3 on an unexpected error (a converter bug; MMADPD_TRACEBACK=1 shows it).
"""
import argparse
import os
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--scene-graphs', required=True,
                        help='scene_graph folder or scene_graph.zip')
    parser.add_argument('--split-source', choices=('mimic', 'imagenome'), default='mimic',
                        help="which split defines train/val/test: 'mimic' (default, the "
                        "paper: MIMIC-CXR-JPG's official split) or 'imagenome' (Chest "
                        "ImaGenome's splits/*.csv)")
    parser.add_argument('--mimic-split', help='mimic-cxr-2.0.0-split.csv.gz (default: next '
                        'to --metadata)')
    parser.add_argument('--splits-dir', help='silver_dataset/splits (train.csv, valid.csv, '
                        'test.csv, images_to_avoid.csv); required for --split-source '
                        'imagenome')
    parser.add_argument('--images-root', required=True,
                        help='MIMIC-CXR-JPG root (the folder that holds files/)')
    parser.add_argument('--metadata', required=True, help='mimic-cxr-2.0.0-metadata.csv')
    parser.add_argument('--images-to-avoid', help='gold images to exclude (default: '
                        'SPLITS_DIR/images_to_avoid.csv)')
    parser.add_argument('--image-labels', choices=('regions', 'all_attributes'),
                        default='regions', help="image-level (MIL) labels: the union of the "
                        "29 regions' labels (default) or of every attribute entry of the "
                        "scene graph, as the reference code pools them")
    parser.add_argument('--out-dir', required=True, help='output directory')
    parser.add_argument('--workers', type=int, default=os.cpu_count() or 1,
                        help='parallel worker processes (default: all cores)')
    parser.add_argument('--strict', action='store_true',
                        help="fail at the first defect (skipped or repaired record); the "
                        "paper's filters (gold images, views, < 5 regions, outside the "
                        "split) never stop it")
    parser.add_argument('--resize-short-side', type=int, default=None, metavar='N',
                        help='write a grey JPEG cache with short side N (e.g. 256); boxes, '
                        'file names and sizes in the JSON then refer to the cache')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmadpd.datasets.converters.imagenome import convert_imagenome
    from mmadpd.datasets.converters.skips import run_converter

    try:
        return run_converter(convert_imagenome, args.scene_graphs, args.splits_dir,
                             args.images_root, args.metadata, args.out_dir,
                             images_to_avoid=args.images_to_avoid, workers=args.workers,
                             strict=args.strict, resize_short_side=args.resize_short_side,
                             progress=not args.no_progress, split_source=args.split_source,
                             mimic_split=args.mimic_split, image_labels=args.image_labels)
    except Exception as exc:  # not bad input (that is exit 1 or 2): say so in one line
        if os.environ.get('MMADPD_TRACEBACK') == '1':
            raise
        print(f'error: unexpected {type(exc).__name__}: {exc} (a converter bug; set '
              'MMADPD_TRACEBACK=1 for the traceback)', file=sys.stderr)
        return 3


if __name__ == '__main__':
    sys.exit(main())
