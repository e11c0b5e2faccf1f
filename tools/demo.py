"""`make demo`: the main job end to end on the synthetic phantom set, on a CPU.

    python tools/demo.py [--work-dir work_dirs/demo] [--data-dir data/phantom] [--force]
        [--seed 0]

1. generates the phantom set (ImaGenome/MIMIC layout for training, CXR8 layout for
   evaluation) with tools/dataset_converters/make_synthetic_cxr.py,
2. converts both with the project's converters,
3. trains Loc-ADPD (configs/adpd/loc_adpd_synthetic.py) with tools/train.py,
4. evaluates the CXR8-format test half with tools/test.py (CXR8DetectionMetric),
5. puts the result next to the oracle-regions ceiling and the whole-lung baseline
   (tools/analysis_tools/reference_boxes.py) and writes WORK_DIR/report.md and
   WORK_DIR/metrics.json.
Between 3 and 4 the checkpoint's per-class thresholds are calibrated on the CXR8 val half
(tools/analysis_tools/calibrate.py -> WORK_DIR/calibrated.pth, which step 4 evaluates:
its report adds precision/recall at those points on the test half); after 5 the model is
published as loc-adpd_phantom (tools/model_converters/publish_model.py, into
$MMADPD_WEIGHTS_DIR or ~/.cache/mmadpd/weights), so `tools/infer.py loc-adpd_phantom
IMAGE` works.

Every step is a command a user could run by hand (printed before it runs). A rerun reuses
the data and the trained checkpoint; --force retrains (and regenerates the data).

Reproducibility: the data depend only on DATA_ARGS (their own seed); --seed sets the
training seed (initialisation, data order, augmentation). The same seed gives the same
weights and numbers on the same machine with the same thread and worker counts
(benchmarks/cpu_2026-12-06_demo_determinism.json); another thread count changes float
summation order and so the numbers slightly. benchmarks/demo_seeds.py runs seeds 0-2.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs', 'adpd', 'loc_adpd_synthetic.py')

# Sized for the 15-minute budget on 2 CPU cores (README "make demo"): 256-px phantoms,
# 1,600 training images, 400 CXR8-format box images split into val/test halves.
DATA_ARGS = dict(seed=0, num_train=1600, num_val=100, num_test=100, num_cxr8=400, size=256,
                 defect_rate=0.02)
# --tiny: the same five steps in about a minute (the test suite's variant of the demo)
TINY_DATA_ARGS = dict(seed=0, num_train=40, num_val=4, num_test=4, num_cxr8=21, size=128,
                      defect_rate=0.1)
PUBLISHED_NAME = 'loc-adpd_phantom'
TINY_TRAIN_OPTIONS = ['train_cfg.max_iters=4', 'train_cfg.val_interval=4',
                      'train_dataloader.batch_size=4', 'default_hooks.checkpoint.interval=4',
                      'param_scheduler=[]', 'default_hooks.logger.interval=1']


def run(cmd, env=None, log=None):
    """Run one step, echoing the command; abort the demo on failure."""
    print('\n$ ' + ' '.join(cmd), flush=True)
    t0 = time.time()
    proc = subprocess.run(cmd, env=env, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f'demo step failed (exit {proc.returncode}): {" ".join(cmd)}')
    print(f'[demo] step took {time.time() - t0:.0f} s', flush=True)


def step_data(data_dir, force, data_args):
    marker = osp.join(data_dir, '.demo-data.json')
    want = dict(data_args, version=2)  # 2: the phantom set has MIMIC's split file
    if not force and osp.isfile(marker) and json.load(open(marker)) == want:
        print(f'[demo] 1-2/5 reusing phantom data in {data_dir} (--force to regenerate)')
        return
    if osp.isdir(data_dir):
        shutil.rmtree(data_dir)
    py = sys.executable
    conv = osp.join(ROOT, 'tools', 'dataset_converters')
    print('[demo] 1/5 generating the phantom set')
    run([py, osp.join(conv, 'make_synthetic_cxr.py'), data_dir,
         '--seed', str(data_args['seed']), '--num-train', str(data_args['num_train']),
         '--num-val', str(data_args['num_val']), '--num-test', str(data_args['num_test']),
         '--num-cxr8', str(data_args['num_cxr8']), '--size', str(data_args['size']),
         '--defect-rate', str(data_args['defect_rate']), '--workers', str(os.cpu_count() or 1)])
    print('[demo] 2/5 converting to COCO')
    sg = osp.join(data_dir, 'chest-imagenome', 'silver_dataset')
    mimic = osp.join(data_dir, 'mimic-cxr-jpg')
    run([py, osp.join(conv, 'imagenome_to_coco.py'),
         '--scene-graphs', osp.join(sg, 'scene_graph.zip'),
         '--splits-dir', osp.join(sg, 'splits'),
         '--images-to-avoid', osp.join(sg, 'splits', 'images_to_avoid.csv'),
         '--images-root', mimic,
         '--metadata', osp.join(mimic, 'mimic-cxr-2.0.0-metadata.csv'),
         '--out-dir', osp.join(data_dir, 'imagenome_coco'),
         '--workers', str(os.cpu_count() or 1)])
    cxr8 = osp.join(data_dir, 'cxr8')
    run([py, osp.join(conv, 'cxr8_to_coco.py'),
         '--bbox-csv', osp.join(cxr8, 'BBox_List_2017.csv'),
         '--data-entry', osp.join(cxr8, 'Data_Entry_2017_v2020.csv'),
         '--image-dir', osp.join(cxr8, 'images'),
         '--out-dir', osp.join(data_dir, 'cxr8_coco')])
    json.dump(want, open(marker, 'w'))


def step_train(work_dir, env, force, train_options=()):
    latest = osp.join(work_dir, 'latest.pth')
    if not force and osp.exists(latest):
        print(f'[demo] 3/5 reusing the trained checkpoint {latest} (make demo FORCE=1 retrains)')
        return latest
    print('[demo] 3/5 training Loc-ADPD on the phantom set')
    train_dir = osp.join(work_dir, 'train')
    if force and osp.isdir(train_dir):
        shutil.rmtree(train_dir)
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--work-dir', train_dir]
    if train_options:
        cmd += ['--cfg-options', *train_options]
    run(cmd, env=env)
    # the CXR8 val half selects the checkpoint (as in the paper); the test half is reported
    best = sorted(glob.glob(osp.join(train_dir, 'best_cxr8_mAP_iter_*.pth')))
    chosen = best[-1] if best else open(osp.join(train_dir, 'last_checkpoint')).read().strip()
    if osp.lexists(latest):
        os.remove(latest)
    os.symlink(osp.relpath(chosen, work_dir), latest)
    print(f'[demo] latest.pth -> {osp.relpath(chosen, work_dir)}')
    dumped = osp.join(train_dir, osp.basename(CONFIG))
    shutil.copyfile(dumped if osp.isfile(dumped) else CONFIG, osp.join(work_dir, 'config.py'))
    return latest


def step_calibrate(work_dir, env, force):
    out = osp.join(work_dir, 'calibrated.pth')
    latest = osp.realpath(osp.join(work_dir, 'latest.pth'))
    if not force and osp.isfile(out) and osp.getmtime(out) >= osp.getmtime(latest):
        print(f'[demo] 3b reusing the calibrated checkpoint {out}')
        return out
    print('[demo] 3b calibrating per-class thresholds on the CXR8-format val half')
    run([sys.executable, osp.join(ROOT, 'tools', 'analysis_tools', 'calibrate.py'),
         osp.join(work_dir, 'config.py'), osp.join(work_dir, 'latest.pth'), '--out', out],
        env=env)
    return out


def step_publish(work_dir, test_dir, env):
    print(f'[demo] publishing the calibrated model as {PUBLISHED_NAME}')
    report = osp.join(test_dir, 'report')
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'model_converters', 'publish_model.py'),
           osp.join(work_dir, 'calibrated.pth'), PUBLISHED_NAME,
           '--metrics', osp.join(report, 'metrics.json')]
    if osp.isfile(osp.join(report, 'operating_points.json')):
        cmd += ['--operating-points', osp.join(report, 'operating_points.json')]
    run(cmd, env=env)
    from mmadpd.apis.weights import load_index
    return dict(load_index()[PUBLISHED_NAME], name=PUBLISHED_NAME)


def step_test(work_dir, env, checkpoint='latest.pth'):
    print('[demo] 4/5 evaluating on the CXR8-format phantom test half')
    test_dir = osp.join(work_dir, 'test')
    preds = osp.join(test_dir, 'predictions.pkl')
    run([sys.executable, osp.join(ROOT, 'tools', 'test.py'), osp.join(work_dir, 'config.py'),
         osp.join(work_dir, checkpoint), '--work-dir', test_dir, '--out', preds,
         '--method-name', 'Loc-ADPD (demo)'], env=env)
    return test_dir, preds


def step_reference(work_dir, data_dir, preds, env):
    print('[demo] 5/5 reference predictors (oracle regions, whole lung) and the report')
    ref_dir = osp.join(work_dir, 'reference')
    run([sys.executable, osp.join(ROOT, 'tools', 'analysis_tools', 'reference_boxes.py'),
         '--cxr8-json', osp.join(data_dir, 'cxr8_coco', 'cxr8_test.json'),
         '--truth', osp.join(data_dir, 'cxr8', 'phantom_truth.json'),
         '--predictions', preds, '--out-dir', ref_dir], env=env)
    return json.load(open(osp.join(ref_dir, 'reference_boxes.json')))


def trained_seed(work_dir):
    """The seed the demo checkpoint was trained with (a rerun may reuse an older one)."""
    from mmengine.config import Config
    return Config.fromfile(osp.join(work_dir, 'config.py')).get('randomness', {}).get('seed')


def main(argv=None):
    p = argparse.ArgumentParser(description='make demo: phantom data -> Loc-ADPD -> report')
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs', 'demo'))
    p.add_argument('--data-dir', default=osp.join(ROOT, 'data', 'phantom'))
    p.add_argument('--force', action='store_true', help='regenerate the data and retrain')
    p.add_argument('--tiny', action='store_true',
                   help='tiny data and 4 iterations: checks the plumbing in about a minute')
    p.add_argument('--seed', type=int, default=0,
                   help='training seed (the data do not depend on it)')
    args = p.parse_args(argv)
    data_args = TINY_DATA_ARGS if args.tiny else DATA_ARGS
    train_options = [*(TINY_TRAIN_OPTIONS if args.tiny else ()), f'randomness.seed={args.seed}']
    work_dir, data_dir = osp.abspath(args.work_dir), osp.abspath(args.data_dir)
    os.makedirs(work_dir, exist_ok=True)
    env = dict(os.environ, MMADPD_PHANTOM_DIR=data_dir)

    t0 = time.time()
    step_data(data_dir, args.force, data_args)
    t_data = time.time() - t0
    step_train(work_dir, env, args.force, train_options)
    t_train = time.time() - t0 - t_data
    calibrated = step_calibrate(work_dir, env, args.force)
    test_dir, preds = step_test(work_dir, env, osp.basename(calibrated))
    reference = step_reference(work_dir, data_dir, preds, env)
    published = step_publish(work_dir, test_dir, env)
    from mmadpd.engine.demo_report import write_demo_report
    report = write_demo_report(work_dir, osp.join(test_dir, 'report'), reference,
                               timings=dict(data_s=t_data, train_s=t_train,
                                            total_s=time.time() - t0), published=published,
                               seed=trained_seed(work_dir))
    print(f'\n[demo] done in {time.time() - t0:.0f} s: report {report}')


if __name__ == '__main__':
    main()
