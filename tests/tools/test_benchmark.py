"""tools/analysis_tools/benchmark.py runs end to end on the CPU at a tiny size and writes
the JSON keys the README table and benchmarks/*.json rely on."""
import json
import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis_tools'))

import benchmark  # noqa: E402
import torch  # noqa: E402

from mmadpd.benchmark import loop  # noqa: E402


@pytest.fixture(scope='module')
def phantom_cache(tmp_path_factory):
    """A 4-image phantom ImaGenome train split, converted to a 64-px JPEG cache."""
    from mmadpd.datasets.converters.imagenome import convert_imagenome
    from mmadpd.datasets.synthetic import generate_dataset
    root = tmp_path_factory.mktemp('phantom')
    generate_dataset(str(root), seed=0, num_train=4, num_val=1, num_test=1, num_cxr8=1,
                     size=96, defect_rate=0.0)
    sg = root / 'chest-imagenome' / 'silver_dataset'
    mimic = root / 'mimic-cxr-jpg'
    out = root / 'imagenome_64'
    convert_imagenome(str(sg / 'scene_graph'), str(sg / 'splits'), str(mimic),
                      str(mimic / 'mimic-cxr-2.0.0-metadata.csv'), str(out),
                      resize_short_side=64, progress=False, log=lambda *a: None)
    return out


def test_benchmark_tiny_cpu_run_writes_json(phantom_cache, tmp_path, monkeypatch):
    monkeypatch.setenv('MMADPD_IMAGENOME_DIR', str(phantom_cache))
    out = tmp_path / 'bench.json'
    res = benchmark.main([
        osp.join(ROOT, 'configs', 'adpd', 'loc_adpd.py'), '--device', 'cpu',
        '--batch-size', '2', '--img-size', '64', '--warmup', '0', '--iters', '1',
        '--repeats', '1', '--pipeline-samples', '4', '--amp', 'bf16', '--channels-last',
        '--cfg-options', 'train_dataloader.dataset.pipeline.2.size=64',
        'model.anatomy_head.embed_dims=32', 'model.pathology_head.in_channels=32',
        'model.anatomy_head.layer_cfg.num_heads=2', '--out', str(out),
        '--profile', str(tmp_path / 'profile.txt')])
    written = json.loads(out.read_text())
    # the op profile of the ADPD train step (for when (a)/(b) falls short)
    profile = (tmp_path / 'profile.txt').read_text()
    assert 'sorted by cpu_time_total' in profile and 'Optimizer.step' in profile
    assert profile.startswith('ADPD train step, batch 2: ')
    # GPU kernel time per step of both steps (0 on a CPU) next to their step times
    for name in ('adpd_train', 'bare_densenet121_train'):
        assert written[f'{name}_kernel_ms_per_step'] == 0
        assert written[f'{name}_step_ms'] > 0
    # written after every part; `complete` once all of them ran
    assert written.pop('complete') is True
    assert written == json.loads(json.dumps(res))
    for key in ('device', 'torch', 'batch_size', 'img_size', 'amp', 'channels_last',
                'compile', 'command', 'adpd_train_img_s', 'bare_densenet121_train_img_s',
                'adpd_over_bare_train', 'adpd_infer_img_s', 'adpd_predict_img_s',
                'postprocess_ms_per_img', 'pipeline_samples_s_per_worker'):
        assert key in written, key
    for key in ('adpd_train_img_s', 'bare_densenet121_train_img_s', 'adpd_infer_img_s',
                'postprocess_ms_per_img', 'pipeline_samples_s_per_worker'):
        assert written[key] > 0, key
    assert written['batch_size'] == 2 and written['img_size'] == 64
    # the per-repeat times behind each median (one repeat here)
    for name in ('adpd_train', 'bare_densenet121_train'):
        assert len(written[f'{name}_ms_per_step_repeats']) == 1
        assert written[f'{name}_img_s'] == pytest.approx(
            2 / (written[f'{name}_ms_per_step_repeats'][0] / 1e3))
    assert written['amp'] == 'bf16' and written['channels_last'] is True
    assert written['pipeline_collate'] == 'adpd_collate'
    assert written['pipeline_images_in_set'] >= 1
    assert 'LoadGreyImageFromFile' in written['pipeline_ms_per_sample_by_transform']
    assert written['adpd_over_bare_train'] == pytest.approx(
        written['adpd_train_img_s'] / written['bare_densenet121_train_img_s'])


