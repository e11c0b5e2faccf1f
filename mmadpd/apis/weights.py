"""Weights by name: a small registry of published ADPD checkpoints.

Two JSON indexes are merged, name -> entry:

* the package index ``mmadpd/data/weights_index.json`` (committed): the names the project
  knows, what they are and how to get them (a ``url`` where weights are hosted, else
  ``how_to_get``);
* the local index ``<weights dir>/index.json``, written by
  ``tools/model_converters/publish_model.py``: the published files with their sha256,
  thresholds and metrics. Its entries complete (and override) the package's.

The weights dir is ``$MMADPD_WEIGHTS_DIR``, default ``~/.cache/mmadpd/weights``. An entry's
``file`` is relative to it; a missing file with a ``url`` is downloaded there
(``torch.hub``'s downloader, where a network exists). The file's sha256 is checked before
use: a mismatch raises :class:`WeightsIntegrityError` and the file is left as it is.

Entry fields: ``file``, ``url``, ``sha256``, ``config`` (the repository config it was
trained with; the checkpoint embeds the full config), ``target_classes``, ``input_size``,
``preprocessing``, ``thresholds``, ``training_data``, ``training_data_licence``,
``evaluation_data``, ``metrics``, ``model_card``, ``how_to_get``, ``limits``.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import re
import tempfile
from dataclasses import dataclass
from typing import Dict, Mapping, Optional

from .calibration import file_sha256

PACKAGE_INDEX = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'data',
                         'weights_index.json')
LOCAL_INDEX_NAME = 'index.json'
WEIGHTS_DIR_ENV = 'MMADPD_WEIGHTS_DIR'
NAME_PATTERN = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]*$')


class UnknownModelError(KeyError):
    """A model name that no index lists; the message lists the known names."""

    def __str__(self) -> str:
        return str(self.args[0])


class WeightsIntegrityError(RuntimeError):
    """A weights file whose sha256 is not the registered one."""


class WeightsNotAvailableError(FileNotFoundError):
    """A known name whose file is not in the weights dir and cannot be downloaded."""


@dataclass
class ResolvedWeights:
    name: str
    path: str      # the verified checkpoint file
    sha256: str
    entry: Dict    # the merged index entry


def weights_dir() -> str:
    return osp.expanduser(os.environ.get(WEIGHTS_DIR_ENV) or '~/.cache/mmadpd/weights')


def is_model_name(value) -> bool:
    """True for a string that can only be a registry name: no path separator, no
    ``.py``/``.pth`` suffix and not an existing file."""
    return (isinstance(value, str) and bool(NAME_PATTERN.match(value))
            and not value.endswith(('.py', '.pth')) and not osp.exists(value))


def _read_index(path: str) -> Dict[str, Dict]:
    if not osp.isfile(path):
        return {}
    try:
        with open(path) as f:
            models = json.load(f).get('models', {})
    except (OSError, ValueError, AttributeError) as exc:
        raise ValueError(f'{path}: not a weights index ({exc})') from None
    if not isinstance(models, dict):
        raise ValueError(f"{path}: 'models' must map names to entries")
    return models


def load_index(root: Optional[str] = None) -> Dict[str, Dict]:
    """Name -> merged entry of the package index and ``<root>/index.json``."""
    merged = {name: dict(entry) for name, entry in _read_index(PACKAGE_INDEX).items()}
    for name, entry in _read_index(osp.join(root or weights_dir(), LOCAL_INDEX_NAME)).items():
        merged[name] = dict(merged.get(name, {}), **entry)
    return merged


def _write_json_atomic(path: str, obj) -> None:
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.index.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'w') as f:
            json.dump(obj, f, indent=2, sort_keys=True)
            f.write('\n')
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.unlink(tmp)


def register_local(name: str, entry: Mapping, root: Optional[str] = None) -> str:
    """Add or replace ``name`` in ``<root>/index.json``; returns the index path."""
    if not NAME_PATTERN.match(name):
        raise ValueError(f'model name {name!r}: use letters, digits, ".", "_" and "-"')
    path = osp.join(root or weights_dir(), LOCAL_INDEX_NAME)
    models = _read_index(path)
    models[name] = dict(entry)
    _write_json_atomic(path, {'models': dict(sorted(models.items()))})
    return path


def verify_sha256(path: str, expected: Optional[str], name: str) -> str:
    """sha256 of ``path``; raises :class:`WeightsIntegrityError` when it is not
    ``expected`` (the file is not touched)."""
    actual = file_sha256(path)
    if expected and actual != expected.lower():
        raise WeightsIntegrityError(
            f'{path}: sha256 mismatch for model {name!r}: the index says {expected}, the '
            f'file has {actual}; it is corrupted or was replaced (left untouched). Delete '
            f'it and publish or download it again.')
    return actual


def _download(url: str, dest: str, expected: Optional[str], name: str) -> None:
    """Download to a temporary name, check the sha256, then move into place."""
    import torch.hub

    os.makedirs(osp.dirname(dest), exist_ok=True)
    tmp = dest + '.partial'
    try:
        torch.hub.download_url_to_file(url, tmp, progress=False)
        verify_sha256(tmp, expected, name)
        os.replace(tmp, dest)
    finally:
        if osp.exists(tmp):
            os.unlink(tmp)


def resolve(name: str, root: Optional[str] = None, download: bool = True) -> ResolvedWeights:
    """The verified checkpoint of a registered name.

    Raises:
        UnknownModelError: no index lists ``name`` (the message lists the known names).
        WeightsNotAvailableError: the file is missing and there is no URL to fetch it.
        WeightsIntegrityError: the file's sha256 differs from the index's.
    """
    root = root or weights_dir()
    index = load_index(root)
    if name not in index:
        known = ', '.join(sorted(index)) or '(none)'
        raise UnknownModelError(
            f'unknown model name {name!r}; known names: {known} (indexes: {PACKAGE_INDEX}, '
            f'{osp.join(root, LOCAL_INDEX_NAME)})')
    entry = index[name]
    url = entry.get('url')
    rel = entry.get('file') or (osp.basename(url.split('?')[0]) if url else None)
    path = osp.join(root, rel) if rel else None
    if path is None or not osp.isfile(path):
        if not (url and download):
            hint = entry.get('how_to_get') or 'publish it with tools/model_converters/' \
                                              'publish_model.py'
            raise WeightsNotAvailableError(
                f'model {name!r} has no weights file in {root}: {hint}')
        _download(url, path, entry.get('sha256'), name)
    if not entry.get('sha256'):
        raise WeightsIntegrityError(f'model {name!r}: the index has no sha256 for {path}; '
                                    'refusing unverified weights')
    return ResolvedWeights(name, path, verify_sha256(path, entry['sha256'], name), entry)


def load_named(name: str, root: Optional[str] = None):
    """``(mmengine Config, ResolvedWeights)`` of a registered name: the config is the one
    embedded in the verified checkpoint (``meta['cfg']``), so no repository file is
    needed."""
    import torch
    from mmengine.config import Config

    resolved = resolve(name, root)
    meta = torch.load(resolved.path, map_location='cpu', weights_only=False).get('meta') or {}
    if not meta.get('cfg'):
        raise ValueError(f"{resolved.path}: model {name!r} embeds no config (meta['cfg']); "
                         'publish it with tools/model_converters/publish_model.py')
    return Config.fromstring(meta['cfg'], '.py'), resolved
