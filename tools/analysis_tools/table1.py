"""Paper Table 1 in one command: train (or reuse) and test every row with the project's
own tools, then write the table.

    python tools/analysis_tools/table1.py [--tiny] --work-dir DIR          # phantom set
    python tools/analysis_tools/table1.py --data real --work-dir DIR        # real data
        [--checkpoint KEY=PATH ...] [--only ROW,ROW] [--force] [--data-dir DIR]

Rows: Loc-ADPD, Loc-ADPD w/o WBF, Loc-ADPD w/ MIL, MIL-ADPD, MIL-ADPD w/o WBF, our
box-pooled MIL-ADPD and its w/o WBF (not in the paper), CheXNet (CAM), Grad-CAM, LSE
model, WELDON, Faster R-CNN, and the reference rows whole lung and oracle regions. Each
model is trained once by ``tools/train.py`` (the "w/o WBF" rows and Grad-CAM test another
model's checkpoint) and tested on the CXR8 test half by
``tools/test.py`` (``CXR8DetectionMetric``); a CAM row's box threshold is first chosen on
the val half by ``tools/analysis_tools/cam_threshold.py``; the reference rows come from
``tools/analysis_tools/reference_boxes.py``. The tools run in this process (their
``main(argv)``); each step prints the equivalent command line.

Phantom set (default): the data are generated and converted into ``--data-dir`` (default
``data/phantom_table1``, reused when the marker matches), with a CXR8-format training set
for the CAM family; the synthetic configs train with the iteration budget below.
``--tiny``: tiny data and one iteration per model (the test suite's end-to-end check).
Real data: the real configs, data from the configs' environment variables
(MMADPD_IMAGENOME_DIR, MMADPD_CXR8_DIR, MMADPD_NIH_DIR); the paper's numbers are shown
in a second block of columns; the oracle row needs region ground truth and is "not run".

A trained model is reused when its training folder holds ``table1_done.json`` (``--force``
retrains); ``--checkpoint KEY=PATH`` uses a given checkpoint instead of training (KEY:
loc, loc_mil, mil, mil_box, chexnet, lse, weldon, frcnn). A row whose training or test fails, or
whose checkpoint is missing, is written as "not run: <reason>", the other rows are still
produced, and the exit code is 1.

Writes ``DIR/table1.md``, ``DIR/table1.json`` (``{"rows": [...], ...}``; row layout in
``mmadpd/evaluation/table1.py``), and per step ``DIR/train/<key>/``, ``DIR/test/<row>/``.
"""
from __future__ import annotations

import argparse
import contextlib
import glob
import io
import importlib.util
import json
import os
import os.path as osp
import re
import sys
import time
import traceback

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOLS = osp.join(ROOT, 'tools')

# key: (real config, phantom config)
MODELS = {
    'loc': ('configs/adpd/loc_adpd.py', 'configs/adpd/loc_adpd_synthetic.py'),
    'loc_mil': ('configs/adpd/loc-mil_adpd.py', 'configs/adpd/loc-mil_adpd_synthetic.py'),
    'mil': ('configs/adpd/mil_adpd.py', 'configs/adpd/mil_adpd_synthetic.py'),
    'mil_box': ('configs/adpd/mil_adpd_box-pooled.py',
                'configs/adpd/mil_adpd_box-pooled_synthetic.py'),
    'chexnet': ('configs/baselines/chexnet_cam.py', 'configs/baselines/chexnet_cam_synthetic.py'),
    'lse': ('configs/baselines/lse_cam.py', 'configs/baselines/lse_cam_synthetic.py'),
    'weldon': ('configs/baselines/weldon_cam.py', 'configs/baselines/weldon_cam_synthetic.py'),
    'frcnn': ('configs/baselines/faster-rcnn_r50_fpn_cxr8-val.py',
              'configs/baselines/faster-rcnn_r50_fpn_synthetic.py'),
}
GRADCAM = ('configs/baselines/chexnet_gradcam.py',
           'configs/baselines/chexnet_gradcam_synthetic.py')
WO_WBF = ['model.postprocessor.fusion=none']
# CAM rows: the box threshold (relative to the heatmap's maximum) is chosen on the val half
# by tools/analysis_tools/cam_threshold.py before the test half is run.
CAM_MODELS = ('chexnet', 'lse', 'weldon')
# (0.3-0.7 first: on the phantom set the best sat at 0.7, the edge, so the grid goes on)
CAM_THRESHOLDS = ['0.3', '0.4', '0.5', '0.6', '0.7', '0.8', '0.9']
TINY_CAM_THRESHOLDS = ['0.4', '0.6']