def test_benchmark_real_loop_and_validation_project_the_schedule(
        phantom_cache, phantom_root, tmp_path, monkeypatch):
    """(e) builds mmengine's Runner from the config (its hooks included), trains for
    --loop-seconds after the warm-up and reports samples/s at the config's batch size;
    (f) times one validation (ValLoop, metric, report); together: the schedule's minutes."""
    monkeypatch.setenv('MMADPD_IMAGENOME_DIR', str(phantom_cache))
    monkeypatch.setenv('MMADPD_CXR8_DIR', osp.join(phantom_root, 'cxr8_coco'))
    cfg_file = osp.join(ROOT, 'configs', 'adpd', 'loc_adpd.py')
    args = ['--device', 'cpu', '--img-size', '64', '--parts', 'transfer,val', '--warmup', '1',
            '--loop-seconds', '2', '--workers', '1', '--loop-batch-size', '2',
            '--cfg-options', 'train_dataloader.dataset.pipeline.2.size=64',
            'val_dataloader.num_workers=1', 'val_dataloader.batch_size=4',
            'model.anatomy_head.embed_dims=32', 'model.pathology_head.in_channels=32',
            'model.anatomy_head.layer_cfg.num_heads=2']
    cfg = benchmark.load_cfg(benchmark.parse_args([cfg_file] + args))
    loop_cfg = loop.loop_config(cfg, benchmark.parse_args([cfg_file] + args),
                                     torch.device('cpu'), str(tmp_path))
    # the config's hooks stay (lazy runtime info, timer, logger); validation goes
    assert loop_cfg.default_hooks.runtime_info.type == 'LazyRuntimeInfoHook'
    assert loop_cfg.default_hooks.checkpoint is None and loop_cfg.val_dataloader is None
    assert all(h['type'] != 'EarlyStoppingHook' for h in loop_cfg.custom_hooks)
    assert loop_cfg.optim_wrapper.type == 'LazyGradNormOptimWrapper'  # no AMP on a CPU
    profile = tmp_path / 'loop_profile.txt'
    writes = []  # (keys, final) of every results write
    real_write = benchmark.write_json
    monkeypatch.setattr(benchmark, 'write_json', lambda res, path, final=False: (
        writes.append((set(res), final)), real_write(res, path, final)))
    res = benchmark.main([cfg_file, '--out', str(tmp_path / 'loop.json'),
                          '--profile-loop', str(profile)] + args)
    # the loop's rate was written as soon as its timed window ended, before the profiled
    # iterations and the teardown (a time limit there keeps it), and again at the end
    loop_writes = [final for keys, final in writes if 'train_loop_samples_s' in keys]
    assert loop_writes == [False, True]
    assert res['train_loop_samples_s'] > 0
    assert res['train_loop_workers'] == 1 and res['train_loop_batch_size'] == 2
    # every timed iteration has the same batch: ms per iteration = batch / rate
    assert res['train_loop_iter_ms'] == pytest.approx(2e3 / res['train_loop_samples_s'])
    # the wait for the DataLoader (IterTimerHook's data_time) is a part of each iteration
    assert 0 < res['train_loop_data_wait_ms'] < res['train_loop_iter_ms']
    # 5 more iterations ran under the profiler after the timed window (no kernels on a CPU)
    assert 'train_loop_kernel_ms' not in res
    text = profile.read_text()
    assert text.startswith('training loop, batch 2, 1 workers') and 'aten::' in text
    assert '(5 profiled iterations)' in text
    assert 'adpd_train_img_s' not in res  # only the transfer and val parts and the loop
    # the main process's share of every batch: unpickling + unpacking (no pinning on a CPU)
    assert res['transfer_main_process_ms_per_batch'] > 0
    assert res['transfer_batch_size'] == 2 and res['transfer_collate'] == 'adpd_collate'
    # one validation over the whole val half; the schedule: 45,775 iterations of the
    # config's 128 samples at the measured rate + 91 validations
    with open(osp.join(phantom_root, 'cxr8_coco', 'cxr8_val.json')) as f:
        assert res['val_images'] == len(json.load(f)['images'])
    assert res['val_s_per_run'] > 0
    expected = (45775 * 128 / res['train_loop_samples_s'] + 91 * res['val_s_per_run']) / 60
    assert res['projected_schedule_min'] == pytest.approx(expected)


