"""A random-init Loc-ADPD checkpoint of the synthetic config for the apis tests.

Output biases are raised so that every region is present and every pathology positive
(a random model otherwise predicts nothing, and box tests would test nothing).
"""
import importlib.util
import os.path as osp

import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SYNTHETIC_CONFIG = osp.join(REPO, 'configs', 'adpd', 'loc_adpd_synthetic.py')


def random_checkpoint(path, config=SYNTHETIC_CONFIG, seed=0):
    """Build the config's model with random weights (no ImageNet download), make it
    predict regions and pathologies, save ``{'state_dict', 'meta'}`` to ``path``."""
    from mmengine.config import Config

    from mmdet.registry import MODELS

    from mmadpd.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    with torch.no_grad():
        model.anatomy_head.presence_fc.bias.fill_(4.0)
        model.pathology_head.fc.bias.fill_(4.0)
    # a Runner checkpoint's meta, as TargetClassesMetaHook writes it: the target classes
    # in dataset_meta, the TRAINING dataset's (the regions) in train_dataset_meta
    from mmadpd.anatomy import REGIONS
    from mmadpd.engine.hooks import target_dataset_meta
    torch.save({'state_dict': model.state_dict(),
                'meta': {'dataset_meta': target_dataset_meta(model),
                         'train_dataset_meta': {'classes': list(REGIONS)}}}, path)
    return path


def load_tool(relative_path):
    """Import a script under tools/ (``'tools/infer.py'``) as a module, for its ``main``."""
    path = osp.join(REPO, relative_path)
    name = osp.splitext(osp.basename(path))[0] + '_tool'
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
