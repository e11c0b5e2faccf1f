"""On-disk cache of a dataset's serialised annotation list, memory-mapped when read back.

mmengine's ``BaseDataset.full_init`` parses the annotation file, builds the data list and
pickles it into two arrays (``data_bytes``: every item's pickle back to back, uint8;
``data_address``: the cumulative end offsets, int64) that DataLoader workers share after
the fork. For the real Chest ImaGenome training file (2.2 GB of JSON, 6.8 M regions) that
costs every process ~90 s and a 12 GB peak of host memory (benchmarks/
cpu_2026-11-26_dataset_load.json) at every start, once per DDP rank.

:class:`SerializedCacheMixin` saves the two arrays as ``.npy`` files after the first full
initialisation and later memory-maps them instead (read-only): the next start takes
milliseconds, and processes on one machine (DDP ranks, their workers) share the mapped pages
through the page cache instead of holding a copy each. The cache key covers everything
the arrays depend on: the annotation file (absolute path, size, modification time), the
dataset class and the source file defining it (editing the loader invalidates old caches),
``data_root``/``data_prefix``, ``filter_cfg``, ``indices``, the metainfo, mmengine's
version and :data:`CACHE_VERSION`. A missing, stale or unreadable cache is rebuilt from
the annotation file; a cache directory that cannot be written costs a warning, never the
run. Processes that start together (the
ranks of a DDP run on one machine) take turns on a file lock: one parses and writes, the
others then map what it wrote.
"""
from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import logging
import os
import os.path as osp
import uuid
from contextlib import contextmanager
from typing import Iterator, Optional, Tuple

import mmengine
import numpy as np
from mmengine.logging import print_log

#: bump to invalidate every cache (a change OUTSIDE the dataset's own source file that
#: changes its items; edits of that file already change the key)
CACHE_VERSION = 1


def _log(msg: str, level: int = logging.INFO) -> None:
    print_log(msg, 'current', level)


def cache_key(ann_file: str, **settings) -> str:
    """Hex digest naming the cache of ``ann_file`` under ``settings`` (JSON-able values).

    Raises FileNotFoundError if ``ann_file`` does not exist.
    """
    st = os.stat(ann_file)
    payload = dict(settings, ann_file=osp.abspath(ann_file), size=st.st_size,
                   mtime_ns=st.st_mtime_ns, cache_version=CACHE_VERSION)
    text = json.dumps(payload, sort_keys=True, default=repr)
    return hashlib.sha1(text.encode('utf-8')).hexdigest()[:20]


def _module_digest(cls: type) -> str:
    """Digest of the source file that defines ``cls`` (its ``load_data_list`` and
    helpers): editing the loader invalidates caches written by the old code."""
    path = inspect.getsourcefile(cls)
    if path is None:
        return ''
    with open(path, 'rb') as f:
        return hashlib.sha1(f.read()).hexdigest()


def _paths(stem: str) -> Tuple[str, str]:
    return f'{stem}.bytes.npy', f'{stem}.address.npy'


def save_serialized(stem: str, data_bytes: np.ndarray, data_address: np.ndarray) -> bool:
    """Write the two arrays next to ``stem``; True on success.

    Each file is written under a unique temporary name and renamed into place, so a
    concurrent writer (another DDP rank) or a crash never leaves a half-written cache
    under the real name. The address file is renamed last: a reader that finds it also
    finds the bytes it indexes.
    """
    bytes_path, addr_path = _paths(stem)
    tmp = f'.tmp-{uuid.uuid4().hex}'
    try:
        os.makedirs(osp.dirname(osp.abspath(stem)), exist_ok=True)
        for path, array in ((bytes_path, data_bytes), (addr_path, data_address)):
            with open(path + tmp, 'wb') as f:
                np.save(f, np.asarray(array))
        os.replace(bytes_path + tmp, bytes_path)
        os.replace(addr_path + tmp, addr_path)
        return True
    except OSError as exc:
        _log(f'annotation cache: cannot write {bytes_path} ({exc}); the dataset is '
             'parsed from its annotation file at every start', logging.WARNING)
        for path in (bytes_path + tmp, addr_path + tmp):
            if osp.exists(path):
                os.remove(path)
        return False


