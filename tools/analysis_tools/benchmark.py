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
import copy
import json
import os
import os.path as osp
import platform
import statistics
import sys
import time
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
from mmengine.config import Config, DictAction


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('--batch-size', type=int, default=256)
    p.add_argument('--img-size', type=int, default=None,
                   help='square input size (default: the config pipeline size)')
    p.add_argument('--amp', choices=['none', 'bf16', 'fp16'], default='none')
    p.add_argument('--channels-last', action='store_true')
    p.add_argument('--compile', action='store_true', help='torch.compile backbone + heads')
    p.add_argument('--compile-mode', default=None,
                   help='torch.compile mode, e.g. max-autotune (default: torch default)')
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
    return p.parse_args(argv)


def sync(device):
    if str(device).startswith('cuda'):
        torch.cuda.synchronize()


def timed_interleaved(steps, device, warmup, iters, repeats):
    """Median seconds per call of each of ``steps`` (name -> fn) over ``repeats`` x
    ``iters`` calls after ``warmup`` calls of each.

    The timed repeats of the steps alternate in ABBA order (A B, B A, A B, ...), so that a
    drift of the device (clocks, temperature) or of other load on the host hits every step
    alike: a ratio of two steps timed one after the other can be off by a few per cent from
    the order alone. Returns name -> (median seconds, per-repeat seconds).
    """
    for fn in steps.values():
        for _ in range(warmup):
            fn()
    sync(device)
    names = list(steps)
    per_call = {name: [] for name in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            for _ in range(iters):
                steps[name]()
            sync(device)
            per_call[name].append((time.perf_counter() - t0) / iters)
    return {name: (statistics.median(v), v) for name, v in per_call.items()}


def timed(fn, device, warmup, iters, repeats):
    """Median seconds per call of ``fn`` over ``repeats`` x ``iters`` calls after warm-up."""
    return timed_interleaved({'fn': fn}, device, warmup, iters, repeats)['fn']


def autocast(device, amp):
    if amp == 'none':
        return nullcontext()
    dtype = torch.bfloat16 if amp == 'bf16' else torch.float16
    return torch.autocast(device_type=str(device).split(':')[0], dtype=dtype)


def load_cfg(args):
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def synthetic_batch(batch_size, size, num_regions, num_classes, device, seed=0):
    """A training batch as PackADPDInputs + collate produce it, already on ``device``:
    uint8 (B, 1, S, S) images and data samples with every region present."""
    from mmengine.structures import InstanceData
    from mmdet.structures import DetDataSample
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randint(0, 256, (batch_size, 1, size, size), generator=g, dtype=torch.uint8)
    samples = []
    for _ in range(batch_size):
        xy = torch.rand(num_regions, 2, generator=g) * size * 0.6
        wh = torch.rand(num_regions, 2, generator=g) * size * 0.35 + 4
        s = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                        pad_shape=(size, size), batch_input_shape=(size, size),
                                        scale_factor=(1.0, 1.0)))
        gt = InstanceData()
        gt.bboxes = torch.cat([xy, xy + wh], 1)
        gt.labels = torch.arange(num_regions)
        gt.pathology_labels = (torch.rand(num_regions, num_classes, generator=g) < 0.05).float()
        s.gt_instances = gt
        s.gt_image_labels = gt.pathology_labels.amax(0)
        samples.append(s)
    # data samples stay on the CPU, as ADPDDataPreprocessor leaves them by default
    return dict(inputs=inputs.to(device), data_samples=samples)


def optim_wrapper_cfg(cfg, args, device):
    """The config's optimizer wrapper with the CLI's --amp and --grad-norm-log-interval."""
    optim_cfg = cfg.optim_wrapper.copy()
    if args.amp != 'none' and device.type != 'cuda':
        # mmengine's AmpOptimWrapper refuses to start without a GPU: a dry run on the CPU
        # uses the plain wrapper and runs the step under CPU autocast (see train_step).
        print(f'--amp {args.amp} on {device}: OptimWrapper + torch.autocast (CPU dry run)')
        optim_cfg['type'] = 'OptimWrapper'
        optim_cfg.pop('loss_scale', None)
        optim_cfg.pop('dtype', None)
    elif args.amp != 'none':
        optim_cfg.update(type='AmpOptimWrapper',
                         dtype='bfloat16' if args.amp == 'bf16' else 'float16')
        # bf16 has fp32's range: the dynamic loss scaler only adds an unscale pass and
        # two host synchronisations per step (its inf check).
        optim_cfg['loss_scale'] = (dict(enabled=False) if args.amp == 'bf16'
                                   else 'dynamic')
    else:
        optim_cfg['type'] = 'OptimWrapper'
        optim_cfg.pop('loss_scale', None)
        optim_cfg.pop('dtype', None)
    optim_cfg.pop('grad_norm_log_interval', None)
    if args.grad_norm_log_interval > 1:  # mmadpd's sync-free logging variants
        optim_cfg['type'] = 'LazyGradNorm' + optim_cfg['type']
        optim_cfg['grad_norm_log_interval'] = args.grad_norm_log_interval
    return optim_cfg