# (row key, method, supervision, model key, test config (None: the model's), test options)
ROWS = [
    ('loc', 'Loc-ADPD', 'anatomy boxes + region labels', 'loc', None, []),
    ('loc_wo_wbf', 'Loc-ADPD w/o WBF', 'anatomy boxes + region labels', 'loc', None, WO_WBF),
    ('loc_mil', 'Loc-ADPD w/ MIL', 'anatomy boxes + region and image labels', 'loc_mil',
     None, []),
    ('mil', 'MIL-ADPD', 'anatomy boxes + image labels', 'mil', None, []),
    ('mil_wo_wbf', 'MIL-ADPD w/o WBF', 'anatomy boxes + image labels', 'mil', None, WO_WBF),
    # not in the paper: MIL-ADPD whose classifier reads box-pooled backbone features
    ('mil_box', 'MIL-ADPD, box-pooled regions (ours)', 'anatomy boxes + image labels',
     'mil_box', None, []),
    ('mil_box_wo_wbf', 'MIL-ADPD, box-pooled regions (ours) w/o WBF',
     'anatomy boxes + image labels', 'mil_box', None, WO_WBF),
    ('chexnet', 'CheXNet (GAP + CAM)', 'image labels', 'chexnet', None, []),
    ('gradcam', 'Grad-CAM (CheXNet model)', 'image labels', 'chexnet', GRADCAM, []),
    ('lse', 'LSE model (CXR8 paper, CAM)', 'image labels', 'lse', None, []),
    ('weldon', 'WELDON (max-min pooling, CAM)', 'image labels', 'weldon', None, []),
    ('frcnn', 'Faster R-CNN (CXR8 val-half boxes)', 'pathology boxes', 'frcnn', None, []),
]
WHOLE_LUNG = ('whole_lung', 'whole lung (Loc-ADPD classifier, lung box)',
              'as Loc-ADPD (reference row)')
ORACLE = ('oracle', 'oracle regions (GT regions + GT labels)', 'region ground truth '
          '(reference row)')

# Phantom data: the demo's set plus 1,600 CXR8-format training images for the CAM family.
PHANTOM_DATA = dict(seed=0, num_train=1600, num_val=100, num_test=100, num_cxr8=400,
                    size=256, defect_rate=0.02, num_cxr8_train=1600)
TINY_DATA = dict(seed=0, num_train=16, num_val=2, num_test=2, num_cxr8=12, size=128,
                 defect_rate=0.0, num_cxr8_train=12)
# Iterations per model in the phantom run (one validation, at the end), sized so
# that the whole run, with the CAM rows' threshold search, fits 60 minutes on a 2-core CPU
# (measured run: README "Table 1"; per-iteration costs in
# benchmarks/cpu_2026-12-06_table1_iter_time.json).
PHANTOM_ITERS = dict(loc=400, loc_mil=400, mil=400, mil_box=400, chexnet=250, lse=250, weldon=250,
                     frcnn=150)
WARMUP = 30  # the synthetic configs' linear warm-up (LinearLR then CosineAnnealingLR)
TINY_OPTIONS = ['train_cfg.max_iters=1', 'val_cfg=None', 'val_dataloader=None',
                'val_evaluator=None',
                'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
                'train_dataloader.persistent_workers=False', 'param_scheduler=[]',
                'default_hooks.checkpoint.interval=1', 'default_hooks.logger.interval=1',
                'default_hooks.report.on_val=False', 'default_hooks.report.on_test=False']
# Faster R-CNN's proposal counts in the tiny run, so that an untrained RPN stays cheap
TINY_FRCNN = ['model.train_cfg.rpn_proposal.nms_pre=100',
              'model.train_cfg.rpn_proposal.max_per_img=50',
              'model.test_cfg.rpn.nms_pre=100', 'model.test_cfg.rpn.max_per_img=50']
TINY_TEST = ['test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
             'default_hooks.report.on_test=False']


class RowError(Exception):
    """A step failed; the message is the row's "not run" reason."""


def _tool(path):
    """Import a tool script (``tools/train.py``, ...) as a module, for its ``main(argv)``."""
    name = 'table1_' + re.sub(r'\W', '_', osp.relpath(path, TOOLS))
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


class _Tee(io.TextIOBase):
    """stderr that is also kept, so that a tool's one-line error can become the reason."""

    def __init__(self, stream):
        self.stream, self.lines = stream, []

    def write(self, text):
        self.lines.extend(text.splitlines())
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()


