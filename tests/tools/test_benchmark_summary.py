"""tools/analysis_tools/benchmark_summary.py: a GPU run's step JSONs -> the summary and
the speed goals, checked on the committed H100 run and on made-up steps."""
import json
import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))

import benchmark_summary  # noqa: E402

from mmadpd.benchmark.summary import check_goals, summarize  # noqa: E402

H100 = osp.join(ROOT, 'benchmarks', 'h100_2026-11-26.json')
SCHEDULE = dict(max_iters=45775, batch_size=128, validations=91)


def _write_steps(folder, steps):
    folder.mkdir(parents=True, exist_ok=True)
    for name, res in steps.items():
        (folder / f'bench_{name}.json').write_text(json.dumps(res))


def test_summary_of_the_committed_h100_run(tmp_path, capsys):
    with open(H100) as f:
        steps = json.load(f)['steps']
    _write_steps(tmp_path / 'out', steps)
    out = tmp_path / 'summary.json'
    summary = benchmark_summary.main([str(tmp_path / 'out'), '--out', str(out)])
    assert json.loads(out.read_text())['adpd_train_img_s'] == summary['adpd_train_img_s']
    assert summary['device'] == 'NVIDIA H100 80GB HBM3'
    assert summary['adpd_over_bare_train'] == steps['eager']['adpd_over_bare_train']
    assert summary['adpd_train_img_s_compiled'] == steps['compiled']['adpd_train_img_s_compiled']
    # the schedule comes from the config the steps ran; the projection is the benchmark's
    assert summary['schedule'] == SCHEDULE
    assert summary['projected_schedule_min'] == pytest.approx(
        steps['loop']['projected_schedule_min'])
    assert set(summary['steps']) == {'eager', 'loop', 'compiled', 'loop_profiled'}
    goals = {name: (value, bar, met) for name, value, bar, met in check_goals(summary)}
    assert goals['ADPD / bare train step (eager)'][2] is False
    assert goals['ADPD train step compiled, img/s'][1:] == ('>= 3000 (H100)', False)
    assert goals['ADPD inference, img/s'][2] is True  # 8,026 >= 8,000
    assert goals['training loop (eager), samples/s'][2] is False
    printed = capsys.readouterr().out
    assert '| ADPD inference, img/s | 8,026 | >= 8000 | yes |' in printed


def test_compiled_loop_is_the_goal_and_both_loops_are_projected():
    steps = dict(
        eager=dict(device='NVIDIA H200', adpd_train_img_s=2700.0,
                   bare_densenet121_train_img_s=2800.0, adpd_over_bare_train=2700 / 2800,
                   adpd_infer_img_s=9000.0),
        compiled=dict(device='NVIDIA H200', adpd_train_img_s_compiled=4100.0),
        compiled_bare=dict(device='NVIDIA H200', bare_densenet121_train_img_s_compiled=4400.0),
        loop_compiled=dict(device='NVIDIA H200', train_loop_samples_s_compiled=3000.0,
                           train_loop_workers=16, train_loop_batch_size=128),
        loop=dict(device='NVIDIA H200', train_loop_samples_s=1800.0, val_s_per_run=4.0,
                  train_loop_workers=16, train_loop_batch_size=128))
    s = summarize(steps, SCHEDULE)
    assert s['adpd_over_bare_train_compiled'] == pytest.approx(4100 / 4400)
    assert s['projected_schedule_min_compiled'] == pytest.approx(
        (45775 * 128 / 3000 + 91 * 4.0) / 60)  # 38.6
    assert s['projected_schedule_min'] == pytest.approx((45775 * 128 / 1800 + 91 * 4.0) / 60)
    goals = {name: (value, bar, met) for name, value, bar, met in check_goals(s)}
    assert goals['ADPD / bare train step (eager)'] == (pytest.approx(2700 / 2800), '>= 0.95',
                                                      True)
    assert goals['ADPD train step compiled, img/s'] == (4100.0, '>= 4000 (H200)', True)
    assert goals['training loop (compiled), samples/s'] == (3000.0, '>= 2200', True)
    # the schedule goal judges the compiled loop's projection (38.6 min), not the eager's
    assert goals['projected 25-epoch schedule, min'] == (
        pytest.approx(s['projected_schedule_min_compiled']), '<= 45', True)
    assert s['projected_schedule_min'] > 45


def test_graphed_heads_ratio_is_judged_beside_the_plain_eager_one():
    eager = dict(device='NVIDIA H100 80GB HBM3', adpd_over_bare_train=0.929)
    goals = {name for name, *_ in check_goals(summarize(dict(eager=eager)))}
    assert 'ADPD / bare train step (eager, graphed heads)' not in goals  # not measured
    steps = dict(eager=eager, eager_graphed=dict(
        device='NVIDIA H100 80GB HBM3', adpd_over_bare_train_graph_heads=0.962,
        graph_heads_check=dict(max_loss_rel_diff=0.0, max_grad_rel_diff=1e-6)))
    s = summarize(steps)
    assert s['graph_heads_check']['max_grad_rel_diff'] == 1e-6
    goals = {name: (value, met) for name, value, _, met in check_goals(s)}
    assert goals['ADPD / bare train step (eager)'] == (0.929, False)
    assert goals['ADPD / bare train step (eager, graphed heads)'] == (0.962, True)


