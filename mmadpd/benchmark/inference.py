"""(c) ADPD inference: the network alone, predict() with the post-processing, and the
CPU post-processing (WBF + top-1) per image."""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

from ..utils.compile import mark_step
from .timing import autocast, timed


def bench_infer(model, batch, args, device):
    model.eval()
    data = model.data_preprocessor(batch, False)
    with torch.no_grad():
        def net_only():
            if args.compile:
                mark_step()
            with autocast(device, args.amp):
                model._forward(data['inputs'])
        t_net, _ = timed(net_only, device, args.warmup, args.iters, args.repeats)

        def full():
            if args.compile:
                mark_step()
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