def call_tool(script, argv):
    """Run ``script``'s ``main(argv)`` here; any failure becomes a RowError."""
    print('\n$ python ' + ' '.join([osp.relpath(script, ROOT)] + list(argv)), flush=True)
    tee = _Tee(sys.stderr)
    try:
        with contextlib.redirect_stderr(tee):
            return _tool(script).main(list(argv))
    except SystemExit as exc:  # the tools' one-line errors exit with a code
        if exc.code not in (0, None):
            errors = [line for line in tee.lines if line.startswith('error: ')]
            detail = errors[-1][len('error: '):] if errors else f'exited with {exc.code}'
            raise RowError(f'{osp.basename(script)}: {detail}') from None
    except Exception as exc:  # noqa: BLE001  (one row's failure must not end the table)
        traceback.print_exc()
        raise RowError(f'{osp.basename(script)}: {type(exc).__name__}: {exc}') from None


def schedule_options(key, iters, val_interval):
    """--cfg-options that give a phantom config ``iters`` iterations (cosine to the end)."""
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={val_interval}',
            f'default_hooks.checkpoint.interval={val_interval}',
            f'param_scheduler.1.T_max={iters - WARMUP}', f'param_scheduler.1.end={iters}']


def chosen_checkpoint(train_dir):
    """The val-selected checkpoint (best_cxr8_mAP_iter_N.pth, highest N), else the last."""
    best = glob.glob(osp.join(train_dir, 'best_cxr8_mAP_iter_*.pth'))
    if best:
        return max(best, key=lambda p: int(re.findall(r'(\d+)\.pth$', p)[0]))
    last = osp.join(train_dir, 'last_checkpoint')
    if osp.isfile(last):
        return open(last).read().strip()
    raise RowError(f'training left no checkpoint in {train_dir}')


def prepare_phantom(data_dir, data_args, force):
    """Generate and convert the phantom set into data_dir (reused when unchanged)."""
    marker = osp.join(data_dir, '.table1-data.json')
    want = dict(data_args, version=1)
    if not force and osp.isfile(marker) and json.load(open(marker)) == want:
        print(f'[table1] reusing the phantom data in {data_dir}')
        return
    from mmadpd.datasets.converters import convert_cxr8, convert_imagenome
    from mmadpd.datasets.synthetic import generate_dataset
    print(f'[table1] generating the phantom set in {data_dir}', flush=True)
    workers = os.cpu_count() or 1
    generate_dataset(data_dir, workers=workers, progress=True, **data_args)
    silver = osp.join(data_dir, 'chest-imagenome', 'silver_dataset')
    mimic = osp.join(data_dir, 'mimic-cxr-jpg')
    cxr8 = osp.join(data_dir, 'cxr8')
    convert_imagenome(osp.join(silver, 'scene_graph.zip'), osp.join(silver, 'splits'), mimic,
                      osp.join(mimic, 'mimic-cxr-2.0.0-metadata.csv'),
                      osp.join(data_dir, 'imagenome_coco'),
                      images_to_avoid=osp.join(silver, 'splits', 'images_to_avoid.csv'),
                      workers=workers, progress=False)
    convert_cxr8(osp.join(cxr8, 'BBox_List_2017.csv'),
                 osp.join(cxr8, 'Data_Entry_2017_v2020.csv'), osp.join(data_dir, 'cxr8_coco'),
                 image_dir=osp.join(cxr8, 'images'))
    with open(marker, 'w') as f:
        json.dump(want, f)