def load_serialized(stem: str) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """``(data_bytes, data_address)`` of a complete cache, the bytes memory-mapped
    read-only; None if there is none or it is inconsistent (logged)."""
    bytes_path, addr_path = _paths(stem)
    if not (osp.isfile(bytes_path) and osp.isfile(addr_path)):
        return None
    try:
        address = np.load(addr_path)
        data = np.load(bytes_path, mmap_mode='r')
    except (OSError, ValueError) as exc:
        _log(f'annotation cache {bytes_path} is unreadable ({exc}); rebuilding it',
             logging.WARNING)
        return None
    ok = (address.ndim == 1 and address.dtype == np.int64 and data.ndim == 1
          and data.dtype == np.uint8 and len(address) > 0
          and int(address[-1]) == len(data) and bool(np.all(np.diff(address) > 0))
          and int(address[0]) > 0)
    if not ok:
        _log(f'annotation cache {bytes_path} does not match its address file; '
             'rebuilding it', logging.WARNING)
        return None
    return data, address


@contextmanager
def build_lock(stem: str) -> Iterator[bool]:
    """Exclusive lock (``flock`` on ``<stem>.lock``) while one process builds the cache:
    the other processes of a machine (DDP ranks) wait, then find the cache and map it
    instead of each parsing the file. Yields whether the lock is held; where it cannot be
    taken (read-only folder, a file system without locks) the caller builds unlocked. The
    kernel releases the lock if the holder dies."""
    try:
        os.makedirs(osp.dirname(osp.abspath(stem)), exist_ok=True)
        handle = open(f'{stem}.lock', 'a+')
    except OSError:
        yield False
        return
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            locked = True
        except OSError:
            locked = False
        yield locked
    finally:
        handle.close()  # closing releases the lock


class SerializedCacheMixin:
    """Adds ``cache_dir`` to an mmengine ``BaseDataset`` subclass (put it first in the
    bases). ``cache_dir=None`` (default) changes nothing; with a folder, ``full_init``
    memory-maps a valid cache or builds the dataset as usual and writes one. Only with
    ``serialize_data=True`` (mmengine's default) and without a proposal file."""

    def __init__(self, *args, cache_dir: Optional[str] = None, **kwargs) -> None:
        self.cache_dir = cache_dir
        super().__init__(*args, **kwargs)

    def _cache_stem(self) -> Optional[str]:
        if (not self.cache_dir or not self.serialize_data
                or getattr(self, 'proposal_file', None) is not None
                or not osp.isfile(self.ann_file)):  # the loader names the missing file
            return None
        key = cache_key(self.ann_file, cls=type(self).__name__, data_root=self.data_root,
                        data_prefix=self.data_prefix, filter_cfg=self.filter_cfg,
                        indices=self._indices, metainfo=self._metainfo,
                        code=_module_digest(type(self)), mmengine=mmengine.__version__)
        name = osp.splitext(osp.basename(self.ann_file))[0]
        return osp.join(self.cache_dir, f'{name}-{key}')

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        stem = self._cache_stem()
        if stem is None:
            super().full_init()
            return
        cached = load_serialized(stem)
        if cached is None:
            with build_lock(stem):
                # another process may have written it while this one waited for the lock
                cached = load_serialized(stem)
                if cached is None:
                    super().full_init()
                    if len(self.data_address) and save_serialized(
                            stem, self.data_bytes, self.data_address):
                        _log(f'{type(self).__name__}: annotation cache written to '
                             f'{stem}.*.npy for the next start')
                    return
        self.data_bytes, self.data_address = cached
        self.data_list = []
        self._fully_initialized = True
        _log(f'{type(self).__name__}: {len(self.data_address)} items memory-mapped from '
             f'the annotation cache {stem}.*.npy')
