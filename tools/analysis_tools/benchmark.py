"""Speed benchmark of ADPD against the bare network and of the data pipeline.

    python tools/analysis_tools/benchmark.py CONFIG [--batch-size 256] [--amp bf16]
        [--channels-last] [--compile] [--device cuda] [--parts train,bare,infer,pipeline]
        [--loop-seconds 60 --workers 16] [--out benchmarks/x.json]

In ONE process and run it times:
  (a) train   ADPD train step through the mmengine optimizer wrapper (model.train_step),
              data already on the device;
  (b) bare    the same step for a bare torchvision DenseNet121 classifier on the same input
              (same optimizer, AMP and memory format) — (a)/(b) is the framework overhead;
  (c) infer   ADPD inference: the network alone (img/s) and predict() with the WBF
              post-processing (img/s and CPU ms per image);
  (d) pipeline  the training data pipeline alone from the config's dataset (decode +
              augmentation + pack + the config's collate function), samples/s in this one
              process with one OpenCV and one torch thread, as in a DataLoader worker
              (= per worker), plus the time per transform;
  (d2) transfer  main-process CPU ms per batch received from DataLoader workers
              (unpickling + unpacking + pinning; the one process every batch passes);
  (e) loop    (with --loop-seconds) the real training loop: mmengine's Runner built from
              the config (DataLoader with --workers processes, data preprocessor,
              optimizer wrapper, schedulers, runtime-info/timer/logger hooks; no
              validation or checkpoints) at the config's batch size (--loop-batch-size),
              samples/s end to end after --warmup iterations;
  (f) val     one validation as the schedule runs it (ValLoop on the config's val set,
              metric, report hook), seconds; with (e), the projected schedule minutes;
  (g) cost    FLOPs and device operators (kernel launches) of an ADPD and a bare forward +
              backward, counted on the meta device (any machine), and the host ms per batch
              of ADPD's target building.
Warm-up iterations are excluded; every number is the median of --repeats timed repeats;
the repeats of (a) and (b) alternate (A B, B A, ...) so that device or host drift hits
both alike.
The synthetic batch of (a)-(c) is what ``adpd_collate`` + ``ADPDDataPreprocessor`` hand
the model: one uint8 (B, 1, S, S) image tensor on the device, data samples on the CPU.
With --amp bf16 the optimizer wrapper is mmengine's AmpOptimWrapper with the (useless for
bf16) gradient scaler disabled, ``loss_scale=dict(enabled=False)``; fp16 keeps the dynamic
scaler. AMP needs a CUDA device.

On an H200 (16 cores), e.g.:
    python tools/analysis_tools/benchmark.py configs/adpd/loc_adpd.py --batch-size 256 \
        --amp bf16 --channels-last --out benchmarks/h200_eager.json
    ... the same with --compile --out benchmarks/h200_compiled.json
    ... --parts loop --loop-seconds 60 --workers 16 (MMADPD_IMAGENOME_DIR = 256-px cache)
"""
from __future__ import annotations

import argparse
import ast
import copy
import faulthandler
import os
import os.path as osp
import platform
import sys

import torch
from mmengine.config import Config, DictAction

# The parts live in mmadpd.benchmark (one module each); this file is the command line.
from mmadpd.benchmark.cost import bench_cost, extra_ops
from mmadpd.benchmark.data import bench_pipeline, bench_transfer, config_collate
from mmadpd.benchmark.inference import bench_infer
from mmadpd.benchmark.loop import bench_loop
from mmadpd.benchmark.profiling import (profile_steps, record_kernel_time,
                                        synchronising_calls, write_profile)
from mmadpd.benchmark.results import (GRAPH_HEADS, compile_variant, mode_suffix, result_suffix,
                                      write_json)
from mmadpd.benchmark.runner import projected_schedule_min
from mmadpd.benchmark.steps import (bare_train_step, build_adpd, still_compiled,
                                    synthetic_batch, train_step)
from mmadpd.benchmark.timing import timed_interleaved
from mmadpd.benchmark.validation import bench_val


