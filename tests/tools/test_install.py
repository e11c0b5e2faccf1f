"""The install script is the single source of truth (issue 2 acceptance 2, issue 9
acceptance 3): Makefile and Dockerfile both call it, it installs exactly the pins in
requirements/, and the installed stack has compiled mmcv ops."""
import importlib.metadata as md
import os.path as osp
import re

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _pins():
    pins = {}
    for name in ('torch.txt', 'build.txt', 'mmcv.txt', 'runtime.txt', 'tests.txt'):
        for line in open(osp.join(ROOT, 'requirements', name)):
            line = line.split('#')[0].strip()
            m = re.match(r'^([A-Za-z0-9_.\-]+)==([^\s;]+)$', line)
            if m:
                pins[m.group(1).lower()] = m.group(2)
    return pins


def test_makefile_and_dockerfile_call_the_same_install_script():
    make = open(osp.join(ROOT, 'Makefile')).read()
    docker = open(osp.join(ROOT, 'docker', 'Dockerfile')).read()
    assert 'tools/install_deps.sh' in make
    assert 'tools/install_deps.sh' in docker
    script = open(osp.join(ROOT, 'tools', 'install_deps.sh')).read()
    # the script takes every pin from requirements/ (no versions typed into it)
    for name in ('torch.txt', 'build.txt', 'mmcv.txt', 'runtime.txt', 'tests.txt'):
        assert name in script
    assert not re.search(r'\b(torch|mmdet|mmengine|numpy)==\d', script)


def test_every_pin_is_installed_exactly():
    pins = _pins()
    assert {'torch', 'torchvision', 'mmcv', 'mmdet', 'mmengine'} <= set(pins)
    wrong = {}
    for name, version in pins.items():
        try:
            installed = md.version(name)
        except md.PackageNotFoundError:
            wrong[name] = (version, None)
            continue
        if installed.split('+')[0] != version:
            wrong[name] = (version, installed)
    assert not wrong, f'installed versions differ from requirements/: {wrong}'


def test_mmcv_compiled_ops_run_on_cpu():
    import torch
    import mmcv._ext  # noqa: F401
    from mmcv.ops import nms
    import mmdet.models  # noqa: F401
    import mmadpd  # noqa: F401

    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [50., 50., 60., 60.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert dets.shape == (2, 5)


@pytest.mark.parametrize('name', ['ADPD', 'AnatomyDETRHead', 'RegionPathologyHead',
                                  'LSEPoolMILLoss', 'AsymmetricLoss'])
def test_import_registers_model_components(name):
    from mmdet.registry import MODELS, TASK_UTILS
    import mmadpd  # noqa: F401
    assert MODELS.get(name) is not None or TASK_UTILS.get(name) is not None


def test_import_registers_data_and_eval_components():
    from mmdet.registry import DATASETS, HOOKS, METRICS, TASK_UTILS, MODELS
    import mmadpd  # noqa: F401
    assert DATASETS.get('ImaGenomeDataset') is not None
    assert DATASETS.get('CXR8Dataset') is not None
    assert METRICS.get('CXR8DetectionMetric') is not None
    assert (TASK_UTILS.get('WBFPathologyPostProcessor') or
            MODELS.get('WBFPathologyPostProcessor')) is not None
