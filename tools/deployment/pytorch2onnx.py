"""Export an ADPD checkpoint's network to ONNX for the ONNX Runtime CPU backend.

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT [--out model.onnx]
        [--dynamic-batch] [--batch-size 1] [--exporter dynamo|torchscript]
        [--input-channels 1|3] [--no-verify]

The graph maps the preprocessed image (B, K, S, S) to region boxes, presence logits and
pathology probabilities (``mmadpd/apis/onnx_export.py``); the post-processing stays the
shared Python code, so ``tools/infer.py --backend onnxruntime`` and
``ADPDInferencer(..., backend='onnxruntime')`` give the torch path's boxes. S is the
config's test input size. ``--out`` defaults to the checkpoint path with ``.onnx``, where
the inferencer looks by default. K is 1 by default: the grey channel alone, the
backbone's first convolution folded over the 3 repeated channels (same outputs up to float
rounding, checked at export, less work); ``--input-channels 3`` keeps the backbone's stem
as it is. After writing, the tool runs both networks on one random
input and prints the largest difference per output (``--no-verify`` skips that).
"""
import argparse
import os.path as osp
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Export the ADPD network to ONNX')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--out', help='output .onnx (default: CHECKPOINT with .onnx)')
    parser.add_argument('--dynamic-batch', action='store_true',
                        help='free batch dimension (default: fixed to --batch-size)')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--exporter', choices=['dynamo', 'torchscript'], default='dynamo')
    parser.add_argument('--input-channels', type=int, choices=[1, 3], default=1,
                        help='1: grey input, stem folded (default); 3: the stem as it is')
    parser.add_argument('--no-verify', action='store_true')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            print(f'error: {what} file not found: {path}', file=sys.stderr)
            return 2
    import numpy as np
    import torch
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint

    from mmdet.registry import MODELS

    from mmadpd.apis.onnx_backend import OnnxRuntimeNetwork, default_onnx_path
    from mmadpd.apis.onnx_export import ADPDNetwork, export_onnx, test_image_size
    from mmadpd.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(args.config)
    cfg.model.backbone.init_cfg = None  # the checkpoint holds every weight
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu')
    model.eval()
    size = test_image_size(cfg)
    out = args.out or default_onnx_path(args.checkpoint)
    start = time.perf_counter()
    export_onnx(model, out, size, batch_size=args.batch_size,
                dynamic_batch=args.dynamic_batch, exporter=args.exporter,
                input_channels=args.input_channels)
    print(f'wrote {out} ({size} px input, batch '
          f'{"dynamic" if args.dynamic_batch else args.batch_size}, '
          f'{args.input_channels}-channel input, {args.exporter} exporter) '
          f'in {time.perf_counter() - start:.1f} s', flush=True)
    if not args.no_verify:
        # one grey channel repeated to 3, as the data preprocessor hands it over
        x = torch.randn(args.batch_size, 1, size, size,
                        generator=torch.Generator().manual_seed(0)).expand(-1, 3, -1, -1)
        with torch.no_grad():
            ref = ADPDNetwork(model)(x)
        got = OnnxRuntimeNetwork(out)(x)
        for name, r, g in zip(('boxes', 'presence_logits', 'pathology_probs'), ref, got):
            print(f'  {name}: max |onnxruntime - torch| = '
                  f'{float(np.abs(r.numpy() - g.numpy()).max()):.2e}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