def compile_option(text):
    """One KEY=VALUE of --compile-options; the value is a Python literal (True, 3, 'x')
    or else a string."""
    key, sep, value = text.partition('=')
    if not sep or not key:
        raise argparse.ArgumentTypeError(f'expected KEY=VALUE, got {text!r}')
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument('--img-size', type=int, default=None,
                   help='square input size (default: the config pipeline size)')
    p.add_argument('--amp', choices=['none', 'bf16', 'fp16'], default='none')
    p.add_argument('--channels-last', action='store_true')
    p.add_argument('--compile', action='store_true', help='torch.compile backbone, heads and losses')
    p.add_argument('--compile-mode', default=None,
                   help='torch.compile mode, e.g. max-autotune (default: torch default)')
    p.add_argument('--compile-options', nargs='+', metavar='KEY=VALUE', default=None,
                   type=compile_option,
                   help='inductor options instead of a mode, e.g. cpp_wrapper=True '
                        "(result keys then carry the option names: '_compiled_cpp_wrapper')")
    p.add_argument('--graph-heads', nargs='?', const='on', choices=('on', 'off'),
                   default=None,
                   help="FastADPD's graph_heads (heads + losses replayed as CUDA graphs in "
                        "eager training): 'on' (= no value; builds FastADPD) or 'off'; "
                        "default: the config's, "
                        'which applies on a CUDA device without --compile. Where it '
                        'applies, the train step is first compared with the plain eager '
                        "step (graph_heads_check) and result keys end in '_graph_heads'")
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--parts', default='train,bare,infer,pipeline')
    p.add_argument('--warmup', type=int, default=3, help='warm-up steps per part')
    p.add_argument('--iters', type=int, default=10, help='steps per timed repeat')
    p.add_argument('--repeats', type=int, default=5,
                   help='timed repeats (medians are reported); (a) and (b) alternate')
    p.add_argument('--pipeline-samples', type=int, default=200)
    p.add_argument('--loop-seconds', type=float, default=0.0)
    p.add_argument('--workers', type=int, default=None, help='DataLoader workers for loop')
    p.add_argument('--loop-batch-size', type=int, default=None,
                   help="batch size of the loop (default: the config's, the schedule's)")
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                   help='override config entries, key=value')
    p.add_argument('--out', help='write the results JSON here')
    p.add_argument('--grad-norm-log-interval', type=int, default=50,
                   help='steps between gradient-norm reads (LazyGradNorm* wrappers); 1 = '
                        "mmengine's wrappers, which sync host and GPU every step")
    p.add_argument('--profile', metavar='TXT',
                   help='after the timing, profile 3 ADPD train steps with torch.profiler '
                        'and write the op table (sorted by device time, then CPU time) here; '
                        'also records the GPU kernel ms per step of ADPD and the bare net '
                        '(kernel ms / step ms = how busy the GPU is) and, on CUDA, every '
                        'call in one step that makes the host wait for the GPU')
    p.add_argument('--torch-threads', type=int, default=None,
                   help="torch's intra-op CPU threads in this process (default: torch's, "
                        'one per core); an A/B knob for the host side of the loop')
    p.add_argument('--profile-loop', metavar='TXT',
                   help='after the timed training loop (e), profile 5 more iterations and '
                        'write the op table here; records the GPU kernel ms per iteration')
    args = p.parse_args(argv)
    if args.compile_options is not None:
        if args.compile_mode:
            p.error('--compile-mode and --compile-options exclude each other (torch.compile '
                    'takes one of them)')
        args.compile_options = dict(args.compile_options)
    if args.graph_heads == 'on' and args.compile:
        p.error('--graph-heads is for eager steps (compiled heads run their own graphs)')
    return args


def load_cfg(args):
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if getattr(args, 'graph_heads', None) == 'on':
        cfg.model.type = 'FastADPD'  # the layer that has the graphed heads
    if getattr(args, 'graph_heads', None) is not None:
        cfg.model.graph_heads = args.graph_heads == 'on'
    return cfg


def graph_heads_measured(cfg, args, device) -> bool:
    """Whether the eager ADPD steps measured run the graphed heads: asked for with
    --graph-heads on (also on a CPU, where only the orchestration runs), or the config's
    model.graph_heads where it applies (a CUDA device, no --compile)."""
    if args.compile or args.graph_heads == 'off':
        return False
    return args.graph_heads == 'on' or (bool(cfg.model.get('graph_heads', False))
                                        and device.type == 'cuda')


def check_graph_heads(cfg, args, device, batch):
    """One step (a replay) of the graphed and of the plain eager ADPD, dropout off,
    compared."""
    from mmadpd.benchmark.graphs_check import compare_graphed_heads, seeded
    eager_cfg = copy.deepcopy(cfg)
    eager_cfg.model.graph_heads = False
    check = compare_graphed_heads(seeded(lambda: build_adpd(eager_cfg, args, device)),
                                  seeded(lambda: build_adpd(cfg, args, device)), batch)
    print(f'    graphed heads (a replay) vs eager, one step without dropout: max relative difference '
          f'of the losses {check["max_loss_rel_diff"]:.2e}, of the gradients '
          f'{check["max_grad_rel_diff"]:.2e}')
    if device.type == 'cuda':
        torch.cuda.empty_cache()
    return check


