"""ONNX Runtime's network time, window by window, in ONE process: are slow runs a property
of the process or of the moment?

    python benchmarks/ort_episodes.py --out benchmarks/cpu_DATE_ort_episodes.json
        [--onnx model.onnx] [--seconds 60] [--window 1.0] [--threads 2]

Without --onnx, the synthetic config's network (random weights) is exported first (grey
input, batch 1). In every window of --window seconds the network runs on one fixed
224-px input again and again, alternating with a fixed 384 x 384 float32 matmul (numpy's
BLAS) as a probe of the machine's speed; per window the median of each is recorded.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SYNTHETIC = osp.join(ROOT, 'configs', 'adpd', 'loc_adpd_synthetic.py')


def export_random(path, config=SYNTHETIC, size=224):
    """Export ``config``'s network with random weights (seed 0), grey input, batch 1, at
    ``size`` px: timing needs the architecture, not trained weights."""
    import torch
    from mmengine.config import Config

    from mmdet.registry import MODELS

    from mmadpd.apis.onnx_export import export_onnx
    from mmadpd.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    return export_onnx(MODELS.build(cfg.model).eval(), path, size)


def windows(session, seconds, window):
    import numpy as np

    name = session.get_inputs()[0].name
    channels = session.get_inputs()[0].shape[1]
    x = np.random.default_rng(0).random((1, channels, 224, 224), dtype=np.float32)
    a = np.random.default_rng(1).random((384, 384), dtype=np.float32)
    for _ in range(3):
        session.run(None, {name: x})
    rows, start = [], time.time()
    while time.time() - start < seconds:
        net, probe = [], []
        end = time.time() + window
        while time.time() < end:
            t = time.perf_counter()
            session.run(None, {name: x})
            net.append((time.perf_counter() - t) * 1e3)
            t = time.perf_counter()
            a @ a
            probe.append((time.perf_counter() - t) * 1e3)
        rows.append({'t_s': round(time.time() - start, 1),
                     'network_ms': statistics.median(net),
                     'matmul_ms': statistics.median(probe), 'runs': len(net)})
        print(f"{rows[-1]['t_s']:6.1f} s  network {rows[-1]['network_ms']:5.1f} ms  "
              f"matmul {rows[-1]['matmul_ms']:5.2f} ms", flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--onnx')
    p.add_argument('--seconds', type=float, default=60)
    p.add_argument('--window', type=float, default=1.0)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--out', required=True)
    args = p.parse_args(argv)
    from mmadpd.apis.onnx_backend import OnnxRuntimeNetwork

    with tempfile.TemporaryDirectory() as tmp:
        path = args.onnx or export_random(osp.join(tmp, 'net.onnx'))
        # the inferencer's own session (its options), run on numpy without the wrapper
        session = OnnxRuntimeNetwork(path, num_threads=args.threads).session
        rows = windows(session, args.seconds, args.window)
    net = [r['network_ms'] for r in rows]
    res = {'command': 'python ' + ' '.join([osp.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
           'onnx': args.onnx or 'loc_adpd_synthetic.py network, random weights, grey input',
           'threads': args.threads, 'cores': os.cpu_count(),
           'load_avg_end': list(os.getloadavg()),
           'network_ms_min': min(net), 'network_ms_median': statistics.median(net),
           'network_ms_max': max(net), 'windows': rows}
    with open(args.out, 'w') as f:
        json.dump(res, f, indent=1)
    print(f"network per window: min {res['network_ms_min']:.1f}, median "
          f"{res['network_ms_median']:.1f}, max {res['network_ms_max']:.1f} ms -> {args.out}")


if __name__ == '__main__':
    main()
