"""Where ONNX Runtime's time goes in the ADPD network, per operator type, and how close its
convolutions run to this machine's best fp32 matrix product.

    python benchmarks/ort_op_profile.py --out benchmarks/cpu_DATE_ort_op_profile.json
        [--onnx model.onnx] [--int8] [--runs 60] [--threads 2]

Without --onnx the real config's network (configs/adpd/loc_adpd.py, 224 px, random
weights: the work does not depend on them) is exported first, grey input, batch 1;
``--int8`` profiles that export quantised by ``mmadpd.apis.onnx_quantize`` instead (its
scales calibrated on 8 random inputs: the kernels' speed does not depend on them, the
model is for timing only).

The model runs --runs times without, then --runs times under ONNX Runtime's profiler; per
operator type the time per run is the sum of its kernels' medians (profiled run). The
convolutions' multiply-adds are counted on the exported graph (weight shape x output
positions; an INT8 model's too), so their rate in GFLOP/s (2 per multiply-add, integer
ones for INT8) can be set beside numpy's float32 matrix product (its BLAS, one thread per
core) measured in the same process before and after: a rate near the matrix product's
means the network is bound by arithmetic, not by the runtime.
"""
import argparse
import collections
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from ort_episodes import export_random  # this script's folder is on sys.path

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'adpd', 'loc_adpd.py')
CONV_OPS = ('Conv', 'QLinearConv')  # fp32 (NCHWc or not) and INT8 kernels


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--onnx')
    p.add_argument('--int8', action='store_true', help='quantise the model first')
    p.add_argument('--runs', type=int, default=60)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--out', required=True)
    return p.parse_args(argv)


def conv_multiply_adds(path):
    """Sum over the graph's Conv nodes of (weight elements x output positions), batch 1."""
    import numpy as np
    import onnx
    from onnx import numpy_helper, shape_inference

    model = shape_inference.infer_shapes(onnx.load(path))
    weights = {t.name: numpy_helper.to_array(t).shape for t in model.graph.initializer}
    shapes = {v.name: [d.dim_value or 1 for d in v.type.tensor_type.shape.dim]
              for v in list(model.graph.value_info) + list(model.graph.output)}
    # an INT8 (QDQ) model's convolution reads its weight through a DequantizeLinear
    for node in model.graph.node:
        if node.op_type == 'DequantizeLinear' and node.input[0] in weights:
            weights[node.output[0]] = weights[node.input[0]]
    total = 0
    for node in model.graph.node:
        if node.op_type == 'Conv':
            out = shapes[node.output[0]]  # (1, O, H, W)
            total += int(np.prod(weights[node.input[1]])) * out[2] * out[3]
    return total


def matmul_gflops(size=1024, seconds=1.0):
    """numpy float32 (size x size) @ (size x size), its BLAS with one thread per core (its
    default): best GFLOP/s over ~``seconds``."""
    import numpy as np

    a = np.random.default_rng(0).random((size, size), dtype=np.float32)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        a @ a
        best = max(best, 2 * size ** 3 / (time.perf_counter() - start) / 1e9)
    return best


def main(argv=None):
    args = parse_args(argv)
    import numpy as np
    import onnxruntime as ort

    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    res = dict(command='python ' + ' '.join([osp.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
               commit=commit,
               device=f'CPU ({platform.processor() or platform.machine()}, '
                      f'{os.cpu_count()} cores)', onnxruntime=ort.__version__,
               threads=args.threads, runs=args.runs, load_avg_start=list(os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        path = args.onnx or export_random(osp.join(tmp, 'm.onnx'), CONFIG, 224)
        res['model'] = args.onnx or f'{osp.relpath(CONFIG, ROOT)}, random weights, grey input'
        if args.int8:
            from mmadpd.apis.onnx_quantize import quantize_network

            noise = np.random.default_rng(0).standard_normal((8, 1, 224, 224)).astype(np.float32)
            res['quantization'] = quantize_network(path, osp.join(tmp, 'int8.onnx'), noise)
            path = osp.join(tmp, 'int8.onnx')
            res['model'] += ', INT8 (calibrated on random inputs: for timing only)'
        res['conv_multiply_adds'] = conv_multiply_adds(path)
        res['matmul_gflops_before'] = matmul_gflops()
        x = np.random.default_rng(0).random((1, 1, 224, 224), dtype=np.float32)

        def timed_session(profile):
            options = ort.SessionOptions()
            options.intra_op_num_threads = args.threads
            options.enable_profiling = profile
            options.profile_file_prefix = osp.join(tmp, 'profile')
            session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
            feed = {session.get_inputs()[0].name: x}
            for _ in range(5):
                session.run(None, feed)
            walls = []
            for _ in range(args.runs):
                start = time.perf_counter()
                session.run(None, feed)
                walls.append((time.perf_counter() - start) * 1e3)
            return session, walls

        # the profiler's own cost grows with the node count (an INT8 graph has ~3x the
        # fp32 one's): the network's time comes from a session without it
        _, walls = timed_session(False)
        session, profiled = timed_session(True)
        events = json.load(open(session.end_profiling()))
        res['matmul_gflops_after'] = matmul_gflops()
    kernels = collections.defaultdict(list)
    op_of = {}
    for e in events:
        if e.get('cat') == 'Node' and e['name'].endswith('_kernel_time'):
            kernels[e['name']].append(e['dur'] / 1e3)
            op_of[e['name']] = e['args'].get('op_name')
    per_op = collections.Counter()
    nodes = collections.Counter()
    for node, times in kernels.items():
        per_op[op_of[node]] += statistics.median(times)
        nodes[op_of[node]] += 1
    res['run_ms_median'] = statistics.median(walls)
    res['run_ms_quartiles'] = statistics.quantiles(walls, n=4)
    res['profiled_run_ms_median'] = statistics.median(profiled)
    res['ms_per_run_by_op'] = {op: {'ms': ms, 'nodes': nodes[op]}
                               for op, ms in per_op.most_common()}
    conv_ms = sum(per_op.get(op, 0.0) for op in CONV_OPS)
    res['conv_gflops'] = 2 * res['conv_multiply_adds'] / (conv_ms / 1e3) / 1e9 if conv_ms else None
    res['load_avg_end'] = list(os.getloadavg())
    from mmadpd.benchmark.results import write_json

    write_json(res, args.out, final=True)
    print(f"network {res['run_ms_median']:.1f} ms (median of {args.runs}; "
          f"{res['profiled_run_ms_median']:.1f} profiled); convolutions "
          f"{conv_ms:.1f} ms for {res['conv_multiply_adds'] / 1e9:.2f} G multiply-adds = "
          f"{res['conv_gflops']:.0f} GFLOP/s; numpy float32 matmul "
          f"{res['matmul_gflops_before']:.0f} / {res['matmul_gflops_after']:.0f} GFLOP/s "
          f"(before / after)")
    for op, entry in list(res['ms_per_run_by_op'].items())[:6]:
        print(f"  {op:12s} {entry['ms']:6.2f} ms  ({entry['nodes']} nodes)")
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