def build_adpd(cfg, args, device):
    from mmengine.optim import build_optim_wrapper
    from mmdet.registry import MODELS
    model_cfg = cfg.model.copy()
    model_cfg.backbone.init_cfg = None  # random weights: timing only, no download
    model_cfg.data_preprocessor['channels_last'] = bool(args.channels_last)
    model = MODELS.build(model_cfg).to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if args.compile:
        from mmadpd.utils.compile import compile_submodules
        compile_submodules(model, mode=args.compile_mode)
    optim_cfg = optim_wrapper_cfg(cfg, args, device)
    return model, build_optim_wrapper(model, optim_cfg)


def still_compiled(model):
    """The ADPD parts that run compiled (compile_submodules' fallback resets a part whose
    compiled call failed to eager)."""
    from mmadpd.utils.compile import DEFAULT_PARTS
    return [name for name in DEFAULT_PARTS
            if getattr(getattr(model, name, None), '_compiled_call_impl', None) is not None]


def train_step(model, data, optim_wrapper, args, device):
    """model.train_step; on a CPU with --amp, under CPU autocast (AmpOptimWrapper's
    optim_context does that on a GPU)."""
    if args.amp != 'none' and device.type != 'cuda':
        with autocast(device, args.amp):
            return model.train_step(data, optim_wrapper)
    return model.train_step(data, optim_wrapper)


def profile_steps(step, device, n=3):
    """torch.profiler over ``n`` calls of ``step`` (after one unprofiled call).

    Returns (profile, device-kernel ms per step). The kernel time is the sum of the ops'
    self device time; divided by the UNPROFILED step time it is the fraction of the step
    the GPU computes (1.0 = GPU-bound; less = the GPU waits for the host)."""
    from torch.profiler import ProfilerActivity, profile
    acts = [ProfilerActivity.CPU]
    if device.type == 'cuda':
        acts.append(ProfilerActivity.CUDA)
    step()
    sync(device)
    with profile(activities=acts, record_shapes=False) as prof:
        for _ in range(n):
            step()
        sync(device)
    return prof, kernel_ms(prof.key_averages()) / n


def synchronising_calls(step, device):
    """Where one call of ``step`` makes the host wait for the GPU, or None off CUDA.

    Runs the step once under ``torch.cuda.set_sync_debug_mode('warn')``, in which CUDA
    calls that block the host (``.item()``, a pageable or blocking copy, ``nonzero``, ...)
    raise a warning; returns one ``'file:line: message'`` per such call (the Python line
    that made it). The lazily logged gradient norm reads back once per
    --grad-norm-log-interval steps, which can fall into this step.
    """
    if device.type != 'cuda':
        return None
    import warnings
    step()
    sync(device)
    previous = torch.cuda.get_sync_debug_mode()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        torch.cuda.set_sync_debug_mode('warn')
        try:
            step()
        finally:
            torch.cuda.set_sync_debug_mode(previous)
    sync(device)
    return [f'{osp.relpath(w.filename)}:{w.lineno}: '
            f'{str(w.message).strip().splitlines()[0][:160]}'
            for w in caught if 'synchroniz' in str(w.message)
            and 'prototype feature' not in str(w.message)]  # torch's notice about the mode


def kernel_ms(events):
    """Total GPU kernel ms of profiler events. As in the profiler's own table footer, only
    the device-side (kernel) events count: the CPU ops that launched them may report the
    same time again as their own device time."""
    from torch.autograd import DeviceType
    return sum(e.self_device_time_total for e in events
               if e.device_type not in (DeviceType.CPU, None)) / 1e3


def write_profile(prof, device, out_file, header=''):
    """The op table, sorted by device time (on a GPU) and by CPU time."""
    table = [header] if header else []
    for key in (['cuda_time_total'] if device.type == 'cuda' else []) + ['cpu_time_total']:
        table.append(f'== sorted by {key} ==')
        table.append(prof.key_averages().table(sort_by=key, row_limit=40))
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    with open(out_file, 'w') as f:
        f.write('\n'.join(table))


