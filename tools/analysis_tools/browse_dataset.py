"""Draw the (augmented) ground-truth boxes of a config's dataset, like mmdet's tool.

    python tools/analysis_tools/browse_dataset.py CONFIG [--phase train|val|test]
        [--output-dir DIR] [--num N] [--display-size 512] [--show] [--show-interval S]
        [--cfg-options k=v ...]

Writes one PNG per sample (the network input, enlarged to --display-size, with the boxes
and their class / region names) to --output-dir (default
work_dirs/browse_dataset/PHASE). The training phase shows the augmented images; val/test
show the letterboxed input, with the ground truth (kept in original pixels by the test
pipeline) mapped onto it.
"""
import argparse
import os
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Browse a dataset with its boxes drawn')
    parser.add_argument('config', help='config file')
    parser.add_argument('--phase', choices=['train', 'val', 'test'], default='train',
                        help='which dataloader\'s dataset to show')
    parser.add_argument('--output-dir', help='where the images go '
                        '(default work_dirs/browse_dataset/PHASE)')
    parser.add_argument('--num', type=int, default=20, help='number of samples')
    parser.add_argument('--display-size', type=int, default=512,
                        help='enlarge the drawn images to this long side (labels stay '
                        'readable on 128/224-px inputs); 0 keeps the input size')
    parser.add_argument('--show', action='store_true', help='also show in a window')
    parser.add_argument('--show-interval', type=float, default=2.0,
                        help='seconds per image with --show')
    from mmengine.config import DictAction
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config entries, key=value')
    return parser.parse_args(argv)


def to_input_pixels(data_sample, phase: str):
    """Ground-truth boxes in the pixels of the network input (test pipelines keep them
    in original pixels: net = (orig - crop_offset) * scale_factor)."""
    import torch
    boxes = data_sample.gt_instances.bboxes.clone()
    if phase != 'train':
        sx, sy = data_sample.metainfo.get('scale_factor', (1.0, 1.0))
        ox, oy = data_sample.metainfo.get('crop_offset', (0.0, 0.0))
        boxes = (boxes - boxes.new_tensor([ox, oy, ox, oy])) * torch.tensor([sx, sy, sx, sy])
    return boxes


def main(argv=None) -> int:
    args = parse_args(argv)
    if not osp.isfile(args.config):
        print(f'error: config file not found: {args.config}', file=sys.stderr)
        return 1
    import numpy as np
    from mmdet.registry import DATASETS, VISUALIZERS
    from mmengine.config import Config

    from mmadpd.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    out_dir = args.output_dir or osp.join('work_dirs', 'browse_dataset', args.phase)
    os.makedirs(out_dir, exist_ok=True)
    try:
        dataset = DATASETS.build(cfg[f'{args.phase}_dataloader']['dataset'])
    except (FileNotFoundError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1

    vis_cfg = cfg.get('visualizer', None) or dict(type='DetLocalVisualizer')
    vis_cfg = dict(vis_cfg, name='mmadpd_browse_dataset', save_dir=None)
    vis_cfg.pop('vis_backends', None)
    visualizer = VISUALIZERS.build(vis_cfg)
    visualizer.dataset_meta = dataset.metainfo

    num = min(args.num, len(dataset))
    for i in range(num):
        item = dataset[i]
        inputs = item['inputs'].numpy()
        img = np.repeat(inputs, 3, axis=0) if inputs.shape[0] == 1 else inputs
        img = np.ascontiguousarray(img.transpose(1, 2, 0))
        sample = item['data_samples']
        boxes = to_input_pixels(sample, args.phase)
        zoom = args.display_size / max(img.shape[:2]) if args.display_size else 1.0
        if zoom > 1:
            import cv2
            img = cv2.resize(img, (round(img.shape[1] * zoom), round(img.shape[0] * zoom)),
                             interpolation=cv2.INTER_LINEAR)
            boxes = boxes * zoom
        sample.gt_instances.bboxes = boxes
        name = osp.splitext(osp.basename(sample.metainfo.get('img_path', f'{i}')))[0]
        out_file = osp.join(out_dir, f'{i:04d}_{name}.png')
        visualizer.add_datasample(name, img, sample, draw_pred=False, show=args.show,
                                  wait_time=args.show_interval, out_file=out_file)
    print(f'wrote {num} images to {out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