def test_compile_options_name_the_result_keys_and_exclude_a_mode(capsys):
    from mmadpd.benchmark.results import compile_kwargs, compile_variant, result_suffix
    args = benchmark.parse_args(['cfg.py', '--compile', '--compile-options',
                                 'cpp_wrapper=True', 'triton.max_tiles=2', 'name=abc'])
    assert args.compile_options == {'cpp_wrapper': True, 'triton.max_tiles': 2,
                                    'name': 'abc'}
    assert compile_kwargs(args) == dict(options=args.compile_options)
    variant = compile_variant(args.compile_mode, args.compile_options)
    assert result_suffix(True, variant) == '_compiled_cpp_wrapper_name_triton_max_tiles'
    assert result_suffix(True, compile_variant('reduce-overhead')) == \
        '_compiled_reduce_overhead'
    assert result_suffix(True, compile_variant()) == '_compiled'
    for bad in (['--compile-mode', 'reduce-overhead', '--compile-options', 'cpp_wrapper=True'],
                ['--compile-options', 'cpp_wrapper']):
        with pytest.raises(SystemExit):
            benchmark.parse_args(['cfg.py', '--compile'] + bad)
    assert 'exclude each other' in capsys.readouterr().err


def test_graph_heads_step_is_checked_against_eager_and_keyed_apart(tmp_path, monkeypatch,
                                                                    capsys):
    """--graph-heads: the eager step of FastADPD with graph_heads, after a one-step
    comparison with the plain eager step (dropout off), result keys ending in
    '_graph_heads'. torch's CUDA-graph capture is replaced by a stand-in that returns the
    callable (this CPU has no CUDA; the wiring is what runs here)."""
    from mmadpd.models.detectors import fast_adpd
    captured = []

    def fake_capture(module, sample_args, **kwargs):
        captured.append(module)
        module(*sample_args)
        return module

    monkeypatch.setattr(torch.cuda, 'make_graphed_callables', fake_capture)
    monkeypatch.setattr(fast_adpd, '_on_cuda', lambda tensor: True)
    res = benchmark.main([
        osp.join(ROOT, 'configs', 'adpd', 'loc_adpd.py'), '--device', 'cpu',
        '--batch-size', '2', '--img-size', '64', '--warmup', '1', '--iters', '1',
        '--repeats', '1', '--parts', 'train,bare', '--graph-heads',
        '--cfg-options', 'model.anatomy_head.embed_dims=32',
        'model.pathology_head.in_channels=32', 'model.anatomy_head.layer_cfg.num_heads=2',
        '--out', str(tmp_path / 'bench.json')])
    check = res['graph_heads_check']
    assert check['max_loss_rel_diff'] == 0 and check['max_grad_rel_diff'] == 0
    assert check['loss_terms'] >= 3 and check['grads'] > 100
    # the check's graphed model and the timed one each captured once
    assert len(captured) == 2
    for name in ('adpd_train_img_s', 'bare_densenet121_train_img_s', 'adpd_over_bare_train'):
        assert f'{name}_graph_heads' in res and name not in res
    assert 'graphed heads (a replay) vs eager' in capsys.readouterr().out
    with pytest.raises(SystemExit):
        benchmark.parse_args(['cfg.py', '--graph-heads', '--compile'])


