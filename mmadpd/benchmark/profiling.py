"""torch.profiler of train steps: GPU kernel time per step, the op tables, and the calls
that make the host wait for the GPU."""
from __future__ import annotations

import os
import os.path as osp

import torch

from .timing import sync


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


def record_kernel_time(res, name, kernel_ms, step_s):
    """GPU kernel ms per step and the busy fraction (kernels / unprofiled step time)."""
    res[f'{name}_step_ms'] = step_s * 1e3
    res[f'{name}_kernel_ms_per_step'] = kernel_ms
    if kernel_ms > 0:  # only a GPU profile has kernels
        res[f'{name}_gpu_busy'] = kernel_ms / (step_s * 1e3)
        print(f'    {name}: {kernel_ms:.1f} ms of GPU kernels in a {step_s * 1e3:.1f} ms step '
              f'(GPU busy {kernel_ms / (step_s * 1e3):.0%})')
