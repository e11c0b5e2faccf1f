"""Chest ImaGenome scene graphs from a folder or ``scene_graph.zip`` (any folder inside).

A zip that cannot be opened (truncated, corrupt, not a zip) is an unreadable input, not a
missing one: :class:`SceneGraphSource` raises ``ValueError`` naming it. A member that cannot
be read (bad CRC, corrupt deflate stream, encrypted) raises :class:`SceneGraphReadError`,
which the converter counts as ``unreadable_scene_graph`` for that image only.
"""
from __future__ import annotations

import os
import os.path as osp
import zipfile
import zlib
from typing import Dict, List, Optional, Tuple

SUFFIX = '_SceneGraph.json'


class SceneGraphReadError(ValueError):
    """One scene graph's bytes cannot be read (the message says why)."""


class SceneGraphSource:
    """Reads ``<dicom_id>_SceneGraph.json`` from a folder or a zip.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is a file but not a readable zip (naming it and why).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.zip: Optional[zipfile.ZipFile] = None
        self.members: Dict[str, str] = {}
        if osp.isdir(path):
            return
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: scene graph folder or zip not found')
        try:
            self.zip = zipfile.ZipFile(path)
            names = self.zip.namelist()
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
            raise ValueError(f'{path}: not a readable zip file (truncated or corrupt: '
                             f'{exc})') from None
        self.members = {osp.basename(n): n for n in names if n.endswith(SUFFIX)}

    def locate(self, dicom_id: str) -> Tuple[str, bool]:
        """``(path for messages, exists)``."""
        name = f'{dicom_id}{SUFFIX}'
        if self.zip is not None:
            member = self.members.get(name)
            return (f'{self.path}:{member or name}', member is not None)
        path = osp.join(self.path, name)
        return path, osp.isfile(path)

    def read(self, dicom_id: str) -> bytes:
        """The file's bytes; :class:`SceneGraphReadError` if they cannot be read."""
        name = f'{dicom_id}{SUFFIX}'
        try:
            if self.zip is not None:
                return self.zip.read(self.members[name])
            with open(osp.join(self.path, name), 'rb') as f:
                return f.read()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError,
                RuntimeError) as exc:  # RuntimeError: an encrypted member
            raise SceneGraphReadError(f'{type(exc).__name__}: {exc}'[:120]) from None

    def dicom_ids(self) -> List[str]:
        """Dicom ids of every scene graph in the source, sorted."""
        if self.zip is not None:
            names = list(self.members)
        else:
            names = [e.name for e in os.scandir(self.path)
                     if e.name.endswith(SUFFIX) and e.is_file()]
        return sorted(n[:-len(SUFFIX)] for n in names)


__all__ = ['SceneGraphSource', 'SceneGraphReadError']