def bare_classifier(cfg, args, device, num_classes):
    """Bare torchvision DenseNet121 multi-label classifier and the config's optimizer."""
    import torchvision
    net = torchvision.models.densenet121(weights=None, num_classes=num_classes).to(device)
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt_cfg = dict(cfg.optim_wrapper.optimizer)
    opt_cls = getattr(torch.optim, opt_cfg.pop('type'))
    return net, opt_cls(net.parameters(), **opt_cfg)


def grey_mean_std(cfg):
    """The grey mean and std of the config's ADPDDataPreprocessor (0-255 scale)."""
    pre = cfg.model.data_preprocessor
    return float(pre['mean'][0]), float(pre['std'][0])


def bare_loss(net, images, target, args, device, mean_std):
    """BCE loss of the bare classifier: uint8 (B, 1, S, S) ``images`` preprocessed as
    ADPDDataPreprocessor does (normalise with ``mean_std``, expand to 3 channels, memory
    format); ``target`` (B, C) 0/1 on the device."""
    mean, std = mean_std
    x = ((images.float() - mean) / std).expand(-1, 3, -1, -1)
    x = x.contiguous(memory_format=torch.channels_last if args.channels_last
                     else torch.contiguous_format)
    with autocast(device, args.amp):
        return torch.nn.functional.binary_cross_entropy_with_logits(net(x).float(), target)


def image_targets(batch, device):
    return torch.stack([s.gt_image_labels for s in batch['data_samples']]).to(device)


def bare_train_step(cfg, batch, args, device, num_classes):
    """One train step of a bare torchvision DenseNet121 multi-label classifier on the same
    input, optimizer, AMP and memory format as ADPD's (a callable)."""
    net, opt = bare_classifier(cfg, args, device, num_classes)
    if args.compile:
        net.compile(**({'mode': args.compile_mode} if args.compile_mode else {}))
    target = image_targets(batch, device)  # built once: (a) has its data on the device
    mean_std = grey_mean_std(cfg)

    def step():
        loss = bare_loss(net, batch['inputs'], target, args, device, mean_std)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()

    net.train()
    return step


