"""Experiment tracking, log plots and --show-dir through the real tools (issue 23,
acceptance 2-3): a tiny Loc-ADPD training with TensorBoard as an extra vis backend; its
event file holds ``cxr8/mAP`` and the report's images, its checkpoint names the CXR8
classes for ``init_detector``, ``analyze_logs.py`` plots its ``scalars.json``, and
``tools/test.py --show-dir`` writes one region + pathology overlay per test image."""
import glob
import importlib.util
import json
import os.path as osp
import subprocess
import sys

import cv2
import pytest
import torch

from mmadpd.anatomy import CXR8_CLASSES, REGIONS

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LOC = osp.join(ROOT, 'configs', 'adpd', 'loc_adpd_synthetic.py')
BACKENDS = ("visualizer.vis_backends="
            "[dict(type='LocalVisBackend'),dict(type='TensorboardVisBackend')]")


def _run(args, env, cwd):
    res = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, f'{res.stdout[-2000:]}\n{res.stderr[-3000:]}'
    return res


@pytest.fixture(scope='module')
def trained(phantom_root, phantom_env, tmp_path_factory):
    """2 iterations, validation (and its report) at iteration 2, TensorBoard on."""
    work = tmp_path_factory.mktemp('tracking') / 'train'
    _run([osp.join(ROOT, 'tools', 'train.py'), LOC, '--work-dir', str(work),
          '--cfg-options', 'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
          'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
          'val_dataloader.persistent_workers=False', 'default_hooks.logger.interval=1',
          'train_cfg.max_iters=2', 'train_cfg.val_interval=2', BACKENDS],
         phantom_env, str(work.parent))
    vis_data = glob.glob(str(work / '*' / 'vis_data'))
    assert len(vis_data) == 1, vis_data
    return dict(work=work, vis_data=vis_data[0])


@pytest.mark.slow
def test_tensorboard_event_file_holds_map_and_report_images(trained):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = glob.glob(osp.join(trained['vis_data'], 'events.out.tfevents.*'))
    assert len(events) == 1, events
    acc = EventAccumulator(events[0], size_guidance={'images': 0, 'scalars': 0})
    acc.Reload()
    tags = acc.Tags()
    assert 'cxr8/mAP' in tags['scalars'] and 'loss' in tags['scalars']
    assert [e.step for e in acc.Scalars('cxr8/mAP')] == [2]  # logged at the iteration
    assert 'cxr8_val/mAP' in tags['scalars']  # the report's Table-1 numbers
    pr_curves = [t for t in tags['images'] if t.startswith('val_pr_curve_')]
    overlays = [t for t in tags['images'] if t.startswith('val_overlay_')]
    assert len(pr_curves) == len(CXR8_CLASSES) and overlays
    png = acc.Images(pr_curves[0])[0]
    assert png.step == 2 and png.width > 100 and png.height > 100


@pytest.mark.slow
def test_checkpoint_names_the_target_classes_for_init_detector(trained):
    from mmdet.apis import init_detector

    ckpt = str(trained['work'] / 'iter_2.pth')
    meta = torch.load(ckpt, map_location='cpu', weights_only=False)['meta']
    assert tuple(meta['dataset_meta']['classes']) == CXR8_CLASSES
    assert tuple(meta['train_dataset_meta']['classes']) == REGIONS
    model = init_detector(LOC, ckpt, device='cpu')
    assert tuple(model.dataset_meta['classes']) == CXR8_CLASSES


@pytest.mark.slow
def test_analyze_logs_plots_loss_and_map_and_times_training(trained, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'analyze_logs', osp.join(ROOT, 'tools', 'analysis_tools', 'analyze_logs.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    scalars = osp.join(trained['vis_data'], 'scalars.json')
    log = tool.load_scalars(scalars)
    assert log['train']['loss'][0] == [1, 2] and log['val']['cxr8/mAP'][0] == [2]
    keys = tool.default_keys([log])
    assert {'loss', 'loss_bbox', 'lr', 'grad_norm', 'cxr8/mAP'} <= set(keys)
    assert 'cxr8/nih8/mAP' not in keys and 'cxr8_val/mAP' not in keys
    out = tmp_path / 'curves.png'
    assert tool.main(['plot_curve', scalars, '--out', str(out)]) == 0
    img = cv2.imread(str(out))
    assert img is not None and img.shape[0] > 240 * len(keys) * 0.9  # one panel per key
    assert tool.main(['cal_train_time', scalars, '--include-outliers']) == 0
    assert 's/iter' in capsys.readouterr().out
    # bad input: one line naming the file and the problem, exit code 1
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps({'loss': 1.0}) + '\n')
    assert tool.main(['plot_curve', str(bad)]) == 1
    assert f'{bad}:1: record without "step"' in capsys.readouterr().err
    assert tool.main(['plot_curve', scalars, '--keys', 'no_such_key']) == 1


@pytest.mark.slow
def test_test_tool_show_dir_writes_region_and_pathology_overlays(trained, phantom_root,
                                                                 phantom_env, tmp_path):
    out = tmp_path / 'test'
    _run([osp.join(ROOT, 'tools', 'test.py'), LOC, str(trained['work'] / 'iter_2.pth'),
          '--work-dir', str(out), '--show-dir', 'vis', '--cfg-options',
          'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
          'model.postprocessor.prob_thr=0.0', 'model.postprocessor.presence_thr=-100.0',
          'visualizer.presence_thr=-100.0', 'default_hooks.visualization.score_thr=0.0'],
         phantom_env, str(tmp_path))
    with open(osp.join(phantom_root, 'cxr8_coco', 'cxr8_test.json')) as f:
        names = sorted(osp.basename(i['file_name']) for i in json.load(f)['images'])
    drawn = sorted(osp.basename(p) for p in glob.glob(str(out / '*' / 'vis' / '*.png')))
    assert drawn == names
    img = cv2.imread(glob.glob(str(out / '*' / 'vis' / names[0]))[0])
    source = cv2.imread(osp.join(phantom_root, 'cxr8_coco', 'images', names[0]))
    # enlarged to 512 px, and coloured boxes drawn on the grey radiograph
    assert min(img.shape[:2]) == 512 and min(source.shape[:2]) < 512
    saturation = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)[..., 1]
    assert (saturation > 100).mean() > 0.005
