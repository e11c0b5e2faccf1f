"""Publish a checkpoint under a name (as mmdet's ``publish_model``): drop the training
state, embed the config and metadata, name the file ``NAME-<sha8>.pth``, write
``MODEL_CARD.md`` next to it and add the entry to the local weights index.

Layout in the weights dir (``$MMADPD_WEIGHTS_DIR``)::

    index.json                       name -> entry (mmadpd.apis.weights)
    NAME/NAME-<sha8>.pth             {'state_dict', 'meta'} only
    NAME/MODEL_CARD.md
"""
from __future__ import annotations

import datetime
import os
import os.path as osp
from typing import Dict, Mapping, Optional, Sequence

from .calibration import CALIBRATION_KEY, file_sha256
from .model_card import format_model_card
from .weights import NAME_PATTERN, load_index, register_local, weights_dir

#: checkpoint keys kept; everything else (optimizer, message_hub, param_schedulers,
#: ema state, ...) only matters for resuming training
KEPT_KEYS = ('state_dict', 'meta')


def config_text(checkpoint: Mapping, config: Optional[str] = None) -> str:
    """The config to embed: ``config`` (a file) if given, else the checkpoint's
    ``meta['cfg']`` (mmengine's Runner stores it there)."""
    from mmengine.config import Config

    if config:
        return Config.fromfile(config).pretty_text
    text = (checkpoint.get('meta') or {}).get('cfg')
    if not text:
        raise ValueError("the checkpoint embeds no config (meta['cfg']); pass --config")
    return text


def describe_model(cfg) -> Dict:
    """Target classes, input size and preprocessing of an ADPD config (read, not built)."""
    from mmadpd.models.vocabulary import resolve_vocabulary

    post = cfg.model.get('postprocessor') or {}
    classes = list(resolve_vocabulary(post.get('target_classes', 'CXR8_CLASSES'),
                                      'postprocessor.target_classes'))
    pipeline = cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline') \
        or cfg.get('test_pipeline') or []
    size = next((t.get('scale') for t in pipeline if t.get('type') == 'Resize'), None)
    pre = cfg.model.get('data_preprocessor') or {}
    steps = ['decoded to grey uint8 in original pixels (MONOCHROME1 inverted, DICOM '
             'windowed)']
    steps += [f'{t["type"]}({", ".join(f"{k}={v}" for k, v in t.items() if k != "type")})'
              for t in pipeline if not str(t.get('type', '')).startswith(('Load', 'Pack'))]
    steps.append(f'normalised with mean {pre.get("mean")} / std {pre.get("std")}, '
                 f'{pre.get("out_channels", 3)} channels')
    return dict(target_classes=classes, input_size=list(size) if size else None,
                preprocessing='; '.join(steps), prob_thr=post.get('prob_thr'),
                presence_thr=post.get('presence_thr'), fusion=post.get('fusion'))


def _metrics_summary(report: Mapping) -> Dict:
    """Table-1 numbers and per-class AP of a test report's ``metrics.json``."""
    return dict(table1=dict(report.get('table1') or {}),
                per_class_ap={r['class']: r.get('mean_ap') for r in report.get('per_class', [])},
                num_test_images=report.get('num_images'),
                classes_without_gt=list(report.get('classes_without_gt') or []))


def publish_checkpoint(checkpoint_path: str, name: str, root: Optional[str] = None,
                       config: Optional[str] = None, test_report: Optional[Mapping] = None,
                       test_operating_points: Optional[Sequence[Mapping]] = None,
                       fields: Optional[Mapping] = None) -> Dict:
    """Publish ``checkpoint_path`` as ``name`` into the weights dir ``root``.

    Args:
        checkpoint_path: a Runner checkpoint (or any ``{'state_dict', 'meta'}`` file).
        name: registry name (letters, digits, ``.``, ``_``, ``-``).
        root: weights dir (default :func:`weights.weights_dir`).
        config: config file to embed instead of the checkpoint's ``meta['cfg']``.
        test_report: the test run's ``report/metrics.json`` content (Table 1, per class).
        test_operating_points: precision/recall at the calibrated points on the test half.
        fields: entry fields given by the publisher (``description``, ``training_data``,
            ``training_data_licence``, ``evaluation_data``, ``limits``, ``config``);
            unset ones come from the package index entry of ``name``, if any.

    Returns:
        The registry entry (also in ``<root>/index.json``); ``entry['path']`` is the file.
    """
    import torch
    from mmengine.config import Config

    if not NAME_PATTERN.match(name):
        raise ValueError(f'model name {name!r}: use letters, digits, ".", "_" and "-"')
    root = root or weights_dir()
    try:
        ckpt = torch.load(checkpoint_path, map_location='cpu', weights_only=False)
    except Exception as exc:  # torch raises many types for a non-checkpoint file
        raise ValueError(f'{checkpoint_path}: cannot read the checkpoint '
                         f'({type(exc).__name__}: {exc})') from None
    if not isinstance(ckpt, Mapping) or 'state_dict' not in ckpt:
        raise ValueError(f'{checkpoint_path}: not a checkpoint with a state_dict')
    text = config_text(ckpt, config)
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
    # no time stamp in the file: publishing the same checkpoint again gives the same
    # bytes, sha256 and file name (the index entry records when)
    meta = dict(ckpt.get('meta') or {}, cfg=text,
                published=dict(name=name, source=osp.basename(checkpoint_path)))
    meta.pop('hook_msgs', None)
    slim = {k: ckpt[k] for k in KEPT_KEYS if k in ckpt}
    slim['meta'] = meta

    folder = osp.join(root, name)
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'.{name}.publishing.pth')
    try:
        torch.save(slim, tmp)
        sha = file_sha256(tmp)
        final = osp.join(folder, f'{name}-{sha[:8]}.pth')
        os.replace(tmp, final)
    finally:
        if osp.exists(tmp):
            os.unlink(tmp)

    cfg = Config.fromstring(text, '.py')
    known = load_index(root).get(name, {})
    given = {k: v for k, v in dict(fields or {}).items() if v}
    calibration = meta.get(CALIBRATION_KEY)
    entry = dict(
        description=given.get('description', known.get('description')),
        config=given.get('config', known.get('config')),
        training_data=given.get('training_data', known.get('training_data')),
        training_data_licence=given.get('training_data_licence',
                                        known.get('training_data_licence')),
        evaluation_data=given.get('evaluation_data', known.get('evaluation_data')),
        limits=list(given.get('limits', known.get('limits') or [])),
        file=osp.relpath(final, root), sha256=sha, published=now,
        **describe_model(cfg),
        thresholds=dict(calibration['thresholds']) if calibration else None,
        calibration={k: v for k, v in (calibration or {}).items() if k != 'thresholds'},
        metrics=_metrics_summary(test_report) if test_report else {},
        test_operating_points=[dict(r) for r in test_operating_points or []] or None,
        model_card=osp.join(name, 'MODEL_CARD.md'))
    card = osp.join(folder, 'MODEL_CARD.md')
    with open(card + '.tmp', 'w') as f:
        f.write(format_model_card(name, entry))
    os.replace(card + '.tmp', card)
    register_local(name, entry, root)
    return dict(entry, path=final)

