"""What INT8 quantisation costs in accuracy: the fp32 ONNX network and its INT8 version
(tools/deployment/quantize_onnx.py's scheme) on the same CXR8 test half.

    python benchmarks/int8_accuracy.py --out benchmarks/cpu_DATE_int8_accuracy.json
        [--config work_dirs/demo/config.py] [--checkpoint work_dirs/demo/latest.pth]
        [--count 32] [--seed 0]

Defaults: the model `make demo` trains (phantom data; run `make demo` first). The
calibration images are a seeded sample of the config's VAL half, the evaluation is on its
TEST half (the two are patient-disjoint), through ADPDInferencer with the ONNX Runtime
backend: the same decoding, preprocessing and post-processing for both networks. Reported:
the CXR8 metric of each (mAP over IoU 0.1..0.7, AP and loc-acc per IoU), and how far the
INT8 network is from the fp32 one (largest / mean output differences; per image and
class, whether both give a box, and the IoU and score difference of the two boxes).
"""
import argparse
import json
import os.path as osp
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--config', default=osp.join(ROOT, 'work_dirs', 'demo', 'config.py'))
    p.add_argument('--checkpoint', default=osp.join(ROOT, 'work_dirs', 'demo', 'latest.pth'))
    p.add_argument('--count', type=int, default=32, help='calibration images (val half)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--out', required=True)
    return p.parse_args(argv)


def split_files(cfg, split, class_names):
    """(image paths in image-id order, per-image GT as ``load_cxr8_coco`` gives it)."""
    from mmadpd.evaluation.reference_predictors import load_cxr8_coco

    ds = cfg[f'{split}_dataloader']['dataset']
    root = ds.get('data_root') or ''
    images, gts, _ = load_cxr8_coco(osp.join(root, ds['ann_file']), class_names)
    folder = osp.join(root, ds.get('data_prefix', {}).get('img', ''))
    return [osp.join(folder, im['file_name']) for im in images], gts


def predict(inferencer, files):
    """Per file: {'bboxes', 'scores', 'labels'} (labels index inferencer.class_names) and
    the raw network outputs."""
    import numpy as np
    import torch
    from mmengine.dataset import pseudo_collate

    from mmadpd.apis import expand_inputs

    preds, raw = [], []
    with torch.no_grad(), inferencer.run_threads():
        for i, item in enumerate(expand_inputs(files)):
            _, data = inferencer.load_and_prepare(item, i)
            batch = inferencer.model.data_preprocessor(pseudo_collate([data]), False)
            outputs = inferencer.network(batch['inputs'])
            raw.append([o.numpy() for o in outputs])
            sample = inferencer.model.predict_by_feat(*outputs, batch['data_samples'])[0]
            p = sample.pred_instances
            preds.append({'bboxes': p.bboxes.numpy(), 'scores': p.scores.numpy(),
                          'labels': p.labels.numpy()})
    return preds, [np.concatenate(column) for column in zip(*raw)]


def agreement(ref_preds, preds, num_classes):
    """Per (image, class): both / one / neither give a box; IoU and |score difference|
    where both do."""
    from mmadpd.evaluation.functional.box_iou import iou_matrix

    both, only_one, ious, score_diffs = 0, 0, [], []
    for a, b in zip(ref_preds, preds):
        for c in range(num_classes):
            ia, ib = (a['labels'] == c).nonzero()[0], (b['labels'] == c).nonzero()[0]
            if len(ia) and len(ib):  # top-1 per class: one box each
                both += 1
                ious.append(float(iou_matrix(a['bboxes'][ia[:1]], b['bboxes'][ib[:1]])[0, 0]))
                score_diffs.append(abs(float(a['scores'][ia[0]]) - float(b['scores'][ib[0]])))
            elif len(ia) or len(ib):
                only_one += 1
    return {'image_class_pairs_both_boxed': both, 'image_class_pairs_one_boxed': only_one,
            'box_iou_median': statistics.median(ious) if ious else None,
            'box_iou_min': min(ious) if ious else None,
            'box_iou_share_above_0.9': sum(i > 0.9 for i in ious) / len(ious) if ious else None,
            'score_abs_diff_max': max(score_diffs) if score_diffs else None}


def main(argv=None):
    args = parse_args(argv)
    for path in (args.config, args.checkpoint):
        if not osp.isfile(path):
            sys.exit(f'not found: {path} (run `make demo` first, or pass --config/--checkpoint)')
    import torch
    from mmengine.config import Config

    from mmadpd.apis import ADPDInferencer, expand_inputs
    from mmadpd.apis.onnx_export import ONNX_OUTPUTS, export_onnx, test_image_size
    from mmadpd.apis.onnx_quantize import calibration_inputs, output_differences, quantize_network
    from mmadpd.benchmark.results import write_json
    from mmadpd.evaluation.functional.detection_eval import evaluate_detections
    from mmadpd.evaluation.functional.summary import summarize
    from mmadpd.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    res = dict(command='python ' + ' '.join([osp.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
               commit=commit,
               device=f'CPU ({platform.processor() or platform.machine()})',
               config=args.config, checkpoint=args.checkpoint, calibration_count=args.count,
               seed=args.seed)
    torch_inf = ADPDInferencer(args.config, args.checkpoint, device='cpu')
    val_files, _ = split_files(cfg, 'val', torch_inf.class_names)
    test_files, test_gts = split_files(cfg, 'test', torch_inf.class_names)
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = osp.join(tmp, 'fp32.onnx'), osp.join(tmp, 'int8.onnx')
        export_onnx(torch_inf.model, fp32, test_image_size(cfg), dynamic_batch=True)
        calibration, skipped = calibration_inputs(torch_inf, expand_inputs(val_files),
                                                  args.count, seed=args.seed)
        start = time.perf_counter()
        res['quantization'] = quantize_network(fp32, int8, calibration)
        res['quantize_s'] = time.perf_counter() - start
        res['calibration_skipped'] = skipped
        outputs = {}
        for name, path in (('fp32', fp32), ('int8', int8)):
            inf = ADPDInferencer(args.config, args.checkpoint, backend='onnxruntime',
                                 onnx_model=path, onnx_threads=args.threads)
            preds, raw = predict(inf, test_files)
            summary = summarize(evaluate_detections(preds, test_gts, len(inf.class_names)),
                                inf.class_names)
            res[name] = {k: v for k, v in summary.items() if k == 'mAP' or '@' in k}
            outputs[name] = (preds, raw, len(inf.class_names))
            print(f'{name}: mAP {summary["mAP"]:.2f}', flush=True)
    res['test_images'] = len(test_files)
    res['int8_minus_fp32_network_outputs'] = output_differences(
        outputs['fp32'][1], outputs['int8'][1], ONNX_OUTPUTS)
    res['int8_vs_fp32_boxes'] = agreement(outputs['fp32'][0], outputs['int8'][0],
                                          outputs['fp32'][2])
    res['mAP_int8_minus_fp32'] = res['int8']['mAP'] - res['fp32']['mAP']
    write_json(res, args.out, final=True)
    print(json.dumps({k: res[k] for k in ('mAP_int8_minus_fp32', 'int8_vs_fp32_boxes')},
                     indent=1))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
