"""ADPDInferencer: run an ADPD checkpoint on your own PNG/JPG/DICOM files, folders or arrays.

    from mmadpd.apis import ADPDInferencer
    inferencer = ADPDInferencer('configs/adpd/loc_adpd_synthetic.py', 'work_dirs/demo/latest.pth')
    result = inferencer('my_cxr.dcm', out_dir='outputs/')
    inferencer = ADPDInferencer('loc-adpd_phantom')  # a published name (mmadpd.apis.weights)

The constructor mirrors mmdet's ``DetInferencer(model, weights, device)``; calling it
returns ``{'predictions': [per-image dict], 'visualization': [RGB arrays] | None,
'failures': [{'input', 'reason'}]}`` (per-image dict: :func:`results.build_result`).

How an image travels: :mod:`image_io` decodes it to grey uint8 in ORIGINAL pixels -> the
config's TEST pipeline minus its file/annotation loaders (those read from disk and cannot
do DICOM or 16-bit scaling; we hand the pipeline the decoded image instead, exactly as the
loader would: ``img``, ``img_shape``, ``ori_shape``) -> batches -> ``model.test_step``
-> ``pred_instances`` / ``pred_regions`` already in original pixels (the model maps them
back through ``scale_factor``), so no coordinate maths happens here.
"""
from __future__ import annotations

import copy
import os
import os.path as osp
import warnings
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..anatomy import CXR8_CLASSES, PATHOLOGIES, REGIONS
from .calibration import calibration_of, file_sha256
from .errors import ImageLoadError
from .image_io import LoadedImage, image_from_array, load_image
from .input_discovery import InputItem, expand_inputs
from .results import (atomic_write_json, atomic_write_png, build_result, unique_stems,
                      write_summary)
from .thresholds import CALIBRATED, INTENDED_USE, mark_positive, resolve_thresholds
from .weights import is_model_name, load_named

# the overlay PNG is for looking at: large radiographs are drawn at this long side,
# small ones enlarged to this short side so labels and legend stay legible
OVERLAY_MAX_SIDE = 1024
OVERLAY_MIN_SIDE = 512


def _transform_name(transform) -> str:
    kind = transform.get('type') if isinstance(transform, dict) else transform
    return kind if isinstance(kind, str) else getattr(kind, '__name__', str(kind))


def in_memory_pipeline(pipeline_cfg: Sequence) -> List:
    """The test pipeline without its loaders (every transform named ``Load*``: image
    from file, annotations), which in-memory inputs replace."""
    kept = [copy.deepcopy(t) for t in pipeline_cfg
            if not _transform_name(t).split('.')[-1].startswith('Load')]
    if len(kept) == len(pipeline_cfg):
        raise ValueError('the test pipeline has no Load* transform to replace; '
                         'expected it to start with an image loader')
    return kept