def bench_infer(model, batch, args, device):
    model.eval()
    data = model.data_preprocessor(batch, False)
    with torch.no_grad():
        def net_only():
            with autocast(device, args.amp):
                model._forward(data['inputs'])
        t_net, _ = timed(net_only, device, args.warmup, args.iters, args.repeats)

        def full():
            with autocast(device, args.amp):
                model.predict(data['inputs'], data['data_samples'])
        t_full, _ = timed(full, device, 1, max(1, args.iters // 2), args.repeats)
    # The CPU post-processing alone (WBF + top-1 per image) on 200 random images with
    # every region present and uniform probabilities (about half the mapped classes are
    # candidates in every region: a heavy case for WBF).
    rng = np.random.default_rng(0)
    num_r, num_c = model.anatomy_head.num_regions, model.pathology_head.num_classes
    # (image, region, corner, xy) sorted over the corners: x1 < x2 and y1 < y2
    boxes = np.sort(rng.uniform(0, 224, (200, num_r, 2, 2)), axis=2).reshape(200, num_r, 4)
    probs = rng.uniform(0, 1, (200, num_r, num_c)).astype(np.float32)
    present = np.ones(num_r, np.float32)  # logit 1 > presence_thr 0.5
    pp = model.postprocessor
    per_img = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        for i in range(200):
            pp(boxes[i], present, probs[i], (224, 224))
        per_img.append((time.perf_counter() - t0) / 200)
    t_pp = statistics.median(per_img)
    return t_net, t_full, t_pp


def bench_cost(cfg, args, size):
    """(g) cost: FLOPs and device operators (each at least one kernel launch) of one ADPD
    and one bare forward + backward at the benchmark's batch and image size, counted on
    the meta device (no data, so any machine gives the counts a GPU would see; fp32: AMP
    adds its casts to both), and the host CPU ms per batch to build ADPD's targets from
    the data samples. See mmadpd/utils/step_cost.py."""
    from mmadpd.utils.step_cost import train_step_cost
    meta = torch.device('meta')
    meta_args = copy.copy(args)
    meta_args.amp, meta_args.compile = 'none', False
    model, _ = build_adpd(cfg, meta_args, meta)
    num_r, num_c = model.anatomy_head.num_regions, model.pathology_head.num_classes
    batch = synthetic_batch(args.batch_size, size, num_r, num_c, meta)
    model.train()

    def adpd_loss():
        data = model.data_preprocessor(batch, True)
        return model.parse_losses(model(**data, mode='loss'))[0]

    net, _ = bare_classifier(cfg, meta_args, meta, num_c)
    net.train()
    target = image_targets(batch, meta)
    costs = dict(adpd=train_step_cost(adpd_loss),
                 bare=train_step_cost(lambda: bare_loss(net, batch['inputs'], target,
                                                        meta_args, meta,
                                                        grey_mean_std(cfg))))
    costs['adpd']['param_tensors'] = sum(1 for _ in model.parameters())
    costs['bare']['param_tensors'] = sum(1 for _ in net.parameters())

    samples = batch['data_samples']

    def targets():  # what ADPD.loss builds on the host before every forward
        model.anatomy_head.get_targets(samples, device='cpu')
        model.pathology_head.get_targets(samples, num_r, device='cpu')

    with worker_threads():  # one core, as the main process has for it in the loop
        t_targets, _ = timed(targets, torch.device('cpu'), 1, 3, args.repeats)
    return costs, t_targets


def extra_ops(adpd, bare, top=15):
    """Device operators ADPD dispatches beyond the bare classifier (forward + backward),
    most frequent first."""
    from collections import Counter
    counts = Counter()
    for phase in ('forward', 'backward'):
        counts.update(adpd[phase]['by_op'])
        counts.subtract(bare[phase]['by_op'])
    return {k: v for k, v in counts.most_common(top) if v > 0}


@contextmanager
def worker_threads():
    """One OpenCV and one torch thread, as in a DataLoader worker (mmengine sets
    opencv_num_threads=0 and torch uses 1 thread per worker process)."""
    import cv2
    cv_threads, torch_threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(0)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(cv_threads)
        torch.set_num_threads(torch_threads)


def config_collate(cfg):
    """The collate function the config's train DataLoader uses (as Runner builds it)."""
    from functools import partial
    from mmengine.registry import FUNCTIONS
    coll = dict(cfg.train_dataloader.get('collate_fn', dict(type='pseudo_collate')))
    fn = coll.pop('type')
    return partial(FUNCTIONS.get(fn) if isinstance(fn, str) else fn, **coll), \
        fn if isinstance(fn, str) else getattr(fn, '__name__', str(fn))


def bench_pipeline(cfg, args):
    """Dataset __getitem__ (decode + augmentation + pack) + collate in this process.

    Returns samples/s (median of --repeats passes over the first --pipeline-samples
    images), the set size, the collate name and the median ms per sample of every
    transform (one extra pass)."""
    from mmdet.registry import DATASETS
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    collate, collate_name = config_collate(cfg)
    n = min(args.pipeline_samples, len(ds))
    batch_size = min(32, args.batch_size)
    with worker_threads():
        for i in range(min(10, n)):
            ds[i]
        rates = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            batch = []
            for i in range(n):
                batch.append(ds[i])
                if len(batch) == batch_size:
                    collate(batch)
                    batch = []
            if batch:
                collate(batch)
            rates.append(n / (time.perf_counter() - t0))
        per_transform = {}
        for i in range(n):
            results = ds.get_data_info(i)
            for t in ds.pipeline.transforms:
                t0 = time.perf_counter()
                results = t(results)
                per_transform.setdefault(type(t).__name__, []).append(
                    time.perf_counter() - t0)
    breakdown = {k: 1e3 * statistics.median(v) for k, v in per_transform.items()}
    return statistics.median(rates), len(ds), collate_name, breakdown


def timing_loader_cfg(dl, args, device, workers=None):
    """The config's train DataLoader as the timed parts use it (modified in place and
    returned): --loop-batch-size, ``workers`` processes (persistent), pinned memory on a
    GPU, and a sampler that never ends: a small (phantom) set would end an epoch every
    few batches, and each new epoch waits for its first batch; the real 234k-image set
    does that once per ~1,800 iterations (nothing measurable)."""
    if args.loop_batch_size:
        dl['batch_size'] = args.loop_batch_size
    if workers is not None:
        dl['num_workers'] = workers
        dl['persistent_workers'] = workers > 0
    dl['pin_memory'] = device.type == 'cuda'
    dl['sampler'] = dict(type='InfiniteSampler', shuffle=True)
    return dl


def bench_transfer(cfg, args, device, batches=12):
    """Main-process CPU time per batch received from DataLoader workers: unpickling the
    batch (shared-memory handles, the data samples), unpacking it and, on a GPU, pinning
    it. This runs on the one main process however many workers there are, so it bounds
    the training loop: at 2,200 samples/s a 128-sample batch must cost well under 58 ms.

    Returns (median ms per batch, batch size, workers)."""
    from mmengine.runner import Runner
    from mmengine.utils.dl_utils import set_multi_processing
    dl_cfg = timing_loader_cfg(copy.deepcopy(cfg.train_dataloader), args, device,
                               workers=max(1, min(args.workers or 2, 4)))
    set_multi_processing(mp_start_method='fork', opencv_num_threads=0, distributed=False)
    loader = Runner.build_dataloader(dl_cfg, seed=0)
    it = iter(loader)
    next(it)  # workers started
    per_batch = []
    for _ in range(batches):
        # process_time: CPU of the main process only (its pin-memory thread included),
        # not the time spent waiting for the workers
        t0 = time.process_time()
        next(it)
        per_batch.append(time.process_time() - t0)
    del it, loader
    return 1e3 * statistics.median(per_batch), dl_cfg['batch_size'], dl_cfg['num_workers']


def runner_cfg(cfg, args, work_dir, part):
    """A copy of the config for a benchmark Runner (``part``: 'loop' or 'val'): its own
    work_dir, visualizer and message hub (mmengine keeps them as named global instances,
    and a second Runner in this process would otherwise reuse the first one's and its
    deleted work_dir), quiet logging, random backbone weights (timing only), the CLI's
    --channels-last and --compile (also for configs that switch compilation on
    themselves), and no checkpoint saving or early stopping (they need a training run
    with validation; a checkpoint save is ~0.25 s, see projected_schedule_min)."""
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    stamp = f'adpd_benchmark_{part}_{os.getpid()}_{time.monotonic_ns()}'
    cfg.experiment_name = stamp
    if cfg.get('visualizer'):
        cfg.visualizer['name'] = stamp
    cfg.load_from, cfg.resume = None, False
    cfg.log_level = 'WARNING'  # no config dump / hook table in the benchmark's output
    cfg.model.backbone.init_cfg = None
    cfg.model.data_preprocessor['channels_last'] = bool(args.channels_last)
    cfg.default_hooks.pop('compile', None)
    if args.compile:
        cfg.default_hooks.compile = dict(type='ADPDCompileHook', mode=args.compile_mode)
    cfg.default_hooks.checkpoint = None
    cfg.custom_hooks = [h for h in cfg.get('custom_hooks', [])
                        if h.get('type') != 'EarlyStoppingHook']
    return cfg


def bench_val(cfg, args, device):
    """One validation as the schedule runs it every ``val_interval`` iterations:
    mmengine's ValLoop over the config's val set (the CXR8 val half) with its persistent
    workers, predict() + WBF post-processing, the CXR8 metric and the report hook (random
    weights: many candidate boxes, a heavy case for the post-processing). The second of
    two runs is timed, to the end of its validation epoch; the first starts the workers
    and cuDNN's autotuning, which a training run pays once. A report written in the
    background (the fast config) is not waited for: training would go on meanwhile.

    Returns (seconds per validation, images in the val set)."""
    import tempfile
    from mmengine.runner import Runner
    with tempfile.TemporaryDirectory(prefix='adpd_val_') as work_dir:
        vcfg = runner_cfg(cfg, args, work_dir, 'val')
        # a validation-only Runner: mmengine wants all training parts or none
        for key in ('train_dataloader', 'train_cfg', 'optim_wrapper', 'param_scheduler',
                    'test_dataloader', 'test_cfg', 'test_evaluator'):
            vcfg[key] = None
        runner = Runner.from_cfg(vcfg)
        end = _ValEnd(device)
        runner.register_hook(end, priority='LOWEST')
        runner.val()
        sync(device)
        t0 = time.perf_counter()
        runner.val()
        # until the end of the validation epoch, after every other hook's after_val_epoch
        # (a synchronous report included), but not the end-of-run wait for a report that
        # ADPDReportHook(background=True) writes while training would go on
        elapsed = end.t_end - t0
        images = len(runner.val_dataloader.dataset)
    return elapsed, images


def _ValEnd(device):
    """Hook that notes the time when a validation epoch has ended (GPU synchronised)."""
    from mmengine.hooks import Hook

    class ValEnd(Hook):
        t_end = None

        def after_val_epoch(self, runner, metrics=None):
            sync(device)
            self.t_end = time.perf_counter()

    return ValEnd()


def projected_schedule_min(cfg, loop_sps, val_s):
    """Minutes of the config's whole schedule: its samples (``max_iters`` x the config's
    batch size) at the measured loop rate plus one measured validation every
    ``val_interval`` iterations (checkpoint saving, ~0.25 s per 148 MB checkpoint on a
    plain disk, is left out)."""
    iters = int(cfg.train_cfg.max_iters)
    validations = iters // int(cfg.train_cfg.get('val_interval', iters) or iters)
    samples = iters * int(cfg.train_dataloader.batch_size)
    return (samples / loop_sps + validations * val_s) / 60.0


class _LoopTimer:
    """Runner hook that times the training iterations after ``warmup`` of them (GPU
    synchronised at both ends only) and stops the loop after ``seconds``; meanwhile it
    sums mmengine's IterTimerHook numbers (``data_time``: the wait for the DataLoader's
    next batch). With ``profile_iters`` it then runs that many more iterations under
    torch.profiler (after the timed window, so the timing is not disturbed)."""

    def __init__(self, warmup, seconds, device, profile_iters=0):
        from mmengine.hooks import Hook

        timer = self

        class Timer(Hook):
            priority = 'LOWEST'

            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                timer.step(runner, data_batch)

        self.hook = Timer()
        self.warmup, self.seconds, self.device = warmup, seconds, device
        self.profile_iters = profile_iters
        self.iters = self.seen = self.timed_iters = 0
        self.data_wait_s = 0.0
        self.t0 = self.elapsed = None
        self.prof = None
        self.profiled = 0

    def step(self, runner, data_batch):
        self.iters += 1
        if self.iters == self.warmup:
            sync(self.device)
            self.t0 = time.perf_counter()
            return
        if self.t0 is None:
            return
        if self.elapsed is not None:  # profiling after the timed window
            self.profiled += 1
            if self.profiled >= self.profile_iters:
                sync(self.device)
                self.prof.__exit__(None, None, None)
                runner.train_loop.stop_training = True
            return
        self.seen += len(data_batch['data_samples'])
        self.timed_iters += 1
        self.data_wait_s += float(runner.message_hub.get_scalar('train/data_time').current())
        if time.perf_counter() - self.t0 >= self.seconds:
            sync(self.device)
            self.elapsed = time.perf_counter() - self.t0
            if self.profile_iters > 0:
                from torch.profiler import ProfilerActivity, profile
                acts = [ProfilerActivity.CPU]
                if self.device.type == 'cuda':
                    acts.append(ProfilerActivity.CUDA)
                self.prof = profile(activities=acts, record_shapes=False)
                self.prof.__enter__()
            else:
                runner.train_loop.stop_training = True


def loop_config(cfg, args, device, work_dir):
    """The config's training run, reduced to its training loop: no validation, no
    checkpoints, no report; the CLI's --amp/--channels-last/--compile applied as in
    (a)-(c); random backbone weights (timing only)."""
    cfg = runner_cfg(cfg, args, work_dir, 'loop')
    cfg.optim_wrapper = optim_wrapper_cfg(cfg, args, device)
    # the loop stops itself after --loop-seconds; no validation or test inside it
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=10 ** 9, val_interval=10 ** 9)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader',
                'test_cfg', 'test_evaluator'):
        cfg[key] = None
    cfg.default_hooks.pop('report', None)  # mmengine takes None only for its own hooks
    timing_loader_cfg(cfg.train_dataloader, args, device, workers=args.workers)
    return cfg


