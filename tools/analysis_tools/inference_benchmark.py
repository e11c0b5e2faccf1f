"""Inference-at-scale benchmark (issue 26): batched post-processing, and file -> JSON with
the torch network vs ONNX Runtime (the fp32 export and the opt-in INT8 model), side by side
in one process.

    python tools/analysis_tools/inference_benchmark.py --out benchmarks/cpu_DATE_inference.json
        [--config configs/adpd/loc_adpd.py] [--checkpoint CKPT] [--onnx ONNX]
        [--parts postprocess,file] [--num-files 8] [--file-size 1024] [--threads 2]
        [--postprocess-batch 256] [--repeats 20]

Without --checkpoint the config's model gets random weights with its output biases raised
so that all 29 regions are present and every pathology positive (the heaviest
post-processing case; a random model otherwise predicts nothing). Without --onnx the
network is exported (dynamic batch) into a temporary folder first; the INT8 model is
quantised from it with the timed files as calibration images. The files are phantom
chest X-rays (``make_phantom``) written as 8-bit PNGs of --file-size px. The JSON holds the
load average before and after: numbers from a loaded machine are upper bounds.
"""
import argparse
import os
import os.path as osp
import platform
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default=osp.join(REPO, 'configs', 'adpd', 'loc_adpd.py'))
    parser.add_argument('--checkpoint')
    parser.add_argument('--onnx')
    parser.add_argument('--parts', default='postprocess,file')
    parser.add_argument('--num-files', type=int, default=8)
    parser.add_argument('--file-size', type=int, default=1024)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--postprocess-batch', type=int, default=256)
    parser.add_argument('--repeats', type=int, default=20,
                        help='passes per backend and batch size (file -> JSON: passes over '
                             'all files, median and quartiles reported) or repeats of the '
                             'post-processing batch')
    parser.add_argument('--out', required=True)
    return parser.parse_args(argv)


def saturated_checkpoint(config, path):
    """Random weights; every region present and every pathology positive."""
    import torch
    from mmengine.config import Config

    from mmdet.registry import MODELS

    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    with torch.no_grad():
        model.anatomy_head.presence_fc.bias.fill_(4.0)
        model.pathology_head.fc.bias.fill_(4.0)
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def phantom_pngs(folder, count, size):
    import cv2
    import numpy as np

    from mmadpd.datasets.synthetic.phantom import make_phantom

    paths = []
    for i in range(count):
        image = make_phantom(np.random.default_rng(i), size, size).image
        if image.dtype != np.uint8:
            image = np.rint(image.astype(np.float64) / image.max() * 255).astype(np.uint8)
        paths.append(osp.join(folder, f'phantom_{i:05d}.png'))
        cv2.imwrite(paths[-1], image)
    return paths


