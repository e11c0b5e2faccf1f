"""Wall-clock timing of steps on a device: medians of repeats, alternating order.

Also the thread settings of a DataLoader worker, for timing the data pipeline as a worker
runs it.
"""
from __future__ import annotations

import statistics
import time
from contextlib import contextmanager, nullcontext

import torch


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


@contextmanager
def worker_threads():
    """One OpenCV and one torch thread, as in a DataLoader worker (mmengine sets
    opencv_num_threads=0 and torch uses 1 thread per worker process)."""
    import cv2

    from mmadpd.apis.onnx_backend import torch_threads
    cv_threads = cv2.getNumThreads()
    cv2.setNumThreads(0)
    try:
        with torch_threads(1):
            yield
    finally:
        cv2.setNumThreads(cv_threads)