class Table1Run:
    """Trains each model once (or reuses it) and tests every row."""

    def __init__(self, args):
        self.args = args
        self.real = args.data == 'real'
        self.work_dir = osp.abspath(args.work_dir)
        self.given = dict(kv.split('=', 1) for kv in args.checkpoint or [])
        self.checkpoints, self.failures, self.timings = {}, {}, {}
        self.box_thresholds = {}

    def config(self, pair):
        return osp.join(ROOT, pair[0] if self.real else pair[1])

    def train_options(self, key):
        if self.args.tiny:
            return TINY_OPTIONS + (TINY_FRCNN if key == 'frcnn' else [])
        if self.real:
            return []
        iters = PHANTOM_ITERS[key]
        return schedule_options(key, iters, iters)  # one validation, at the end

    def checkpoint(self, key):
        """The checkpoint of model ``key``: given, reused or trained now."""
        if key in self.failures:
            raise RowError(self.failures[key])
        if key in self.checkpoints:
            return self.checkpoints[key]
        try:
            ckpt = self._checkpoint(key)
        except RowError as exc:
            self.failures[key] = str(exc)
            raise
        self.checkpoints[key] = ckpt
        return ckpt

    def _checkpoint(self, key):
        if key in self.given:
            path = self.given[key]
            if not osp.isfile(path):
                raise RowError(f'checkpoint not found: {path}')
            return path
        train_dir = osp.join(self.work_dir, 'train', key)
        done = osp.join(train_dir, 'table1_done.json')
        if osp.isfile(done) and not self.args.force:
            print(f'[table1] reusing {key} from {train_dir} (--force retrains)')
            return json.load(open(done))['checkpoint']
        t0 = time.time()
        argv = [self.config(MODELS[key]), '--work-dir', train_dir]
        options = self.train_options(key)
        call_tool(osp.join(TOOLS, 'train.py'), argv + (['--cfg-options', *options]
                                                        if options else []))
        ckpt = chosen_checkpoint(train_dir)
        self.timings[f'train {key}'] = round(time.time() - t0, 1)
        with open(done, 'w') as f:
            json.dump(dict(checkpoint=ckpt, seconds=self.timings[f'train {key}']), f)
        return ckpt

    def test(self, row_key, model_key, test_pair, options, out=None):
        ckpt = self.checkpoint(model_key)
        config = self.config(test_pair or MODELS[model_key])
        options = list(options)
        if self.args.tiny:
            options += TINY_TEST + (TINY_FRCNN if model_key == 'frcnn' else [])
        if model_key in CAM_MODELS:
            options.append(f'model.box_threshold={self.box_threshold(row_key, config, ckpt)}')
        argv = [config, ckpt, '--work-dir', osp.join(self.work_dir, 'test', row_key),
                '--method-name', row_key]
        if out:
            argv += ['--out', out]
        if options:
            argv += ['--cfg-options', *options]
        t0 = time.time()
        metrics = call_tool(osp.join(TOOLS, 'test.py'), argv)
        self.timings[f'test {row_key}'] = round(time.time() - t0, 1)
        if not metrics:
            raise RowError('tools/test.py returned no metrics')
        return metrics

    def box_threshold(self, row_key, config, ckpt):
        """A CAM row's box threshold, chosen on the val half (never the test half)."""
        argv = [config, ckpt, '--work-dir', osp.join(self.work_dir, 'cam_threshold', row_key),
                '--thresholds', *(TINY_CAM_THRESHOLDS if self.args.tiny else CAM_THRESHOLDS)]
        if self.args.tiny:
            argv += ['--cfg-options', *TINY_TEST]
        t0 = time.time()
        best = call_tool(osp.join(TOOLS, 'analysis_tools', 'cam_threshold.py'), argv)
        self.timings[f'cam threshold {row_key}'] = round(time.time() - t0, 1)
        if best is None:
            raise RowError('cam_threshold.py chose no threshold')
        self.box_thresholds[row_key] = best
        return best

    def reference(self, loc_predictions):
        """The whole-lung row (needs Loc-ADPD's dumped predictions) and the oracle row."""
        from mmadpd.evaluation.table1 import not_run_row, result_row
        if self.real:
            cxr8 = osp.join(os.environ.get('MMADPD_CXR8_DIR', 'data/cxr8'), 'cxr8_test.json')
            truth = None
        else:
            cxr8 = osp.join(self.data_dir, 'cxr8_coco', 'cxr8_test.json')
            truth = osp.join(self.data_dir, 'cxr8', 'phantom_truth.json')
        argv = ['--cxr8-json', cxr8, '--out-dir', osp.join(self.work_dir, 'reference'),
                '--method-name', 'Loc-ADPD']
        if truth:
            argv += ['--truth', truth]
        if loc_predictions:
            argv += ['--predictions', loc_predictions]
        rows = {}
        try:
            if not (truth or loc_predictions):
                raise RowError('no Loc-ADPD predictions')
            results = call_tool(osp.join(TOOLS, 'analysis_tools', 'reference_boxes.py'),
                                argv) or {}
        except RowError as exc:
            results, error = {}, str(exc)
        else:
            error = None
        for (key, method, sup), name, missing in (
                (WHOLE_LUNG, 'whole lung', 'no Loc-ADPD predictions (its row did not run)'),
                (ORACLE, 'oracle regions', 'needs region ground truth (phantom set only)')):
            if name in results:
                rows[key] = result_row(method, sup, results[name])
            else:
                needs_truth = key == ORACLE[0] and truth is None
                rows[key] = not_run_row(method, sup, missing if needs_truth or not error
                                        else error)
        return rows

    def run(self):
        from mmadpd.evaluation.table1 import PAPER_TABLE1, not_run_row, result_row
        only = set(self.args.only.split(',')) if self.args.only else None
        rows = []
        loc_predictions = None
        for key, method, sup, model_key, test_pair, options in ROWS:
            if only and key not in only:
                continue
            paper = PAPER_TABLE1.get(key) if self.real else None
            out = osp.join(self.work_dir, 'test', key, 'predictions.pkl') \
                if key == 'loc' else None
            try:
                metrics = self.test(key, model_key, test_pair, options, out)
            except RowError as exc:
                print(f'[table1] {method}: not run: {exc}', flush=True)
                rows.append(not_run_row(method, sup, str(exc), paper))
                continue
            rows.append(result_row(method, sup, metrics, paper))
            loc_predictions = out or loc_predictions
        wanted = [k for k in (WHOLE_LUNG[0], ORACLE[0]) if not only or k in only]
        reference = self.reference(loc_predictions) if wanted else {}
        return rows + [reference[k] for k in wanted]