class ADPDInferencer:
    """Inference with an ADPD model on paths, folders and arrays.

    Args:
        model: config file path or ``mmengine.Config`` of an ADPD detector; the test
            pipeline is taken from ``test_dataloader.dataset.pipeline`` (else
            ``test_pipeline``). Or a published model name (``'loc-adpd_phantom'``, see
            :mod:`mmadpd.apis.weights`) with ``weights=None``: its verified checkpoint
            and embedded config are used.
        weights: checkpoint path; None keeps the random initialisation (with a warning).
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``...; None = CUDA if available.
        batch_size: images per forward pass.
        score_thr: default for ``__call__``: ``'calibrated'`` (the checkpoint's per-class
            thresholds) or a number; see :mod:`mmadpd.apis.thresholds`. Every box is
            reported with ``threshold`` and ``positive``.
        cfg_options: dict merged into the config before building (``--cfg-options``).
    """

    def __init__(self, model, weights: Optional[str] = None, device: Optional[str] = None,
                 batch_size: int = 1, score_thr=CALIBRATED,
                 cfg_options: Optional[dict] = None) -> None:
        from mmengine.config import Config
        from mmengine.dataset import Compose
        from mmengine.runner import load_checkpoint

        from mmdet.registry import MODELS

        from ..utils import register_all_modules

        register_all_modules(init_default_scope=True)
        self.model_name, sha256 = None, None
        if weights is None and is_model_name(model):
            self.model_name = model
            model, resolved = load_named(model)
            weights, sha256 = resolved.path, resolved.sha256
        self.config_path = model if isinstance(model, (str, os.PathLike)) else None
        cfg = Config.fromfile(os.fspath(model)) if self.config_path else copy.deepcopy(model)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        self.cfg = cfg
        self.device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
        self.batch_size = int(batch_size)
        self.score_thr = score_thr

        self.model = MODELS.build(cfg.model)
        self.calibration = None
        if weights is None:
            warnings.warn('ADPDInferencer: weights=None, the model keeps its random '
                          'initialisation; predictions are meaningless')
        else:
            if not osp.isfile(weights):
                raise FileNotFoundError(f'checkpoint not found: {weights}')
            checkpoint = load_checkpoint(self.model, weights, map_location='cpu')
            self.calibration = calibration_of(checkpoint)
            sha256 = sha256 or file_sha256(weights)
        self.weights = weights
        self.model.to(self.device).eval()

        pipeline_cfg = cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline') \
            or cfg.get('test_pipeline')
        if not pipeline_cfg:
            raise ValueError('config has no test_dataloader.dataset.pipeline or '
                             'test_pipeline to preprocess images with')
        self.pipeline = Compose(in_memory_pipeline(pipeline_cfg))

        post = getattr(self.model, 'postprocessor', None)
        # label i means the post-processor's target class i; a Runner checkpoint's
        # dataset_meta['classes'] is the TRAINING set's (the 29 regions), not these
        self.class_names = list(getattr(post, 'target_classes', None) or CXR8_CLASSES)
        self.training_classes = list(getattr(getattr(self.model, 'pathology_head', None),
                                             'class_names', None) or PATHOLOGIES)
        self.region_names = list(getattr(getattr(self.model, 'anatomy_head', None),
                                         'region_names', None) or REGIONS)
        self.presence_thr = float(getattr(post, 'presence_thr', 0.5))
        self.model_info = {
            'name': self.model_name or (osp.splitext(osp.basename(weights))[0]
                                        if weights else None),
            'sha256': sha256,
            'intended_use': INTENDED_USE,
            'type': cfg.model.get('type'),
            'config': os.fspath(model) if self.config_path else None,
            'checkpoint': weights,
            'presence_thr': self.presence_thr,
            'prob_thr': getattr(post, 'prob_thr', None),
            'fusion': getattr(post, 'fusion', None),
        }

    # ------------------------------------------------------------------ public API
    def __call__(self, inputs, out_dir: Optional[str] = None,
                 score_thr: Optional[float] = None, batch_size: Optional[int] = None,
                 return_vis: bool = False, on_error: str = 'raise',
                 progress: Optional[Callable[[Dict, int, int], None]] = None) -> Dict:
        """Run the model.

        Args:
            inputs: a path (file or folder, folders recursive and sorted), an array
                ((H, W) grey or (H, W, 3) BGR), or a list of them.
            out_dir: if given, writes ``<stem>.json`` and ``<stem>.png`` per input (stems
                made unique, see :func:`results.unique_stems`) and ``summary.json`` /
                ``summary.csv`` listing every input with status ok/failed and reason;
                every file is written atomically and the summary is refreshed after each
                batch.
            score_thr: ``'calibrated'`` or a number: which boxes are ``positive``
                (default: the constructor's); every box is kept.
            batch_size: images per forward pass (default: the constructor's).
            return_vis: also return the overlay images (RGB uint8).
            on_error: ``'raise'`` re-raises the first :class:`ImageLoadError`; ``'skip'``
                records it in ``failures`` (and the summary) and goes on.
            progress: called as ``progress(row, done, total)`` after every input.

        Returns:
            ``{'predictions': [...], 'visualization': [...] or None, 'failures': [...]}``;
            predictions and visualizations in input order, failed inputs left out.
        """
        if on_error not in ('raise', 'skip'):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        score_thr = self.score_thr if score_thr is None else score_thr
        thresholds, source = resolve_thresholds(score_thr, self.calibration, self.class_names,
                                                self.model_info['prob_thr'] or 0.0)
        batch_size = int(batch_size or self.batch_size)
        items = expand_inputs(inputs)
        stems = unique_stems(item.name for item in items) if out_dir else [None] * len(items)
        if out_dir:
            os.makedirs(out_dir, exist_ok=True)
        model_info = dict(self.model_info, score_thr=score_thr, thresholds=thresholds,
                          threshold_source=source)
        predictions, visuals, failures, rows = [], [], [], []

        def record(row):
            rows.append(row)
            if row['status'] != 'ok':
                failures.append({'input': row['input'], 'reason': row['reason']})
            if progress is not None:
                progress(row, len(rows), len(items))

        for start in range(0, len(items), batch_size):
            ready = []
            for item, stem in zip(items[start:start + batch_size],
                                  stems[start:start + batch_size]):
                try:
                    loaded = self._load(item)
                    ready.append((item, stem, loaded, self._prepare(loaded, item, len(ready))))
                except ImageLoadError as exc:
                    if on_error == 'raise':
                        raise
                    record(_failed_row(item.name, exc.reason))
            if ready:
                samples = self._forward([data for *_, data in ready])
                for (item, stem, loaded, _), sample in zip(ready, samples):
                    result = build_result(sample, item.name, loaded.width, loaded.height,
                                          self.class_names, self.region_names,
                                          self.training_classes, self.presence_thr,
                                          0.0, model_info)
                    mark_positive(result['pathologies'], thresholds)
                    vis = self.visualize(loaded.image, result) \
                        if (out_dir or return_vis) else None
                    row = {'input': item.name, 'status': 'ok', 'reason': '',
                           'width': loaded.width, 'height': loaded.height,
                           'num_pathologies': sum(p['positive']
                                                  for p in result['pathologies'])}
                    if out_dir:
                        row['json'] = osp.join(out_dir, f'{stem}.json')
                        row['png'] = osp.join(out_dir, f'{stem}.png')
                        atomic_write_json(row['json'], result)
                        atomic_write_png(row['png'], vis)
                    predictions.append(result)
                    if return_vis:
                        visuals.append(vis)
                    record(row)
            if out_dir:
                write_summary(out_dir, rows)
        if out_dir and not items:
            write_summary(out_dir, rows)
        return {'predictions': predictions,
                'visualization': visuals if return_vis else None,
                'failures': failures}

    def visualize(self, image: np.ndarray, result: Dict) -> np.ndarray:
        """Overlay of one result on its grey image (faint outlines of present regions,
        pathology boxes in class colours with labels and scores, a legend), drawn by
        :func:`mmadpd.visualization.draw_detections`. Images with a long side above
        ``OVERLAY_MAX_SIDE`` are drawn downscaled (boxes scaled alike), images with a short
        side below ``OVERLAY_MIN_SIDE`` enlarged; the JSON keeps original pixels. Boxes
        marked ``positive: false`` are not drawn."""
        import cv2

        from ..visualization import draw_detections

        h, w = image.shape[:2]
        scale = min(1.0, OVERLAY_MAX_SIDE / max(h, w))
        if scale < 1.0:
            image = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))),
                               interpolation=cv2.INTER_AREA)
        path = [p for p in result['pathologies'] if p.get('positive', True)]
        boxes = np.array([p['box'] for p in path], np.float64).reshape(-1, 4) * scale
        labels = [self.class_names.index(p['class']) for p in path]
        scores = [p['score'] for p in path]
        regions = np.array([r['box'] if r['present'] else [np.nan] * 4
                            for r in result['regions']], np.float64).reshape(-1, 4) * scale
        return draw_detections(image, boxes, labels, scores, self.class_names,
                               region_boxes=regions, legend=True,
                               min_side=min(OVERLAY_MIN_SIDE, OVERLAY_MAX_SIDE))

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _load(item: InputItem) -> LoadedImage:
        if item.error is not None:
            raise item.error
        if isinstance(item.source, np.ndarray):
            return image_from_array(item.source, item.name)
        return load_image(item.source)

    def _prepare(self, loaded: LoadedImage, item: InputItem, index: int) -> Dict:
        """What the file loader would have produced, then the rest of the test pipeline."""
        shape = loaded.image.shape[:2]
        results = {'img': loaded.image, 'img_shape': shape, 'ori_shape': shape,
                   'img_path': item.name, 'img_id': index}
        try:
            data = self.pipeline(results)
        except Exception as exc:  # a transform refusing this image (e.g. a 1-px image)
            raise ImageLoadError(item.name, f'preprocessing failed '
                                            f'({type(exc).__name__}: {exc})') from None
        if data is None:
            raise ImageLoadError(item.name, 'the test pipeline dropped this image')
        return data

    @torch.no_grad()
    def _forward(self, batch: List[Dict]) -> List:
        from mmengine.dataset import pseudo_collate

        return self.model.test_step(pseudo_collate(batch))


def _failed_row(name: str, reason: str) -> Dict:
    return {'input': name, 'status': 'failed', 'reason': reason, 'json': None,
            'png': None, 'width': None, 'height': None, 'num_pathologies': None}