def describe_run(args, cfg, device, size):
    """The results dict's header: device, versions, settings, the command."""
    return dict(device=(torch.cuda.get_device_name(device) if device.type == 'cuda'
                        else f'cpu ({platform.processor() or platform.machine()}, '
                             f'{os.cpu_count()} cores)'),
                torch=torch.__version__, python=platform.python_version(),
                config=osp.relpath(args.config), batch_size=args.batch_size, img_size=size,
                amp=args.amp, channels_last=args.channels_last, compile=args.compile,
                compile_mode=args.compile_mode, compile_options=args.compile_options,
                grad_norm_log_interval=args.grad_norm_log_interval,
                command=' '.join([osp.basename(sys.executable)] + sys.argv),
                torch_threads=torch.get_num_threads(),
                load_avg_start=list(os.getloadavg()))


def run_train_steps(res, ctx):
    """(a) and (b), timed together (alternating repeats); then --profile."""
    args, device, key = ctx['args'], ctx['device'], ctx['key']
    model, optim, batch = ctx['model'], ctx['optim'], ctx['batch']
    steps = {}
    if 'train' in ctx['parts']:
        model.train()
        steps['adpd_train'] = lambda: train_step(model, batch, optim, args, device)
    if 'bare' in ctx['parts']:
        steps['bare_densenet121_train'] = bare_train_step(
            ctx['cfg'], batch, args, device, model.pathology_head.num_classes)
    times = (timed_interleaved(steps, device, args.warmup, args.iters, args.repeats)
             if steps else {})
    for name, (t, reps) in times.items():
        res[f'{name}_img_s{key}'] = args.batch_size / t
        res[f'{name}_ms_per_step_repeats{key}'] = [r * 1e3 for r in reps]
    if 'adpd_train' in times:
        t = times['adpd_train'][0]
        print(f'(a) ADPD train step: {args.batch_size / t:,.0f} img/s ({t * 1e3:.1f} ms/step)')
        if args.compile:  # a part whose compilation failed runs eager: say so in the JSON
            parts_key = ctx['parts_key']
            res[f'compiled_parts_after_training{parts_key}'] = still_compiled(model)
            print(f'    still compiled after the timed steps: '
                  f'{res[f"compiled_parts_after_training{parts_key}"]}')
    if 'bare_densenet121_train' in times:
        t = times['bare_densenet121_train'][0]
        print(f'(b) bare DenseNet121 train step: {args.batch_size / t:,.0f} img/s '
              f'({t * 1e3:.1f} ms/step)')
    if len(times) == 2:
        ratio = res[f'adpd_train_img_s{key}'] / res[f'bare_densenet121_train_img_s{key}']
        res[f'adpd_over_bare_train{key}'] = ratio
        print(f'    ratio (a)/(b): {ratio:.3f} (repeats alternated)')
    write_json(res, args.out)
    if args.profile and steps:
        profile_train_steps(res, ctx, steps, times)


def profile_train_steps(res, ctx, steps, times):
    """--profile: kernel time of each step, its synchronising calls, the op table."""
    args, device, key = ctx['args'], ctx['device'], ctx['key']
    for name, step in steps.items():
        prof, kernel_ms = profile_steps(step, device)
        record_kernel_time(res, f'{name}{key}', kernel_ms, times[name][0])
        syncs = synchronising_calls(step, device)
        if syncs is not None:
            res[f'{name}_sync_calls{key}'] = syncs
            print(f'    {name}: {len(syncs)} synchronising CUDA call(s) in one step'
                  + ''.join(f'\n      {s}' for s in syncs[:5]))
        if name == 'adpd_train':
            write_profile(prof, device, args.profile,
                          header=f'ADPD train step, batch {args.batch_size}: '
                                 f'{times[name][0] * 1e3:.1f} ms unprofiled, '
                                 f'{kernel_ms:.1f} ms of GPU kernels per step '
                                 '(3 profiled steps)')
            print(f'    profile of 3 ADPD train steps written to {args.profile}')
    write_json(res, args.out)


