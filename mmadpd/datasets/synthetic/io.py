"""Deterministic writers: CSV, JSON and zip bytes depend only on their content."""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
import zipfile
from typing import Iterable, Sequence

#: Fixed timestamp of every zip member (the zip format's earliest date).
ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def json_bytes(obj, sort_keys: bool = False, indent=None) -> bytes:
    """UTF-8 JSON; dict order is the insertion order unless ``sort_keys``."""
    return json.dumps(obj, sort_keys=sort_keys, indent=indent, ensure_ascii=True).encode()


def write_bytes(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def csv_bytes(header: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """CSV with ``\\n`` line ends and minimal quoting (fields with commas get quotes)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator='\n')
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode()


def write_csv(path: str, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    write_bytes(path, csv_bytes(header, rows))


def write_csv_gz(path: str, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    """The same CSV, gzip-compressed with a fixed header (mtime 0, no file name)."""
    write_bytes(path, gzip.compress(csv_bytes(header, rows), compresslevel=9, mtime=0))


def write_zip(zip_path: str, src_dir: str, arc_dir: str) -> int:
    """Zip every file of ``src_dir`` (sorted names, fixed dates and modes) under ``arc_dir/``.

    Returns the number of members.
    """
    names = sorted(os.listdir(src_dir)) if os.path.isdir(src_dir) else []
    os.makedirs(os.path.dirname(zip_path), exist_ok=True)
    with zipfile.ZipFile(zip_path, 'w') as zf:
        for name in names:
            info = zipfile.ZipInfo(f'{arc_dir}/{name}', date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            with open(os.path.join(src_dir, name), 'rb') as f:
                zf.writestr(info, f.read(), compresslevel=6)
    return len(names)
