"""``ADPDReportHook``: writes the evaluation report after every validation / test run."""
from __future__ import annotations

import multiprocessing
import os.path as osp
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Dict, Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmdet.registry import HOOKS

from ...evaluation.tables import format_table1
from ..operating_points_report import write_operating_points
from ..report import publish_report, write_report


@HOOKS.register_module()
class ADPDReportHook(Hook):
    """Report files (metrics.json, table.md, PR curves, overlays) in ``<work_dir>/<out_dir>``.

    The numbers come from the ``CXR8DetectionMetric`` of the loop's evaluator: after
    ``compute_metrics`` (rank 0) the metric keeps its full evaluation in ``last_details``
    (per-class rows, PR curves, the evaluated boxes and image paths); this hook finds the
    metric in ``runner.val_evaluator.metrics`` / ``runner.test_evaluator.metrics`` and
    writes the files. Only rank 0 writes. Each run overwrites the previous report.

    The report goes through ``runner.visualizer`` (mmengine's vis backends): an
    ``ADPDLocalVisualizer`` draws the overlays, and the PR curves, overlays and Table-1
    numbers are added to every backend at the run's iteration (TensorBoard, W&B, ...;
    :func:`~mmadpd.engine.report.publish_report`).

    Args:
        out_dir: folder under ``runner.work_dir``.
        num_overlays: images in the overlay gallery.
        pr_iou_thrs: IoU thresholds of the PR-curve figures.
        overlay_min_side: short side of the overlay PNGs (small inputs are enlarged).
        method_name: row label of the table; default: the config file name.
        on_val / on_test: write after validation / test runs.
        background: write the files of a VALIDATION report in a separate process while
            training goes on (the table is logged at once). The PR-curve figures and
            overlays cost ~1 s of CPU per validation, 91 times in a real schedule. Reports
            never interleave (a new one first waits for the previous one), and every
            report is complete when the runner's ``train()``/``val()``/``test()`` returns
            (``after_run`` waits); a test report is always written before the hook
            returns. The worker process is started ('spawn') at the first report; it
            draws with its own ``ADPDLocalVisualizer`` (the runner's palette), and the
            figures reach the runner's backends when the report is complete.
    """
    priority = 'LOW'

    def __init__(self, out_dir: str = 'report', num_overlays: int = 8,
                 pr_iou_thrs: Sequence[float] = (0.1, 0.3, 0.5),
                 overlay_min_side: int = 512, method_name: Optional[str] = None,
                 on_val: bool = True, on_test: bool = True, background: bool = False
                 ) -> None:
        self.out_dir = out_dir
        self.num_overlays = num_overlays
        self.pr_iou_thrs = tuple(pr_iou_thrs)
        self.overlay_min_side = overlay_min_side
        self.method_name = method_name
        self.on_val = on_val
        self.on_test = on_test
        self.background = background
        self.last_files: Optional[Dict] = None
        self._executor: Optional[ProcessPoolExecutor] = None
        self._pending: Optional[Future] = None
        self._publish_pending = None  # sends the pending report's files to the backends

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if self.on_val:
            self._report(runner, 'val', metrics, lambda: runner.val_evaluator)

    def after_test_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if self.on_test:
            self._report(runner, 'test', metrics, lambda: runner.test_evaluator)

    def after_load_checkpoint(self, runner, checkpoint: Dict) -> None:
        # a calibrated checkpoint's thresholds: its test report adds precision / recall
        # at those points (operating_points.json / .md)
        self._calibration = (checkpoint.get('meta') or {}).get('calibration')

    def after_run(self, runner) -> None:
        self.wait()
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None

    def wait(self) -> Optional[Dict]:
        """Block until the report being written in the background (if any) is on disk;
        returns its files (also in ``last_files``). Errors of the writer re-raise here."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            publish, self._publish_pending = self._publish_pending, None
            self.last_files = pending.result()
            if publish is not None:
                publish(self.last_files)
        return self.last_files

    @staticmethod
    def find_details(evaluator):
        """``(metric, last_details)`` of the first metric that keeps details, else None."""
        for metric in getattr(evaluator, 'metrics', []) or []:
            details = getattr(metric, 'last_details', None)
            if details is not None:
                return metric, details
        return None

    def _method_name(self, runner) -> str:
        if self.method_name:
            return self.method_name
        filename = getattr(getattr(runner, 'cfg', None), 'filename', None)
        if filename:
            return osp.splitext(osp.basename(filename))[0]
        model = getattr(runner.model, 'module', runner.model)
        return type(model).__name__

    def _report(self, runner, mode: str, metrics, get_evaluator) -> None:
        if not is_main_process():
            return
        found = self.find_details(get_evaluator())
        if found is None:
            runner.logger.warning('ADPDReportHook: no metric with evaluation details '
                                  '(CXR8DetectionMetric with keep_details=True) in the '
                                  f'{mode} evaluator; no report written')
            return
        metric, details = found
        out_dir = osp.join(runner.work_dir, self.out_dir)
        name = self._method_name(runner)
        kwargs = dict(method_name=name, mode=mode, num_overlays=self.num_overlays,
                      pr_iou_thrs=self.pr_iou_thrs, overlay_min_side=self.overlay_min_side,
                      prefix=metric.prefix or '',
                      extra=dict(epoch=runner.epoch, iter=runner.iter))
        metrics = metrics if metrics else details.get('metrics')
        visualizer = getattr(runner, 'visualizer', None)
        self.wait()  # reports never interleave
        if self.background and mode == 'val':
            if self._executor is None:
                # spawn: the training process has CUDA, DataLoader and pin-memory threads,
                # which a forked child must not inherit
                self._executor = ProcessPoolExecutor(
                    max_workers=1, mp_context=multiprocessing.get_context('spawn'))
            palette = (getattr(visualizer, 'dataset_meta', None) or {}).get('palette')
            self._pending = self._executor.submit(write_report, out_dir, details, metrics,
                                                  palette=palette, **kwargs)
            if visualizer is not None:
                step, prefix = runner.iter, kwargs['prefix']
                self._publish_pending = lambda files: publish_report(
                    visualizer, files, dict(metrics or {}), mode, prefix, step)
            table = format_table1(dict(metrics or {}), name, prefix=kwargs['prefix'])
            runner.logger.info(f'{mode} report ({name}):\n{table}\nbeing written to '
                               f'{osp.abspath(out_dir)} in the background')
            return
        files = write_report(out_dir, details, metrics, visualizer=visualizer,
                             step=runner.iter, **kwargs)
        if mode == 'test' and getattr(self, '_calibration', None):
            files['operating_points'] = write_operating_points(out_dir, details,
                                                               self._calibration, mode)
        self.last_files = files
        skipped = (f'; {len(files["skipped_overlays"])} overlay image(s) not found'
                   if files['skipped_overlays'] else '')
        runner.logger.info(
            f'{mode} report ({name}):\n{files["table1"]}\n'
            f'written to {osp.abspath(out_dir)}: metrics.json, table.md, '
            f'{len(files["pr_curves"])} PR-curve PNGs, {len(files["overlays"])} overlays'
            f'{skipped}')
