"""(h) Inference at scale: batched post-processing, and file -> JSON with torch vs ONNX
Runtime (``tools/analysis_tools/inference_benchmark.py`` is the command line).

* :func:`bench_postprocess`: the per-image post-processing (the reference) and the batched
  one (``WBFPathologyPostProcessor(batched=True)``) on the same random batch: R regions all
  present, uniform random box corners and probabilities (about half the mapped classes are
  candidates in every region: a heavy case for WBF), ms per image (wall and this process's
  CPU time), median of repeats.
* :func:`bench_file_to_json`: the archive runner (``mmadpd.apis.archive.run_archive``, no
  overlay, decoding in this process) over the same PNG files with each backend, the ONNX
  Runtime models taking turns pass by pass, torch in a block of its own after them; ms
  per image, median and quartiles over passes.
"""
from __future__ import annotations

import statistics
import tempfile
import time
from typing import Dict, Sequence

import numpy as np


def random_postprocess_batch(num_images: int, num_regions: int, num_classes: int,
                             size: float = 224.0, seed: int = 0):
    """(B, R, 4) xyxy boxes inside a size x size image, (B, R) logits 1 (present),
    (B, R, C) float32 probabilities, (B, 2) sizes."""
    rng = np.random.default_rng(seed)
    boxes = np.sort(rng.uniform(0, size, (num_images, num_regions, 2, 2)), axis=2)
    probs = rng.uniform(0, 1, (num_images, num_regions, num_classes)).astype(np.float32)
    return (boxes.reshape(num_images, num_regions, 4), np.ones((num_images, num_regions)),
            probs, np.full((num_images, 2), size))


def bench_postprocess(postprocessor, num_regions: int, num_classes: int, batch: int = 256,
                      repeats: int = 7) -> Dict:
    """ms per image of the per-image and the batched post-processing on one batch; the
    outputs are checked to be equal before timing."""
    import copy

    args = random_postprocess_batch(batch, num_regions, num_classes)
    per_image, batched = copy.copy(postprocessor), copy.copy(postprocessor)
    per_image.batched, batched.batched = False, True
    ref, got = per_image.process_batch(*args), batched.process_batch(*args)
    identical = all(
        all(np.array_equal(a, b) for a, b in zip(r[:3], g[:3])) and r[3] == g[3]
        for r, g in zip(ref, got))
    wall = {'per_image': [], 'batched': []}
    cpu = {'per_image': [], 'batched': []}
    for _ in range(repeats):
        for name, pp in (('per_image', per_image), ('batched', batched)):
            start, start_cpu = time.perf_counter(), time.process_time()
            pp.process_batch(*args)
            cpu[name].append((time.process_time() - start_cpu) / batch * 1e3)
            wall[name].append((time.perf_counter() - start) / batch * 1e3)
    res = {'batch': batch, 'num_regions': num_regions, 'num_training_classes': num_classes,
           'num_target_classes': len(postprocessor.target_index),
           'outputs_identical': identical}
    for name in ('per_image', 'batched'):
        # wall time is what a quiet machine shows; this process's CPU time (one thread)
        # is what the work costs when other processes share the cores
        res[f'{name}_ms_per_img'] = statistics.median(wall[name])
        res[f'{name}_cpu_ms_per_img'] = statistics.median(cpu[name])
        res[f'{name}_repeats_ms'] = wall[name]
    return res


def bench_file_to_json(inferencers: Dict[str, object], files: Sequence[str],
                       batch_sizes: Sequence[int] = (1, 16), repeats: int = 3,
                       own_block: Sequence[str] = ('pytorch',)) -> Dict:
    """Per backend name and batch size: ms per file from reading the PNG to the written
    JSON (no overlay), median and quartiles over ``repeats`` passes over all ``files``.

    The machine this was built on runs the same ONNX Runtime network at ~33 or ~52 ms in
    episodes of seconds to minutes (benchmarks/README.md), so the backends to be compared
    take turns pass by pass (a pass: all files, ~0.5-1 s), each episode then hitting them
    alike. The backends named in ``own_block`` (torch: its OpenMP threads slowed ONNX
    Runtime when the two alternated) run afterwards, each in a block of passes of its own.
    Every backend gets one warm-up pass first.
    """
    from mmadpd.apis import expand_inputs, unique_stems
    from mmadpd.apis.archive import run_archive

    items = expand_inputs(list(files))
    stems = unique_stems(item.name for item in items)
    passes: Dict[str, Dict[int, list]] = {name: {b: [] for b in batch_sizes}
                                          for name in inferencers}
    with tempfile.TemporaryDirectory() as tmp:
        def one_pass(name, batch):
            start = time.perf_counter()
            rows = run_archive(inferencers[name], items, stems, tmp, batch_size=batch,
                               workers=0, overlay=False)
            assert all(row['status'] == 'ok' for row in rows)
            passes[name][batch].append((time.perf_counter() - start) / len(items) * 1e3)

        turns = [name for name in inferencers if name not in own_block]
        blocks = [name for name in inferencers if name in own_block]
        for name in turns:
            one_pass(name, batch_sizes[0])
            passes[name][batch_sizes[0]].pop()  # warm-up
        for batch in batch_sizes:
            for _ in range(repeats):
                for name in turns:
                    one_pass(name, batch)
        for name in blocks:
            one_pass(name, batch_sizes[0])
            passes[name][batch_sizes[0]].pop()
            for batch in batch_sizes:
                for _ in range(repeats):
                    one_pass(name, batch)
    out: Dict[str, Dict] = {}
    for name in inferencers:  # the caller's order
        for batch, values in passes[name].items():
            ms = statistics.median(values)
            low, _, high = (statistics.quantiles(values, n=4) if len(values) > 1
                            else (ms, ms, ms))
            out.setdefault(name, {})[f'batch{batch}'] = {
                'ms_per_img': ms, 'img_per_s': 1e3 / ms, 'ms_per_img_p25': low,
                'ms_per_img_p75': high, 'repeats_ms': values}
    return out
