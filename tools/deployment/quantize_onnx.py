"""Quantise an exported ADPD network to INT8 for ONNX Runtime on the CPU (opt-in).

    python tools/deployment/quantize_onnx.py CONFIG CHECKPOINT --images IN [IN ...]
        [--onnx model.onnx] [--out model_int8.onnx] [--count 32] [--seed 0]

``--images`` are files or folders of the images the model will see (PNG, JPEG, DICOM);
``--count`` of them, a seeded sample, go through the config's own preprocessing and set
the activation ranges (``mmadpd/apis/onnx_quantize.py`` states the scheme). ``--onnx``
defaults to where ``pytorch2onnx.py`` writes (CHECKPOINT with ``.onnx``), ``--out`` to
that name with ``_int8``. Run the result with ``tools/infer.py ... --backend onnxruntime
--onnx-model model_int8.onnx``; each result JSON then carries the quantisation record.

The INT8 network's outputs are NOT those of the checkpoint: measure its accuracy on your
own labelled data before using it (``benchmarks/int8_accuracy.py`` does this on the
phantom CXR8 test half). The differences the tool prints are on the calibration images,
a sanity check, not an accuracy figure.
"""
import argparse
import os.path as osp
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='INT8 quantisation of an ADPD ONNX model')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--images', nargs='+', required=True,
                        help='calibration images: files or folders')
    parser.add_argument('--onnx', help='the fp32 export (default: CHECKPOINT with .onnx)')
    parser.add_argument('--out', help='default: the fp32 model name with _int8')
    parser.add_argument('--count', type=int, default=32, help='calibration images used')
    parser.add_argument('--seed', type=int, default=0, help='seed of the image sample')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmadpd.apis.onnx_backend import default_onnx_path

    fp32 = args.onnx or default_onnx_path(args.checkpoint)
    out = args.out or osp.splitext(fp32)[0] + '_int8.onnx'
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint'),
                       (fp32, 'fp32 ONNX model (write it with pytorch2onnx.py)')):
        if not osp.isfile(path):
            print(f'error: {what} not found: {path}', file=sys.stderr)
            return 2
    if args.count < 1:
        print(f'error: --count must be >= 1, got {args.count}', file=sys.stderr)
        return 2
    if osp.abspath(out) == osp.abspath(fp32):
        print(f'error: --out would overwrite the fp32 model {fp32}', file=sys.stderr)
        return 2

    from mmadpd.apis import ADPDInferencer, expand_inputs
    from mmadpd.apis.onnx_backend import OnnxRuntimeNetwork
    from mmadpd.apis.onnx_export import ONNX_INPUT, ONNX_OUTPUTS
    from mmadpd.apis.onnx_quantize import (calibration_inputs, output_differences,
                                           quantize_network)
    from mmadpd.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    reference = OnnxRuntimeNetwork(fp32)
    if reference.quantization is not None:
        print(f'error: {fp32} is already quantised; pass the fp32 export', file=sys.stderr)
        return 2
    inferencer = ADPDInferencer(args.config, args.checkpoint, device='cpu')
    inputs, skipped = calibration_inputs(inferencer, expand_inputs(args.images), args.count,
                                         channels=reference.input_channels or 3,
                                         seed=args.seed)
    for name, reason in skipped:
        print(f'skipped {name}: {reason}', file=sys.stderr)
    if len(inputs) == 0:
        print(f'error: no usable calibration image in {args.images}', file=sys.stderr)
        return 2
    if len(inputs) < args.count:
        print(f'warning: {len(inputs)} calibration images, fewer than --count {args.count}',
              file=sys.stderr)
    start = time.perf_counter()
    record = quantize_network(fp32, out, inputs)
    print(f'wrote {out} ({record["calibration_images"]} calibration images, '
          f'{time.perf_counter() - start:.1f} s)')
    quantized = OnnxRuntimeNetwork(out)
    names = list(ONNX_OUTPUTS)
    diffs = [output_differences(reference.session.run(names, {ONNX_INPUT: x}),
                                quantized.session.run(names, {ONNX_INPUT: x}), names)
             for x in (inputs[i:i + 1] for i in range(len(inputs)))]
    print('INT8 - fp32 on the calibration images (a sanity check, not accuracy):')
    for name in names:
        print(f'  {name}: max |diff| {max(d[name]["max_abs"] for d in diffs):.2e}, mean '
              f'{sum(d[name]["mean_abs"] for d in diffs) / len(diffs):.2e}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
