"""One GPU run's step JSONs (``benchmarks/run_gpu.sh``: ``bench_<step>.json``) -> the
summary ``benchmarks/<device>_<date>.json`` and the speed goals checked against it.

Pure functions of the step results (dicts as the benchmark writes them); the schedule
numbers come from the config (:func:`.runner.schedule_of`).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

from .results import GRAPH_HEADS, compile_variant, mode_suffix, result_suffix
from .runner import schedule_minutes

# Speed goals (issue 8). The compiled step's bar depends on the GPU: the anchors were
# measured on an H200; an H100 has the same tensor cores and less memory bandwidth.
COMPILED_BAR = {'H200': 4000.0, 'H100': 3000.0}
RATIO_BAR = 0.95
INFER_BAR = 8000.0
LOOP_BAR = 2200.0
SCHEDULE_BAR_MIN = 45.0

# the measured loops, by key suffix (the benchmark's result_suffix): CUDA graphs,
# compiled, eager (plain, and with graphed heads); the loop goal judges the fastest
# compiled one, else the fastest eager one
CUDA_GRAPHS = result_suffix(True, 'reduce-overhead')
CPP_WRAPPER_VARIANT = compile_variant(compile_options={'cpp_wrapper': True})
CPP_WRAPPER = result_suffix(True, CPP_WRAPPER_VARIANT)
COMPILED_LOOPS = {CUDA_GRAPHS: 'compiled, CUDA graphs',
                  CPP_WRAPPER: 'compiled, C++ wrapper', result_suffix(True): 'compiled'}
EAGER_LOOPS = {result_suffix(False): 'eager',
               result_suffix(False) + GRAPH_HEADS: 'eager, graphed heads'}
LOOP_SUFFIXES = {**COMPILED_LOOPS, **EAGER_LOOPS}


def _loop_keys(suffix: str) -> List[str]:
    """The keys of one measured loop (see tools/analysis_tools/benchmark.py)."""
    return [f'train_loop_{k}{suffix}'
            for k in ('samples_s', 'iter_ms', 'data_wait_ms', 'kernel_ms', 'gpu_busy')]


_LOOP_SHAPE = ['train_loop_workers', 'train_loop_batch_size']

# the step JSON keys the summary takes, by step; a key two steps have comes from the
# first (the loop's workers and batch size: the first compiled loop's)
_KEYS = [
    ('eager', ['adpd_train_img_s', 'bare_densenet121_train_img_s', 'adpd_over_bare_train',
               'adpd_train_gpu_busy', 'bare_densenet121_train_gpu_busy',
               'adpd_train_kernel_ms_per_step', 'bare_densenet121_train_kernel_ms_per_step',
               'adpd_train_sync_calls', 'adpd_infer_img_s', 'adpd_predict_img_s',
               'postprocess_ms_per_img']),
    # the eager step with model.graph_heads (benchmark.py --graph-heads)
    ('eager_graphed', [f'{k}{GRAPH_HEADS}' for k in (
        'adpd_train_img_s', 'bare_densenet121_train_img_s', 'adpd_over_bare_train')]
     + ['graph_heads_check']),
    ('compiled', ['adpd_train_img_s_compiled', 'compiled_parts_after_training']),
    ('loop_cudagraphs', _loop_keys(CUDA_GRAPHS) + [
        f'train_loop_compiled_parts{mode_suffix("reduce-overhead")}'] + _LOOP_SHAPE),
    ('loop_cpp_wrapper', _loop_keys(CPP_WRAPPER) + [
        f'train_loop_compiled_parts{mode_suffix(CPP_WRAPPER_VARIANT)}'] + _LOOP_SHAPE),
    ('compiled_bare', ['bare_densenet121_train_img_s_compiled']),
    ('loop_compiled', _loop_keys(result_suffix(True)) + ['train_loop_compiled_parts']
     + _LOOP_SHAPE),
    ('loop', _loop_keys(result_suffix(False)) + _LOOP_SHAPE + [
        'pipeline_samples_s_per_worker', 'transfer_main_process_ms_per_batch',
        'val_s_per_run', 'val_images']),
    ('loop_graphed', _loop_keys(result_suffix(False) + GRAPH_HEADS) + _LOOP_SHAPE),
]


def gpu_family(device: str) -> Optional[str]:
    """'H200' / 'H100' from a CUDA device name (e.g. 'NVIDIA H100 80GB HBM3'), else None."""
    for family in COMPILED_BAR:
        if family in device.upper():
            return family
    return None


def summarize(steps: Dict[str, dict], schedule: Optional[Dict[str, int]] = None,
              note: str = '') -> dict:
    """The summary of one run: device and versions, the numbers the speed goals and the
    README table use (see ``_KEYS``), the ratio of the compiled steps when both ran,
    the projected schedule minutes for each measured loop (with the eager loop's
    validation time), and every step's own JSON under ``steps``."""
    if not steps:
        raise ValueError('summarize: no step results')
    first = next(iter(steps.values()))
    out = dict(device=first.get('device'), torch=first.get('torch'),
               python=first.get('python'), config=first.get('config'))
    if note:
        out['note'] = note
    for step, keys in _KEYS:
        for key in keys:
            if key not in out and key in steps.get(step, {}):
                out[key] = steps[step][key]
    if 'adpd_train_img_s_compiled' in out and 'bare_densenet121_train_img_s_compiled' in out:
        out['adpd_over_bare_train_compiled'] = (out['adpd_train_img_s_compiled']
                                                / out['bare_densenet121_train_img_s_compiled'])
    if schedule is not None and 'val_s_per_run' in out:
        for suffix in LOOP_SUFFIXES:
            rate = out.get(f'train_loop_samples_s{suffix}')
            if rate:
                out[f'projected_schedule_min{suffix}'] = schedule_minutes(
                    schedule, rate, out['val_s_per_run'])
        out['schedule'] = schedule
    out['steps'] = steps
    return out


