"""Every shipped config parses, names only registered components and builds its model."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from mmdet.registry import HOOKS, MODELS, OPTIM_WRAPPERS

from mmadpd.utils import register_all_modules

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'adpd', '*.py')))


@pytest.mark.parametrize('path', CONFIGS, ids=osp.basename)
def test_config_builds(path):
    register_all_modules()
    cfg = Config.fromfile(path)
    assert OPTIM_WRAPPERS.get(cfg.optim_wrapper.type) is not None, cfg.optim_wrapper.type
    hooks = [h for h in cfg.default_hooks.values() if h] + list(cfg.get('custom_hooks', []))
    for hook in hooks:
        assert HOOKS.get(hook['type']) is not None, hook['type']
    # no per-iteration host read of the losses (see mmadpd/engine/hooks)
    assert cfg.default_hooks.runtime_info.type == 'LazyRuntimeInfoHook'
    model_cfg = cfg.model.copy()
    model_cfg.backbone.init_cfg = None  # no ImageNet download here
    model = MODELS.build(model_cfg)
    assert model.anatomy_head.num_regions == 29
    # the speed layers (CUDA-graphed heads, fused loss forms) only in the fast config
    fast = osp.basename(path) == 'loc_adpd_fast-bf16.py'
    assert (type(model).__name__ == 'FastADPD') is fast
    assert model.anatomy_head.layers[0].fused_attention is fast


def test_fast_config_is_the_benchmarked_fast_path():
    """loc_adpd_fast-bf16.py = loc_adpd.py + what `benchmark.py --amp bf16
    --channels-last --compile` measures (run_gpu.sh benchmarks this config: its fused
    AdamW is in both the ADPD and the bare step), and nothing else."""
    fast = Config.fromfile(osp.join(ROOT, 'configs', 'adpd', 'loc_adpd_fast-bf16.py'))
    base = Config.fromfile(osp.join(ROOT, 'configs', 'adpd', 'loc_adpd.py'))
    assert fast.optim_wrapper.dtype == 'bfloat16'
    assert fast.optim_wrapper.loss_scale == dict(enabled=False)
    assert fast.optim_wrapper.type == 'LazyGradNormAmpOptimWrapper'
    assert fast.model.data_preprocessor.channels_last is True
    assert fast.default_hooks.compile.type == 'ADPDCompileHook'
    # CUDA graphs: the loop setting measured fastest on the H100 (3,010 vs 1,290
    # samples/s in the default mode, benchmarks/h100_2026-11-26_cudagraphs.json)
    assert fast.default_hooks.compile.mode == 'reduce-overhead'
    assert 'options' not in fast.default_hooks.compile  # torch takes mode or options
    assert fast.default_hooks.report == dict(base.default_hooks.report, background=True)
    assert fast.env_cfg.cudnn_benchmark is True
    assert (fast.train_dataloader.num_workers, fast.val_dataloader.num_workers,
            fast.test_dataloader.num_workers) == (16, 16, 16)
    # one training batch size for the compiled graphs (and validation eager: the hook's
    # default)
    assert fast.train_dataloader.drop_last is True and 'drop_last' not in base.train_dataloader
    assert fast.default_hooks.compile.get('eager_val', True) is True
    for loader in ('val_dataloader', 'test_dataloader'):  # only the worker count differs
        assert dict(fast[loader], num_workers=0) == dict(base[loader], num_workers=0)
    for key in ('train_cfg', 'param_scheduler', 'custom_hooks', 'train_pipeline'):
        assert fast[key] == base[key], key
    assert fast.optim_wrapper.optimizer == dict(base.optim_wrapper.optimizer, fused=True)
    assert fast.train_dataloader.batch_size == base.train_dataloader.batch_size
    fast_model = fast.model.copy()
    assert fast_model.pop('type') == 'FastADPD' and fast_model.pop('graph_heads') is True
    fast_model.data_preprocessor.channels_last = False
    fast_model.anatomy_head.layer_cfg.pop('fused_attention')
    fast_model.anatomy_head.loss_iou.pop('fused')
    fast_model.pathology_head.loss_cls.pop('fused')
    assert fast_model == {k: v for k, v in base.model.items() if k != 'type'}