def bench_loop(cfg, args, device):
    """The real training loop: mmengine's Runner built from the config (its DataLoader
    with --workers processes, data preprocessor, optimizer wrapper, parameter schedulers
    and default hooks: runtime info, timer, logger), timed after --warmup iterations;
    with --profile-loop, a few more iterations under torch.profiler.

    Returns a dict: samples/s, workers, batch size, ms per iteration, ms per iteration
    spent waiting for the DataLoader and, when profiled, GPU kernel ms per iteration."""
    import tempfile
    from mmengine.runner import Runner
    profile_iters = 5 if args.profile_loop else 0
    with tempfile.TemporaryDirectory(prefix='adpd_loop_') as work_dir:
        loop_cfg = loop_config(cfg, args, device, work_dir)
        runner = Runner.from_cfg(loop_cfg)
        timer = _LoopTimer(max(args.warmup, 1), args.loop_seconds, device, profile_iters)
        runner.register_hook(timer.hook)
        runner.train()
    if timer.elapsed is None or not timer.timed_iters:
        raise RuntimeError('benchmark loop: the training loop ended before it was timed')
    dl = loop_cfg.train_dataloader
    iter_ms = 1e3 * timer.elapsed / timer.timed_iters
    out = dict(samples_s=timer.seen / timer.elapsed, workers=dl.num_workers,
               batch_size=dl.batch_size, iter_ms=iter_ms,
               data_wait_ms=1e3 * timer.data_wait_s / timer.timed_iters)
    if timer.prof is not None and timer.profiled:
        per_iter = kernel_ms(timer.prof.key_averages()) / timer.profiled  # 0 on a CPU
        if device.type == 'cuda':
            out['kernel_ms'] = per_iter
        write_profile(timer.prof, device, args.profile_loop,
                      header=f'training loop, batch {dl.batch_size}, {dl.num_workers} '
                             f'workers: {iter_ms:.1f} ms per iteration unprofiled, '
                             f'{per_iter:.1f} ms of GPU kernels per iteration '
                             f'({timer.profiled} profiled iterations)')
    return out