def test_unknown_device_and_missing_steps_are_not_judged():
    s = summarize(dict(eager=dict(device='NVIDIA A100', adpd_infer_img_s=7000.0)))
    goals = {name: (value, bar, met) for name, value, bar, met in check_goals(s)}
    assert goals['ADPD train step compiled, img/s'] == (None, 'no bar for this device', None)
    assert goals['ADPD inference, img/s'] == (7000.0, '>= 8000', False)
    assert goals['training loop (eager), samples/s'] == (None, '>= 2200', None)
    assert 'projected_schedule_min' not in s  # no validation time, no schedule


def test_read_steps_later_folder_wins_and_bad_input_is_named(tmp_path):
    _write_steps(tmp_path / 'a', dict(eager=dict(device='x', adpd_infer_img_s=1.0)))
    _write_steps(tmp_path / 'b', dict(eager=dict(device='x', adpd_infer_img_s=2.0)))
    steps = benchmark_summary.read_steps([str(tmp_path / 'a'), str(tmp_path / 'b')])
    assert steps['eager']['adpd_infer_img_s'] == 2.0
    with pytest.raises(FileNotFoundError, match='no bench_'):
        benchmark_summary.read_steps([str(tmp_path)])
    with pytest.raises(FileNotFoundError, match='is not a folder'):
        benchmark_summary.read_steps([str(tmp_path / 'missing')])
    (tmp_path / 'a' / 'bench_loop.json').write_text('{"device": ')
    with pytest.raises(ValueError, match='bench_loop.json is not valid JSON'):
        benchmark_summary.read_steps([str(tmp_path / 'a')])


def test_the_fastest_compiled_loop_is_judged_and_each_loop_is_projected():
    steps = dict(
        loop_compiled=dict(device='NVIDIA H100 80GB HBM3', train_loop_samples_s_compiled=1290.0),
        loop_cudagraphs=dict(device='NVIDIA H100 80GB HBM3',
                             train_loop_samples_s_compiled_reduce_overhead=2600.0),
        loop=dict(device='NVIDIA H100 80GB HBM3', val_s_per_run=1.25))
    s = summarize(steps, SCHEDULE)
    for suffix, rate in (('_compiled', 1290.0), ('_compiled_reduce_overhead', 2600.0)):
        assert s[f'projected_schedule_min{suffix}'] == pytest.approx(
            (45775 * 128 / rate + 91 * 1.25) / 60)
    goals = {name: (value, bar, met) for name, value, bar, met in check_goals(s)}
    assert goals['training loop (compiled, CUDA graphs), samples/s'] == (2600.0, '>= 2200',
                                                                        True)
    assert goals['projected 25-epoch schedule, min'][2] is True  # 39.5 min
    steps['loop_cudagraphs']['train_loop_samples_s_compiled_reduce_overhead'] = 900.0
    goals = {name: met for name, _, _, met in check_goals(summarize(steps, SCHEDULE))}
    assert goals['training loop (compiled), samples/s'] is False  # 1,290 judged
    # the C++-wrapper loop (--compile-options cpp_wrapper=True) is a compiled loop too
    steps['loop_cpp_wrapper'] = dict(device='NVIDIA H100 80GB HBM3',
                                     train_loop_samples_s_compiled_cpp_wrapper=2300.0)
    s = summarize(steps, SCHEDULE)
    assert s['projected_schedule_min_compiled_cpp_wrapper'] == pytest.approx(
        (45775 * 128 / 2300.0 + 91 * 1.25) / 60)
    goals = {name: met for name, _, _, met in check_goals(s)}
    assert goals['training loop (compiled, C++ wrapper), samples/s'] is True


def test_eager_loops_are_judged_only_without_a_compiled_one():
    """The eager loop with graphed heads is summarised and projected beside the plain
    one; the loop goal takes the faster eager loop only when no compiled loop ran."""
    h100 = 'NVIDIA H100 80GB HBM3'
    steps = dict(loop=dict(device=h100, train_loop_samples_s=1386.0, val_s_per_run=1.4),
                 loop_graphed=dict(device=h100, train_loop_samples_s_graph_heads=1880.0,
                                   train_loop_gpu_busy_graph_heads=0.81))
    s = summarize(steps, SCHEDULE)
    assert s['train_loop_gpu_busy_graph_heads'] == 0.81
    assert s['projected_schedule_min_graph_heads'] == pytest.approx(
        (45775 * 128 / 1880.0 + 91 * 1.4) / 60)
    goals = {name: value for name, value, _, _ in check_goals(s)}
    assert goals['training loop (eager, graphed heads), samples/s'] == 1880.0
    steps['loop_cudagraphs'] = dict(device=h100,
                                    train_loop_samples_s_compiled_reduce_overhead=1500.0)
    goals = {name: value for name, value, _, _ in check_goals(summarize(steps, SCHEDULE))}
    assert goals['training loop (compiled, CUDA graphs), samples/s'] == 1500.0