def check_goals(summary: dict) -> List[Tuple[str, Optional[float], str, Optional[bool]]]:
    """(goal, measured value or None, bar, met or None if not measured) per speed goal."""
    family = gpu_family(summary.get('device') or '')
    compiled_bar = COMPILED_BAR.get(family)
    rows = []

    def row(name, key, bar, higher=True, bar_text=None):
        value = summary.get(key)
        met = None if value is None or bar is None else (
            value >= bar if higher else value <= bar)
        rows.append((name, value, bar_text or (f'>= {bar:g}' if higher else f'<= {bar:g}'),
                     met))

    row('ADPD / bare train step (eager)', 'adpd_over_bare_train', RATIO_BAR)
    if f'adpd_over_bare_train{GRAPH_HEADS}' in summary:  # an opt-in variant: when measured
        row('ADPD / bare train step (eager, graphed heads)',
            f'adpd_over_bare_train{GRAPH_HEADS}', RATIO_BAR)
    row('ADPD train step compiled, img/s', 'adpd_train_img_s_compiled', compiled_bar,
        bar_text=(f'>= {compiled_bar:g} ({family})' if compiled_bar
                  else 'no bar for this device'))
    row('ADPD inference, img/s', 'adpd_infer_img_s', INFER_BAR)
    loop = _goal_loop(summary)
    row(f'training loop ({LOOP_SUFFIXES[loop]}), samples/s', f'train_loop_samples_s{loop}',
        LOOP_BAR)
    row('projected 25-epoch schedule, min', f'projected_schedule_min{loop}',
        SCHEDULE_BAR_MIN, higher=False)
    return rows


def _goal_loop(summary: dict) -> str:
    """Suffix of the loop the goals judge: the fastest compiled loop measured (the fast
    config compiles), else the fastest eager one ('' when none was measured)."""
    for loops in (COMPILED_LOOPS, EAGER_LOOPS):
        measured = [suffix for suffix in loops
                    if summary.get(f'train_loop_samples_s{suffix}')]
        if measured:
            return max(measured, key=lambda suffix: summary[f'train_loop_samples_s{suffix}'])
    return result_suffix(False)


def goals_table(rows) -> str:
    """The goal rows as a Markdown table."""
    lines = ['| goal | measured | bar | met |', '|---|---|---|---|']
    for name, value, bar, met in rows:
        shown = 'not measured' if value is None else f'{value:,.3f}' if value < 10 \
            else f'{value:,.0f}'
        lines.append(f'| {name} | {shown} | {bar} | '
                     f'{"-" if met is None else "yes" if met else "NO"} |')
    return '\n'.join(lines)