def record_kernel_time(res, name, kernel_ms, step_s):
    """GPU kernel ms per step and the busy fraction (kernels / unprofiled step time)."""
    res[f'{name}_step_ms'] = step_s * 1e3
    res[f'{name}_kernel_ms_per_step'] = kernel_ms
    if kernel_ms > 0:  # only a GPU profile has kernels
        res[f'{name}_gpu_busy'] = kernel_ms / (step_s * 1e3)
        print(f'    {name}: {kernel_ms:.1f} ms of GPU kernels in a {step_s * 1e3:.1f} ms step '
              f'(GPU busy {kernel_ms / (step_s * 1e3):.0%})')


def write_json(res, path, final=False):
    """Write the results so far (atomically): a run stopped by a time limit keeps every
    part it finished; ``complete`` says whether all requested parts ran."""
    if not path:
        return
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(dict(res, complete=final), f, indent=2)
    os.replace(tmp, path)


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
    res = dict(device=(torch.cuda.get_device_name(device) if device.type == 'cuda'
                       else f'cpu ({platform.processor() or platform.machine()}, '
                            f'{os.cpu_count()} cores)'),
               torch=torch.__version__, python=platform.python_version(),
               config=osp.relpath(args.config), batch_size=args.batch_size, img_size=size,
               amp=args.amp, channels_last=args.channels_last, compile=args.compile,
               grad_norm_log_interval=args.grad_norm_log_interval,
               command=' '.join([osp.basename(sys.executable)] + sys.argv),
               torch_threads=torch.get_num_threads(),
               load_avg_start=list(os.getloadavg()))
    key = '_compiled' if args.compile else ''

    model = optim = batch = None
    if parts & {'train', 'bare', 'infer'}:
        model, optim = build_adpd(cfg, args, device)
        batch = synthetic_batch(args.batch_size, size, model.anatomy_head.num_regions,
                                model.pathology_head.num_classes, device)
    steps = {}  # (a) and (b), timed together (alternating repeats)
    if 'train' in parts:
        model.train()
        steps['adpd_train'] = lambda: train_step(model, batch, optim, args, device)
    if 'bare' in parts:
        steps['bare_densenet121_train'] = bare_train_step(
            cfg, batch, args, device, model.pathology_head.num_classes)
    times = (timed_interleaved(steps, device, args.warmup, args.iters, args.repeats)
             if steps else {})
    for name, (t, reps) in times.items():
        res[f'{name}_img_s{key}'] = args.batch_size / t
        res[f'{name}_ms_per_step_repeats{key}'] = [r * 1e3 for r in reps]
    if 'adpd_train' in times:
        t = times['adpd_train'][0]
        print(f'(a) ADPD train step: {args.batch_size / t:,.0f} img/s ({t * 1e3:.1f} ms/step)')
        if args.compile:  # a part whose compilation failed runs eager: say so in the JSON
            res['compiled_parts_after_training'] = still_compiled(model)
            print(f'    still compiled after the timed steps: '
                  f'{res["compiled_parts_after_training"]}')
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
    if 'infer' in parts:
        t_net, t_full, t_pp = bench_infer(model, batch, args, device)
        res[f'adpd_infer_img_s{key}'] = args.batch_size / t_net
        res[f'adpd_predict_img_s{key}'] = args.batch_size / t_full
        res['postprocess_ms_per_img'] = t_pp * 1e3
        res['postprocess_case'] = (f'{model.anatomy_head.num_regions} regions all present, '
                                   'uniform random probabilities, median of 200 images')
        print(f'(c) ADPD inference, network: {args.batch_size / t_net:,.0f} img/s; '
              f'predict() incl. post-processing: {args.batch_size / t_full:,.0f} img/s; '
              f'post-processing alone {t_pp * 1e3:.3f} ms/img (CPU)')
        write_json(res, args.out)
    if 'cost' in parts:
        costs, t_targets = bench_cost(cfg, args, size)
        for name, key_name in (('adpd', 'adpd'), ('bare', 'bare_densenet121')):
            c = costs[name]
            res[f'{key_name}_gflops_per_img'] = c['flops'] / args.batch_size / 1e9
            res[f'{key_name}_device_ops_forward'] = c['forward']['device_ops']
            res[f'{key_name}_device_ops_backward'] = c['backward']['device_ops']
            res[f'{key_name}_param_tensors'] = c['param_tensors']
        res['adpd_over_bare_flops'] = costs['adpd']['flops'] / costs['bare']['flops']
        res['adpd_extra_device_ops_by_op'] = extra_ops(costs['adpd'], costs['bare'])
        res['host_targets_ms_per_batch'] = t_targets * 1e3
        a_ops = res['adpd_device_ops_forward'] + res['adpd_device_ops_backward']
        b_ops = (res['bare_densenet121_device_ops_forward']
                 + res['bare_densenet121_device_ops_backward'])
        print(f'(g) cost of a forward + backward, batch {args.batch_size} at {size} px '
              f'(meta device, fp32): ADPD {res["adpd_gflops_per_img"]:.2f} GFLOPs/img vs '
              f'bare {res["bare_densenet121_gflops_per_img"]:.2f} '
              f'(x{res["adpd_over_bare_flops"]:.3f}); device operators ADPD {a_ops:,} vs '
              f'bare {b_ops:,}; ADPD targets on the host {t_targets * 1e3:.1f} ms per batch')
        write_json(res, args.out)
    if 'pipeline' in parts:
        sps, n, collate_name, breakdown = bench_pipeline(cfg, args)
        res['pipeline_samples_s_per_worker'] = sps
        res['pipeline_collate'] = collate_name
        res['pipeline_images_in_set'] = n
        res['pipeline_ms_per_sample_by_transform'] = breakdown
        print(f'(d) data pipeline: {sps:,.0f} samples/s per worker ({n} images in the set, '
              f'collate {collate_name}); ms/sample: '
              + ', '.join(f'{k} {v:.3f}' for k, v in breakdown.items()))
        write_json(res, args.out)
    if 'transfer' in parts:
        ms, tb, tw = bench_transfer(cfg, args, device)
        res['transfer_main_process_ms_per_batch'] = ms
        res['transfer_batch_size'] = tb
        res['transfer_collate'] = config_collate(cfg)[1]
        print(f'(d2) main-process CPU per received batch of {tb} ({tw} workers, '
              f'{res["transfer_collate"]}): {ms:.1f} ms')
        write_json(res, args.out)
    if 'val' in parts:
        val_s, val_images = bench_val(cfg, args, device)
        res['val_s_per_run'] = val_s
        res['val_images'] = val_images
        print(f'(f) one validation ({val_images} images, with metric and report): '
              f'{val_s:.2f} s')
        write_json(res, args.out)
    if args.loop_seconds > 0:
        del model, optim, batch  # the Runner builds its own
        if device.type == 'cuda':
            torch.cuda.empty_cache()
        loop = bench_loop(cfg, args, device)
        sps, workers, loop_batch = loop['samples_s'], loop['workers'], loop['batch_size']
        res[f'train_loop_samples_s{key}'] = sps
        res['train_loop_workers'] = workers
        res['train_loop_batch_size'] = loop_batch
        res[f'train_loop_iter_ms{key}'] = loop['iter_ms']
        res[f'train_loop_data_wait_ms{key}'] = loop['data_wait_ms']
        print(f'(e) real training loop (Runner, {workers} workers, batch {loop_batch}): '
              f'{sps:,.0f} samples/s ({loop["iter_ms"]:.1f} ms per iteration, '
              f'{loop["data_wait_ms"]:.1f} ms of it waiting for data)')
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
    res['load_avg_end'] = list(os.getloadavg())
    if args.out:
        write_json(res, args.out, final=True)
        print(f'written to {args.out}')
    return res


if __name__ == '__main__':
    main()
