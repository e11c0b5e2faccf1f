"""``ADPDReportHook``: writes the evaluation report after every validation / test run."""
from __future__ import annotations

import os.path as osp
from typing import Dict, Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmdet.registry import HOOKS

from ..report import write_report


@HOOKS.register_module()
class ADPDReportHook(Hook):
    """Report files (metrics.json, table.md, PR curves, overlays) in ``<work_dir>/<out_dir>``.

    The numbers come from the ``CXR8DetectionMetric`` of the loop's evaluator: after
    ``compute_metrics`` (rank 0) the metric keeps its full evaluation in ``last_details``
    (per-class rows, PR curves, the evaluated boxes and image paths); this hook finds the
    metric in ``runner.val_evaluator.metrics`` / ``runner.test_evaluator.metrics`` and
    writes the files. Only rank 0 writes. Each run overwrites the previous report.

    Args:
        out_dir: folder under ``runner.work_dir``.
        num_overlays: images in the overlay gallery.
        pr_iou_thrs: IoU thresholds of the PR-curve figures.
        overlay_min_side: short side of the overlay PNGs (small inputs are enlarged).
        method_name: row label of the table; default: the config file name.
        on_val / on_test: write after validation / test runs.
    """
    priority = 'LOW'

    def __init__(self, out_dir: str = 'report', num_overlays: int = 8,
                 pr_iou_thrs: Sequence[float] = (0.1, 0.3, 0.5),
                 overlay_min_side: int = 512, method_name: Optional[str] = None,
                 on_val: bool = True, on_test: bool = True) -> None:
        self.out_dir = out_dir
        self.num_overlays = num_overlays
        self.pr_iou_thrs = tuple(pr_iou_thrs)
        self.overlay_min_side = overlay_min_side
        self.method_name = method_name
        self.on_val = on_val
        self.on_test = on_test
        self.last_files: Optional[Dict] = None

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if self.on_val:
            self._report(runner, 'val', metrics, lambda: runner.val_evaluator)

    def after_test_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if self.on_test:
            self._report(runner, 'test', metrics, lambda: runner.test_evaluator)

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
        files = write_report(
            out_dir, details, metrics if metrics else details.get('metrics'),
            method_name=self._method_name(runner), mode=mode,
            num_overlays=self.num_overlays, pr_iou_thrs=self.pr_iou_thrs,
            overlay_min_side=self.overlay_min_side, prefix=metric.prefix or '',
            extra=dict(epoch=runner.epoch, iter=runner.iter))
        self.last_files = files
        skipped = (f'; {len(files["skipped_overlays"])} overlay image(s) not found'
                   if files['skipped_overlays'] else '')
        runner.logger.info(
            f'{mode} report ({self._method_name(runner)}):\n{files["table1"]}\n'
            f'written to {osp.abspath(out_dir)}: metrics.json, table.md, '
            f'{len(files["pr_curves"])} PR-curve PNGs, {len(files["overlays"])} overlays'
            f'{skipped}')