def run_infer(res, ctx):
    """(c) inference: the network alone and predict() with the post-processing."""
    args, model, key = ctx['args'], ctx['model'], ctx['key']
    t_net, t_full, t_pp = bench_infer(model, ctx['batch'], args, ctx['device'])
    res[f'adpd_infer_img_s{key}'] = args.batch_size / t_net
    res[f'adpd_predict_img_s{key}'] = args.batch_size / t_full
    res['postprocess_ms_per_img'] = t_pp * 1e3
    res['postprocess_case'] = (f'{model.anatomy_head.num_regions} regions all present, '
                               'uniform random probabilities, median of 200 images')
    print(f'(c) ADPD inference, network: {args.batch_size / t_net:,.0f} img/s; '
          f'predict() incl. post-processing: {args.batch_size / t_full:,.0f} img/s; '
          f'post-processing alone {t_pp * 1e3:.3f} ms/img (CPU)')
    write_json(res, args.out)


def run_cost(res, ctx):
    """(g) FLOPs and device operators on the meta device; host ms of the targets."""
    args, size = ctx['args'], ctx['size']
    costs, t_targets, t_preprocess = bench_cost(ctx['cfg'], args, size)
    for name, key_name in (('adpd', 'adpd'), ('bare', 'bare_densenet121')):
        c = costs[name]
        res[f'{key_name}_gflops_per_img'] = c['flops'] / args.batch_size / 1e9
        res[f'{key_name}_device_ops_forward'] = c['forward']['device_ops']
        res[f'{key_name}_device_ops_backward'] = c['backward']['device_ops']
        res[f'{key_name}_param_tensors'] = c['param_tensors']
    res['adpd_over_bare_flops'] = costs['adpd']['flops'] / costs['bare']['flops']
    res['adpd_extra_device_ops_by_op'] = extra_ops(costs['adpd'], costs['bare'])
    res['host_targets_ms_per_batch'] = t_targets * 1e3
    res['host_preprocess_ms_per_batch'] = t_preprocess * 1e3
    a_ops = res['adpd_device_ops_forward'] + res['adpd_device_ops_backward']
    b_ops = (res['bare_densenet121_device_ops_forward']
             + res['bare_densenet121_device_ops_backward'])
    print(f'(g) cost of a forward + backward, batch {args.batch_size} at {size} px '
          f'(meta device, fp32): ADPD {res["adpd_gflops_per_img"]:.2f} GFLOPs/img vs '
          f'bare {res["bare_densenet121_gflops_per_img"]:.2f} '
          f'(x{res["adpd_over_bare_flops"]:.3f}); device operators ADPD {a_ops:,} vs '
          f'bare {b_ops:,}; on the host per batch: ADPD targets {t_targets * 1e3:.1f} ms, '
          f'data preprocessor {t_preprocess * 1e3:.2f} ms')
    write_json(res, args.out)


def run_data(res, ctx):
    """(d) the data pipeline per worker, (d2) the main process's CPU per batch."""
    args, cfg = ctx['args'], ctx['cfg']
    if 'pipeline' in ctx['parts']:
        sps, n, collate_name, breakdown = bench_pipeline(cfg, args)
        res['pipeline_samples_s_per_worker'] = sps
        res['pipeline_collate'] = collate_name
        res['pipeline_images_in_set'] = n
        res['pipeline_ms_per_sample_by_transform'] = breakdown
        print(f'(d) data pipeline: {sps:,.0f} samples/s per worker ({n} images in the set, '
              f'collate {collate_name}); ms/sample: '
              + ', '.join(f'{k} {v:.3f}' for k, v in breakdown.items()))
        write_json(res, args.out)
    if 'transfer' in ctx['parts']:
        ms, tb, tw = bench_transfer(cfg, args, ctx['device'])
        res['transfer_main_process_ms_per_batch'] = ms
        res['transfer_batch_size'] = tb
        res['transfer_collate'] = config_collate(cfg)[1]
        print(f'(d2) main-process CPU per received batch of {tb} ({tw} workers, '
              f'{res["transfer_collate"]}): {ms:.1f} ms')
        write_json(res, args.out)


def run_val(res, ctx):
    """(f) one validation as the schedule runs it."""
    val_s, val_images = bench_val(ctx['cfg'], ctx['args'], ctx['device'])
    res['val_s_per_run'] = val_s
    res['val_images'] = val_images
    print(f'(f) one validation ({val_images} images, with metric and report): '
          f'{val_s:.2f} s')
    write_json(res, ctx['args'].out)


