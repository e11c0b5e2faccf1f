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

import contextlib
import copy
import os
import os.path as osp
import warnings
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..anatomy import CXR8_CLASSES, PATHOLOGIES, REGIONS
from .calibration import calibration_of, file_sha256
from .dicom_result import add_input_fields
from .errors import ImageLoadError
from .failure_reason import exception_reason
from .image_io import LoadedImage, image_from_array, load_image
from .input_discovery import InputItem, expand_inputs
from .results import build_result, json_bytes, png_bytes, unique_stems, write_summary
from .safe_write import make_folder, write_all_or_nothing
from .view_guard import guard_view
from .onnx_backend import BACKENDS, OnnxRuntimeNetwork, default_onnx_path, torch_threads
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
        allow_views: DICOM views processed although not frontal, e.g. ``('LL',)`` or
            ``('all',)``; lateral views are refused otherwise (:mod:`.view_guard`).
        backend: ``'pytorch'`` or ``'onnxruntime'`` (the network exported by
            ``tools/deployment/pytorch2onnx.py`` run on the CPU; preprocessing and
            post-processing stay the model's own).
        onnx_model: the ``.onnx`` file (default: ``weights`` with ``.onnx``).
        onnx_threads: ONNX Runtime's intra-op threads (None: one per core).
    """

    def __init__(self, model, weights: Optional[str] = None, device: Optional[str] = None,
                 batch_size: int = 1, score_thr=CALIBRATED,
                 cfg_options: Optional[dict] = None, allow_views: Sequence[str] = (),
                 backend: str = 'pytorch', onnx_model: Optional[str] = None,
                 onnx_threads: Optional[int] = None) -> None:
        from mmengine.config import Config
        from mmengine.dataset import Compose
        from mmengine.runner import load_checkpoint

        from mmdet.registry import MODELS

        from ..utils import register_all_modules

        if backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
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
        self.allow_views = tuple(allow_views)

        self.model = MODELS.build(cfg.model)
        self.backend = backend
        self.network = None
        if backend == 'onnxruntime':  # a CPU runtime: the tensors around it stay there too
            self.network = OnnxRuntimeNetwork(onnx_model or default_onnx_path(weights),
                                              num_threads=onnx_threads)
            self.device = 'cpu'
        self.calibration = None
        if weights is None:
            if backend == 'pytorch':
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
        self.visualizer = self._build_visualizer(
            checkpoint.get('meta', {}) if weights is not None else {})
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
            'backend': backend,
        }
        if self.network is not None:  # the network that ran is this file, not the checkpoint
            self.model_info.update(onnx_model=os.fspath(self.network.path),
                                   onnx_quantization=self.network.quantization)

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
            on_error: ``'raise'`` re-raises the first failure; ``'skip'`` records any
                exception of one input (unreadable file, preprocessing, model, writing
                its outputs) as that input's failure with a one-line reason in
                ``failures`` (and the summary) and goes on. The outputs of one input are
                written all-or-nothing, and ``summary.json`` lists exactly the outputs on
                disk; if the summary itself cannot be written, that batch's outputs are
                removed again and the :class:`OutputWriteError` is raised.
            progress: called as ``progress(row, done, total)`` after every input.

        Returns:
            ``{'predictions': [...], 'visualization': [...] or None, 'failures': [...]}``;
            predictions and visualizations in input order, failed inputs left out.
        """
        if on_error not in ('raise', 'skip'):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        score_thr = self.score_thr if score_thr is None else score_thr
        batch_size = int(batch_size or self.batch_size)
        items = expand_inputs(inputs)
        stems = unique_stems(item.name for item in items) if out_dir else [None] * len(items)
        if out_dir:
            make_folder(out_dir)
        model_info = self.run_info(score_thr)
        predictions, visuals, failures, rows = [], [], [], []

        def record(row):
            rows.append(row)
            if row['status'] != 'ok':
                failures.append({'input': row['input'], 'reason': row['reason']})
            if progress is not None:
                progress(row, len(rows), len(items))

        with self.run_threads():
            for start in range(0, len(items), batch_size):
                ready = []
                for item, stem in zip(items[start:start + batch_size],
                                      stems[start:start + batch_size]):
                    try:
                        ready.append((item, stem, *self.load_and_prepare(item, len(ready))))
                    except Exception as exc:  # whatever the type: this file's failure only
                        if on_error == 'raise':
                            raise
                        record(_failed_row(item.name, exception_reason(exc)))
                written = []
                for (item, stem, loaded, _), sample in zip(ready, self._forward_each(ready,
                                                                                     on_error)):
                    result, vis, row = self.result_or_failure(
                        item, stem, loaded, sample, out_dir, score_thr, model_info,
                        overlay=bool(out_dir or return_vis), on_error=on_error)
                    if result is None:
                        record(row)
                        continue
                    written += [path for path in (row['json'], row['png']) if path]
                    predictions.append(result)
                    if return_vis:
                        visuals.append(vis)
                    record(row)
                if out_dir:
                    _write_summary_or_roll_back(out_dir, rows, written)
        if out_dir and not items:
            _write_summary_or_roll_back(out_dir, rows, [])
        return {'predictions': predictions,
                'visualization': visuals if return_vis else None,
                'failures': failures}

    def run_threads(self):
        """Context for a whole run over inputs. With ONNX Runtime, torch's own small ops
        (normalising, post-processing) stay on one thread for the whole run, not only
        around each network call, so that torch's OpenMP workers never wake between images
        to compete with ONNX Runtime's pool for the cores."""
        return torch_threads(1) if self.network is not None else contextlib.nullcontext()

    def run_info(self, score_thr) -> Dict:
        """The ``model`` block of a run's results: :attr:`model_info` plus the per-class
        thresholds that ``score_thr`` (``'calibrated'`` or a number) resolves to."""
        thresholds, source = resolve_thresholds(score_thr, self.calibration, self.class_names,
                                                self.model_info['prob_thr'] or 0.0)
        return dict(self.model_info, score_thr=score_thr, thresholds=thresholds,
                    threshold_source=source)

    def result_or_failure(self, item: InputItem, stem: Optional[str], loaded, sample,
                          out_dir: Optional[str], score_thr, model_info: Dict,
                          overlay: bool = True, on_error: str = 'skip'):
        """:meth:`process_result`, or ``(None, None, failed summary row)`` when this input
        fails there or its model output ``sample`` is an exception (see
        :meth:`_forward_each`); ``on_error='raise'`` re-raises instead."""
        try:
            if isinstance(sample, Exception):
                raise sample
            return self.process_result(item, stem, loaded, sample, out_dir, score_thr,
                                       model_info, overlay=overlay)
        except Exception as exc:  # e.g. its outputs not writable (ENOSPC, EROFS)
            if on_error == 'raise':
                raise
            return None, None, _failed_row(item.name, exception_reason(exc))

    def process_result(self, item: InputItem, stem: Optional[str], loaded: LoadedImage,
                       sample, out_dir: Optional[str], score_thr, model_info: Dict,
                       overlay: bool = True):
        """One model output -> ``(result dict, overlay RGB or None, summary row)``, writing
        ``<stem>.png`` then ``<stem>.json`` into ``out_dir`` if given, all or nothing (the
        JSON last: an existing JSON means this input is done, see ``tools/infer.py
        --resume``). The one per-file step of both this class's loop and the archive
        runner. ``model_info`` is :meth:`run_info`'s: every box is kept and marked
        ``positive`` against its class's threshold."""
        result = build_result(sample, item.name, loaded.width, loaded.height,
                              self.class_names, self.region_names, self.training_classes,
                              self.presence_thr, 0.0, model_info)
        mark_positive(result['pathologies'], model_info['thresholds'])
        add_input_fields(result, loaded)
        vis = self.visualize(loaded.image, result) if overlay else None
        row = {'input': item.name, 'status': 'ok', 'reason': '', 'json': None, 'png': None,
               'width': loaded.width, 'height': loaded.height,
               'num_pathologies': sum(p['positive'] for p in result['pathologies'])}
        if out_dir:
            files = []
            if vis is not None:
                row['png'] = osp.join(out_dir, f'{stem}.png')
                files.append((row['png'], png_bytes(vis)))
            row['json'] = osp.join(out_dir, f'{stem}.json')
            files.append((row['json'], json_bytes(result)))
            write_all_or_nothing(files)  # renamed in this order: the JSON last
        return result, vis, row

    def visualize(self, image: np.ndarray, result: Dict) -> np.ndarray:
        """Overlay of one result on its grey image (faint outlines of present regions,
        the regions each box was fused from, pathology boxes in class colours with labels
        and scores, a legend), drawn by ``self.visualizer`` (``ADPDLocalVisualizer``).
        Images with a long side above ``OVERLAY_MAX_SIDE`` are drawn downscaled (boxes
        scaled alike), images with a short side below ``OVERLAY_MIN_SIDE`` enlarged; the
        JSON keeps original pixels. Boxes marked ``positive: false`` are not drawn."""
        path = [p for p in result['pathologies'] if p.get('positive', True)]
        boxes = np.array([p['box'] for p in path], np.float64).reshape(-1, 4)
        labels = [self.class_names.index(p['class']) for p in path]
        scores = [p['score'] for p in path]
        regions = np.array([r['box'] if r['present'] else [np.nan] * 4
                            for r in result['regions']], np.float64).reshape(-1, 4)
        fused = [[self.region_names.index(n) for n in p['regions']] for p in path]
        return self.visualizer.draw_overlay(image, boxes, labels, scores,
                                            region_boxes=regions, fused_regions=fused)

    def _build_visualizer(self, checkpoint_meta: Dict):
        """An ``ADPDLocalVisualizer`` without backends for the overlays; the checkpoint's
        palette when its ``dataset_meta`` names these classes. Constructed directly, so
        it does not become mmengine's current visualizer."""
        from ..visualization import ADPDLocalVisualizer

        meta = dict(classes=tuple(self.class_names))
        saved = checkpoint_meta.get('dataset_meta') or {}
        if tuple(saved.get('classes') or ()) == meta['classes'] and saved.get('palette'):
            meta['palette'] = list(saved['palette'])
        visualizer = ADPDLocalVisualizer(name=f'adpd_inferencer_{id(self)}',
                                         min_side=OVERLAY_MIN_SIDE, max_side=OVERLAY_MAX_SIDE)
        visualizer.dataset_meta = meta
        return visualizer

    # ------------------------------------------------------------------ internals
    def _forward_each(self, ready: List, on_error: str) -> List:
        """Model outputs of a prepared batch, one per input; when the batch fails (and
        ``on_error='skip'``) each input is run alone, so the exception of one input
        becomes its own failure instead of its batch's."""
        if not ready:
            return []
        try:
            return self._forward([data for *_, data in ready])
        except Exception as exc:
            if on_error == 'raise':
                raise
            if len(ready) == 1:
                return [exc]
        outputs = []
        for *_, data in ready:
            try:
                outputs.extend(self._forward([data]))
            except Exception as exc:
                outputs.append(exc)
        return outputs

    def load_and_prepare(self, item: InputItem, index: int) -> Tuple[LoadedImage, Dict]:
        """Decode one input, apply the view guard and the test pipeline: ``(loaded,
        pipeline output)``. Raises for this input's failure (any exception type)."""
        loaded = guard_view(self._load(item), self.allow_views)
        return loaded, self._prepare(loaded, item, index)

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

        if self.network is None:
            return self.model.test_step(pseudo_collate(batch))
        # torch's own ops here run on one thread: callers hold run_threads() for the run
        data = self.model.data_preprocessor(pseudo_collate(batch), False)
        return self.model.predict_by_feat(*self.network(data['inputs']), data['data_samples'])


def _write_summary_or_roll_back(out_dir: str, rows: List[Dict], written: List[str]) -> None:
    """Write the summary; if that fails, remove the outputs it would have listed (the
    previous summary still lists exactly the files left) and raise."""
    try:
        write_summary(out_dir, rows)
    except OSError:
        for path in written:
            if osp.isfile(path):
                os.unlink(path)
        raise


def _failed_row(name: str, reason: str) -> Dict:
    return {'input': name, 'status': 'failed', 'reason': reason, 'json': None,
            'png': None, 'width': None, 'height': None, 'num_pathologies': None}
