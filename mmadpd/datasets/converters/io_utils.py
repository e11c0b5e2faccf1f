"""Small file helpers shared by the converters (no registries, no torch).

* :func:`open_text` reads plain or gzip-compressed CSV files transparently (the real NIH
  files are shipped gzipped).
* :func:`read_csv_lines` yields a CSV file's physical lines one by one, each parsed on its
  own, so that one malformed line (a stray quote, bad UTF-8, a NUL byte) is one bad record
  instead of swallowing the lines after it or aborting the file.
* :func:`jpeg_info` reads a JPEG's size from its header and checks that the file ends with
  the EOI marker, which is how a truncated download is caught without decoding the image
  (decoding a full-size MIMIC-CXR JPEG costs ~30 ms; this costs two small reads).
* :func:`png_size` reads a PNG's size from its IHDR chunk.
* :func:`write_json` writes compact, byte-deterministic JSON.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import os
import struct
import zlib
from typing import IO, Any, Iterator, List, NamedTuple, Optional, Tuple, Union

# SOFn markers that carry the frame size (all except DHT C4, JPG C8 and DAC CC).
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
#: Bytes at the end of a JPEG searched for the EOI marker (some writers pad after it).
_EOI_SEARCH_BYTES = 64


def open_text(path: str) -> IO[str]:
    """Open a CSV for reading as text; gzip is detected by its magic bytes, not the name.

    Raises:
        FileNotFoundError: naming ``path`` when it does not exist.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: file not found')
    with open(path, 'rb') as f:
        magic = f.read(2)
    if magic == b'\x1f\x8b':
        return io.TextIOWrapper(gzip.open(path, 'rb'), encoding='utf-8-sig', newline='')
    return open(path, encoding='utf-8-sig', newline='')


class CsvLine(NamedTuple):
    """One physical line of a CSV file: ``fields``, or ``error`` saying why it has none."""
    line_no: int
    fields: Optional[List[str]]
    error: str


def _parse_line(raw: bytes, line_no: int) -> CsvLine:
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as exc:
        return CsvLine(line_no, None, f'not UTF-8 text (byte {exc.start})')
    if line_no == 1:
        text = text.lstrip('\ufeff')
    body = text.rstrip('\r\n')
    if not any(c in body for c in '"\r\n\0'):  # what csv would parse as a plain split
        return CsvLine(line_no, body.split(','), '')
    try:
        # strict: an unbalanced quote is an error here, not a field running to the end
        return CsvLine(line_no, next(csv.reader([body], strict=True), []), '')
    except csv.Error as exc:
        return CsvLine(line_no, None, f'unparsable CSV line ({exc})')


def read_csv_lines(path: str) -> Iterator[CsvLine]:
    """The lines of a plain or gzipped CSV file, each parsed on its own (1-based numbers).

    Lines holding only whitespace are not yielded. Only for formats without quoted line
    breaks (the NIH CSV files have none): a quote can then never join two lines.

    Raises:
        FileNotFoundError: naming ``path`` when it does not exist.
        ValueError: naming ``path`` when it cannot be read to its end (truncated or
            corrupt gzip data, a read error); lines before the damage were yielded.
    """
    with open_binary(path) as f:
        try:
            for line_no, raw in enumerate(f, start=1):
                if raw.strip():
                    yield _parse_line(raw, line_no)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise ValueError(f'{path}: truncated or corrupt gzip file ({exc})') from None
        except OSError as exc:
            raise ValueError(f'{path}: read error ({exc.strerror or exc})') from None