def test_graph_heads_follow_the_config_where_they_apply():
    """The fast config trains with FastADPD(graph_heads=True): the benchmark measures that
    (keys '_graph_heads') on a CUDA device without --compile, the plain step elsewhere or
    with --graph-heads off; --graph-heads on forces it (the CPU dry run's wiring) and
    builds FastADPD from any config. loc_adpd.py measures the plain ADPD."""
    fast_path = osp.join(ROOT, 'configs', 'adpd', 'loc_adpd_fast-bf16.py')
    plain_path = osp.join(ROOT, 'configs', 'adpd', 'loc_adpd.py')
    cfg = benchmark.load_cfg(benchmark.parse_args([fast_path]))
    plain = benchmark.load_cfg(benchmark.parse_args([plain_path]))
    assert cfg.model.type == 'FastADPD' and cfg.model.graph_heads is True
    cuda, cpu = torch.device('cuda'), torch.device('cpu')
    assert benchmark.graph_heads_measured(plain, benchmark.parse_args(['x.py']), cuda) is False
    forced = benchmark.load_cfg(benchmark.parse_args([plain_path, '--graph-heads']))
    assert forced.model.type == 'FastADPD' and forced.model.graph_heads is True

    def measured(*flags, device=cuda):
        args = benchmark.parse_args(['cfg.py', *flags])
        if args.graph_heads is not None:
            assert benchmark.load_cfg(benchmark.parse_args([fast_path, *flags])
                                      ).model.graph_heads is (args.graph_heads == 'on')
        return benchmark.graph_heads_measured(cfg, args, device)

    assert measured() is True
    assert measured(device=cpu) is False
    assert measured('--compile') is False
    assert measured('--graph-heads', 'off') is False
    assert measured('--graph-heads', device=cpu) is True
    assert measured('--graph-heads', 'on', device=cpu) is True


def test_benchmark_cost_part_counts_both_steps_on_meta(tmp_path):
    """(g) counts FLOPs and device operators of the ADPD and the bare forward + backward
    without running them (meta device) and times the host's target building."""
    cfg_file = osp.join(ROOT, 'configs', 'adpd', 'loc_adpd.py')
    res = benchmark.main([cfg_file, '--device', 'cpu', '--parts', 'cost', '--batch-size', '4',
                          '--img-size', '64', '--repeats', '1', '--channels-last',
                          '--out', str(tmp_path / 'cost.json')])
    # DenseNet121 forward at 64 px: 2.87 GMAC * (64/224)^2; forward + input-free backward
    # (weight and input gradients except the first conv's input) ~ 3x forward
    fwd = 2 * 2.87 * (64 / 224) ** 2
    assert 2.5 * fwd < res['bare_densenet121_gflops_per_img'] < 3.1 * fwd
    # the heads (input projection, decoder layer, MLPs) add FLOPs and many small operators
    assert res['adpd_over_bare_flops'] > 1.0
    assert res['adpd_gflops_per_img'] == pytest.approx(
        res['bare_densenet121_gflops_per_img'] * res['adpd_over_bare_flops'])
    for phase in ('forward', 'backward'):
        assert (res[f'adpd_device_ops_{phase}']
                > res[f'bare_densenet121_device_ops_{phase}'] > 100)
    assert res['adpd_param_tensors'] > res['bare_densenet121_param_tensors']
    assert sum(res['adpd_extra_device_ops_by_op'].values()) > 0
    assert res['host_targets_ms_per_batch'] > 0 and res['host_preprocess_ms_per_batch'] > 0
    # counted on meta: no timed GPU/CPU step ran
    assert 'adpd_train_img_s' not in res and res['amp'] == 'none'