def main(argv=None):
    args = parse_args(argv)
    import torch

    from mmadpd.benchmark.inference_scale import bench_file_to_json, bench_postprocess
    from mmadpd.benchmark.results import write_json
    from mmadpd.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    torch.set_num_threads(args.threads)
    parts = args.parts.split(',')
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    res = dict(device=f'CPU ({platform.processor() or platform.machine()}, '
                      f'{os.cpu_count()} cores)',
               torch=torch.__version__, python=platform.python_version(), commit=commit,
               command='python ' + ' '.join([osp.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
               threads=args.threads, load_avg_start=list(os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint or saturated_checkpoint(args.config, osp.join(tmp, 'm.pth'))
        res['checkpoint'] = args.checkpoint or 'random weights, all regions present, all ' \
                                               'pathologies positive'
        from mmadpd.apis import ADPDInferencer

        torch_inf = ADPDInferencer(args.config, ckpt, device='cpu',
                                   cfg_options={'model.postprocessor.batched': True})
        if 'postprocess' in parts:
            pp = bench_postprocess(torch_inf.model.postprocessor,
                                   torch_inf.model.anatomy_head.num_regions,
                                   torch_inf.model.pathology_head.num_classes,
                                   batch=args.postprocess_batch, repeats=args.repeats)
            res['postprocess'] = pp
            res['postprocess_batched_ms_per_img'] = pp['batched_ms_per_img']
            res['postprocess_per_image_ms_per_img'] = pp['per_image_ms_per_img']
            res['postprocess_batched_cpu_ms_per_img'] = pp['batched_cpu_ms_per_img']
            res['postprocess_per_image_cpu_ms_per_img'] = pp['per_image_cpu_ms_per_img']
            res['postprocess_case'] = (f"batch {pp['batch']}, {pp['num_regions']} regions all "
                                       f"present x {pp['num_target_classes']} classes, "
                                       'uniform random boxes and probabilities, one core')
            write_json(res, args.out)
            print(f"post-processing: per image {pp['per_image_ms_per_img']:.3f} ms/img "
                  f"(CPU {pp['per_image_cpu_ms_per_img']:.3f}), batched "
                  f"{pp['batched_ms_per_img']:.3f} ms/img (CPU {pp['batched_cpu_ms_per_img']:.3f})"
                  f"; identical outputs: {pp['outputs_identical']}", flush=True)
        if 'file' in parts:
            from mmadpd.apis.onnx_export import export_onnx, test_image_size

            onnx_path = args.onnx
            if not onnx_path:
                onnx_path = osp.join(tmp, 'm.onnx')
                start = time.perf_counter()
                export_onnx(torch_inf.model, onnx_path, test_image_size(torch_inf.cfg),
                            dynamic_batch=True)
                res['onnx_export_s'] = time.perf_counter() - start
            onnx_inf = ADPDInferencer(args.config, ckpt, backend='onnxruntime',
                                      onnx_model=onnx_path, onnx_threads=args.threads,
                                      cfg_options={'model.postprocessor.batched': True})
            files = phantom_pngs(tmp, args.num_files, args.file_size)
            # the opt-in INT8 model (tools/deployment/quantize_onnx.py), calibrated on the
            # timed files: a speed figure (its accuracy: benchmarks/int8_accuracy.py)
            from mmadpd.apis import expand_inputs
            from mmadpd.apis.onnx_quantize import calibration_inputs, quantize_network

            int8_path = osp.join(tmp, 'm_int8.onnx')
            calibration, _ = calibration_inputs(torch_inf, expand_inputs(files), len(files),
                                                channels=onnx_inf.network.input_channels or 3)
            res['int8_quantization'] = quantize_network(onnx_path, int8_path, calibration)
            int8_inf = ADPDInferencer(args.config, ckpt, backend='onnxruntime',
                                      onnx_model=int8_path, onnx_threads=args.threads,
                                      cfg_options={'model.postprocessor.batched': True})
            res['file_case'] = (f'{args.num_files} phantom PNGs of {args.file_size} px, 8-bit, '
                                f'{test_image_size(torch_inf.cfg)} px network input, no '
                                f'overlay, decoding in the main process, {args.threads} '
                                'threads')
            timing = bench_file_to_json({'pytorch': torch_inf, 'onnxruntime': onnx_inf,
                                         'onnxruntime_int8': int8_inf}, files,
                                        repeats=args.repeats)
            res['file_to_json'] = timing
            for name, per_batch in timing.items():
                res[f'file_to_json_{name}_ms_per_img_batch1'] = per_batch['batch1']['ms_per_img']
                res[f'file_to_json_{name}_img_per_s_batch16'] = per_batch['batch16']['img_per_s']
                b1 = per_batch['batch1']
                print(f"{name}: batch 1 {b1['ms_per_img']:.1f} ms/img (quartiles "
                      f"{b1['ms_per_img_p25']:.1f}-{b1['ms_per_img_p75']:.1f}), "
                      f"batch 16 {per_batch['batch16']['img_per_s']:.1f} img/s", flush=True)
    res['load_avg_end'] = list(os.getloadavg())
    write_json(res, args.out, final=True)
    print(f'wrote {args.out} (load average {res["load_avg_start"]} -> {res["load_avg_end"]})')


if __name__ == '__main__':
    main()