def open_binary(path: str) -> Union[IO[bytes], gzip.GzipFile]:
    """Open a file for reading bytes, gunzipping it when it starts with the gzip magic."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: file not found')
    with open(path, 'rb') as f:
        magic = f.read(2)
    return gzip.open(path, 'rb') if magic == b'\x1f\x8b' else open(path, 'rb')


def jpeg_info(path: str) -> Tuple[int, int]:
    """Width and height of a JPEG file, after checking it is complete.

    The segment headers are walked from SOI to the first scan (SOS) and an EOI marker must
    lie in the last bytes AFTER that scan's start: an EOI inside an EXIF thumbnail (an APP1
    segment before the frame) does not make a truncated file look complete.

    Returns:
        ``(width, height)`` in pixels.

    Raises:
        ValueError: naming the file when it does not start with SOI, has no frame header,
            or does not end with the EOI marker (truncated file).
    """
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        if f.read(2) != b'\xff\xd8':
            raise ValueError(f'{path}: not a JPEG file (no SOI marker)')
        width_height, scan_start = _walk_to_scan(f, path)
        tail_start = max(0, size - _EOI_SEARCH_BYTES)
        f.seek(tail_start)
        eoi = f.read().rfind(b'\xff\xd9')
        if eoi < 0 or tail_start + eoi < scan_start:
            raise ValueError(f'{path}: truncated JPEG (no EOI marker at the end)')
    return width_height


def _walk_to_scan(f, path: str) -> Tuple[Tuple[int, int], int]:
    """From after SOI to the first SOS: ``((width, height), offset of the scan data)``."""
    width_height = None
    while True:
        marker = f.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            raise ValueError(f'{path}: truncated or corrupt JPEG header')
        code = marker[1]
        if code == 0xFF:  # fill byte: the marker code follows
            f.seek(-1, os.SEEK_CUR)
            continue
        if code in (0x01,) or 0xD0 <= code <= 0xD7:  # markers without a length
            continue
        length_bytes = f.read(2)
        if len(length_bytes) < 2:
            raise ValueError(f'{path}: truncated or corrupt JPEG header')
        length = struct.unpack('>H', length_bytes)[0]
        if code in _SOF_MARKERS and width_height is None:
            data = f.read(5)
            if len(data) < 5:
                raise ValueError(f'{path}: corrupt JPEG frame header')
            height, width = struct.unpack('>HH', data[1:5])
            if width == 0 or height == 0:
                raise ValueError(f'{path}: JPEG frame header has zero size')
            width_height = (int(width), int(height))
            f.seek(length - 7, os.SEEK_CUR)
            continue
        if code == 0xDA:
            if width_height is None:  # start of scan before any frame header
                raise ValueError(f'{path}: corrupt JPEG (no frame header)')
            return width_height, f.tell() + length - 2
        f.seek(length - 2, os.SEEK_CUR)


def png_size(path: str) -> Tuple[int, int]:
    """Width and height of a PNG file from its IHDR chunk.

    Raises:
        ValueError: naming the file when it is not a PNG.
    """
    with open(path, 'rb') as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b'\x89PNG\r\n\x1a\n' or head[12:16] != b'IHDR':
        raise ValueError(f'{path}: not a PNG file')
    width, height = struct.unpack('>II', head[16:24])
    return int(width), int(height)


def image_size(path: str) -> Tuple[int, int]:
    """``(width, height)`` of a PNG or JPEG file (by content, not by extension)."""
    with open(path, 'rb') as f:
        magic = f.read(2)
    if magic == b'\xff\xd8':
        return jpeg_info(path)
    return png_size(path)


def write_json(path: str, obj: Any, indent: Optional[int] = None) -> None:
    """Write ``obj`` as UTF-8 JSON; same object -> same bytes (no timestamps, no sets).

    Written to a temporary file first and renamed, so an interrupted run never leaves a
    half-written annotation file behind.
    """
    tmp = f'{path}.tmp'
    separators = (',', ': ') if indent else (',', ':')
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=indent, separators=separators, ensure_ascii=False)
        f.write('\n')
    os.replace(tmp, path)


def link_images(out_dir: str, image_dir: str) -> str:
    """Make ``OUT/images`` point at ``image_dir`` so configs can always use
    ``data_prefix=dict(img='images/')`` relative to the converter output directory.

    An existing symlink is replaced; an existing real directory (e.g. a resized image
    cache, or images copied there by hand) is left alone.

    Returns:
        A one-line description of what was done.
    """
    link = os.path.join(out_dir, 'images')
    target = os.path.abspath(image_dir)
    if os.path.islink(link):
        os.remove(link)
    elif os.path.exists(link):
        return f'{link} exists and is not a symlink; left unchanged'
    os.symlink(target, link, target_is_directory=True)
    return f'{link} -> {target}'