def run_loop(res, ctx):
    """(e) the real training loop (Runner); with (f), the projected schedule."""
    args, cfg, key = ctx['args'], ctx['cfg'], ctx['key']

    def record_loop(loop):
        res[f'train_loop_samples_s{key}'] = loop['samples_s']
        res['train_loop_workers'] = loop['workers']
        res['train_loop_batch_size'] = loop['batch_size']
        res[f'train_loop_iter_ms{key}'] = loop['iter_ms']
        res[f'train_loop_data_wait_ms{key}'] = loop['data_wait_ms']

    def save_timed(loop):  # kept if a time limit stops the profiling or teardown
        record_loop(loop)
        write_json(res, args.out)

    loop = bench_loop(cfg, args, ctx['device'], on_timed=save_timed)
    record_loop(loop)
    sps, workers, loop_batch = loop['samples_s'], loop['workers'], loop['batch_size']
    print(f'(e) real training loop (Runner, {workers} workers, batch {loop_batch}): '
          f'{sps:,.0f} samples/s ({loop["iter_ms"]:.1f} ms per iteration, '
          f'{loop["data_wait_ms"]:.1f} ms of it waiting for data)')
    if 'compiled_parts' in loop:
        res[f'train_loop_compiled_parts{ctx["parts_key"]}'] = loop['compiled_parts']
        print(f'    still compiled after the loop: {loop["compiled_parts"]}')
    if 'kernel_ms' in loop:
        res[f'train_loop_kernel_ms{key}'] = loop['kernel_ms']
        res[f'train_loop_gpu_busy{key}'] = loop['kernel_ms'] / loop['iter_ms']
        print(f'    {loop["kernel_ms"]:.1f} ms of GPU kernels per iteration (GPU busy '
              f'{loop["kernel_ms"] / loop["iter_ms"]:.0%}); profile written to '
              f'{args.profile_loop}')
    if 'val_s_per_run' in res:
        minutes = projected_schedule_min(cfg, sps, res['val_s_per_run'])
        res['projected_schedule_min'] = minutes
        print(f'    projected full schedule ({cfg.train_cfg.max_iters} iterations of '
              f'{cfg.train_dataloader.batch_size} + validations): {minutes:.1f} min')


def main(argv=None):
    args = parse_args(argv)
    from mmadpd.utils import register_all_modules
    register_all_modules()
    torch.backends.cudnn.benchmark = True
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    device = torch.device(args.device)
    cfg = load_cfg(args)
    size = args.img_size or int(cfg.get('image_size', 224))
    parts = set(args.parts.split(','))
    res = describe_run(args, cfg, device, size)
    variant = compile_variant(args.compile_mode, args.compile_options)
    graphed = graph_heads_measured(cfg, args, device)
    res['graph_heads'] = graphed
    ctx = dict(args=args, cfg=cfg, device=device, size=size, parts=parts,
               key=result_suffix(args.compile, variant) + (GRAPH_HEADS if graphed else ''),
               parts_key=mode_suffix(variant),  # compiled-parts lists: per mode / variant
               model=None, optim=None, batch=None)
    if parts & {'train', 'bare', 'infer'}:
        ctx['model'], ctx['optim'] = build_adpd(cfg, args, device)
        ctx['batch'] = synthetic_batch(args.batch_size, size,
                                       ctx['model'].anatomy_head.num_regions,
                                       ctx['model'].pathology_head.num_classes, device)
    if graphed and 'train' in parts:
        res['graph_heads_check'] = check_graph_heads(cfg, args, device, ctx['batch'])
        write_json(res, args.out)
    run_train_steps(res, ctx)
    if 'infer' in parts:
        run_infer(res, ctx)
    if 'cost' in parts:
        run_cost(res, ctx)
    run_data(res, ctx)
    if 'val' in parts:
        run_val(res, ctx)
    if args.loop_seconds > 0:
        ctx.update(model=None, optim=None, batch=None)  # the Runner builds its own
        if device.type == 'cuda':
            torch.cuda.empty_cache()
        run_loop(res, ctx)
    res['load_avg_end'] = list(os.getloadavg())
    if args.out:
        write_json(res, args.out, final=True)
        print(f'written to {args.out}')
    return res


# Seconds the interpreter may take to exit once the results are written. Longer means
# something was left running (e.g. DataLoader workers: a 16-worker loader once held a
# finished benchmark on the H100 for > 2 min): then every thread's stack is printed and
# the process ends (status 1), instead of silently using up a GPU session's minutes.
EXIT_GRACE_S = 30

if __name__ == '__main__':
    main()
    faulthandler.dump_traceback_later(EXIT_GRACE_S, exit=True)