def write_table(work_dir, rows, meta, with_paper):
    from mmadpd.evaluation.table1 import per_class_markdown, table1_markdown
    md = [f'# Table 1 ({meta["data"]})', '',
          f'CXR8 test half, `CXR8DetectionMetric` (AP in percent, IoU > t, top-1 box per '
          f'class; loc-acc as a fraction). Command: `{meta["command"]}`; '
          f'{meta["seconds"]:.0f} s.', '', table1_markdown(rows, with_paper), '',
          '## Per-class AP (mean over IoU 0.1-0.7)', '', per_class_markdown(rows), '']
    for name, text in (('table1.md', '\n'.join(md)),
                       ('table1.json', json.dumps(dict(meta, rows=rows), indent=2))):
        tmp = osp.join(work_dir, name + '.tmp')
        with open(tmp, 'w') as f:
            f.write(text)
        os.replace(tmp, osp.join(work_dir, name))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='Train/test every row of the paper\'s Table 1')
    p.add_argument('--work-dir', required=True)
    p.add_argument('--data', choices=['phantom', 'real'], default='phantom')
    p.add_argument('--data-dir', default=osp.join(ROOT, 'data', 'phantom_table1'),
                   help='phantom data folder (generated when missing)')
    p.add_argument('--tiny', action='store_true',
                   help='tiny phantom data, one iteration per model (plumbing check)')
    p.add_argument('--checkpoint', action='append', metavar='KEY=PATH',
                   help=f'use this checkpoint for model KEY ({", ".join(MODELS)})')
    p.add_argument('--only', help='comma-separated row keys to produce '
                   f'({", ".join(r[0] for r in ROWS)}, whole_lung, oracle)')
    p.add_argument('--force', action='store_true', help='regenerate data and retrain')
    args = p.parse_args(argv)
    if args.tiny and args.data == 'real':
        p.error('--tiny runs on the phantom set only')
    for kv in args.checkpoint or []:
        if '=' not in kv or kv.split('=', 1)[0] not in MODELS:
            p.error(f'--checkpoint {kv!r}: expected KEY=PATH with KEY in {list(MODELS)}')
    return args


def main(argv=None):
    args = parse_args(argv)
    t0 = time.time()
    run = Table1Run(args)
    os.makedirs(run.work_dir, exist_ok=True)
    run.data_dir = osp.abspath(osp.join(run.work_dir, 'data') if args.tiny else args.data_dir)
    if not run.real:
        prepare_phantom(run.data_dir, TINY_DATA if args.tiny else PHANTOM_DATA, args.force)
        os.environ['MMADPD_PHANTOM_DIR'] = run.data_dir
    rows = run.run()
    meta = dict(data='phantom, tiny' if args.tiny else args.data,
                command='python tools/analysis_tools/table1.py ' + ' '.join(
                    sys.argv[1:] if argv is None else argv),
                seconds=round(time.time() - t0, 1), timings=run.timings,
                cam_box_thresholds_chosen_on_val=run.box_thresholds)
    write_table(run.work_dir, rows, meta, with_paper=run.real)
    failed = [r['method'] for r in rows if r['status'] != 'ok']
    print(open(osp.join(run.work_dir, 'table1.md')).read())
    print(f'[table1] wrote {osp.join(run.work_dir, "table1.md")} and table1.json in '
          f'{meta["seconds"]:.0f} s' + (f'; not run: {failed}' if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
