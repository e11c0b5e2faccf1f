"""Is a PNG or JPEG complete? Answered by walking the file's own structure, as a decoder
does, instead of looking for an end marker among the last bytes.

A search for ``FF D9`` near the end is fooled by a truncated JPEG whose EXIF thumbnail
(an APP1 segment near the start) carries its own end-of-image marker, and OpenCV decodes
such a file with grey fill without an error. Walking the segments from SOI skips every
APPn payload by its length, follows the entropy-coded data of every scan to the next real
marker (``FF 00`` stuffing and ``RSTn`` stay inside a scan) and must arrive at EOI.
A PNG is walked chunk by chunk (length, type, data, CRC) and must arrive at IEND.
Bytes after EOI / IEND (padding some writers add) are allowed.
"""
from __future__ import annotations

import re

# in entropy-coded data: 0xFF not followed by stuffing (00), RSTn (D0-D7) or fill (FF)
_NEXT_MARKER = re.compile(rb'\xff(?![\x00\xd0-\xd7\xff])')
_STANDALONE = frozenset([0x01]) | frozenset(range(0xD0, 0xD8))
_EOI, _SOS, _SOI = 0xD9, 0xDA, 0xD8
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def jpeg_structure_problem(data: bytes) -> str:
    """What is wrong with the marker structure of a JPEG (starting with SOI), or ''.

    Returns:
        '' when the segments lead from SOI to EOI; otherwise a short reason such as
        ``'truncated JPEG file (ends inside a segment before the end-of-image marker)'``.
    """
    truncated = 'truncated JPEG file (ends {} before the end-of-image marker)'
    pos, end = 2, len(data)
    while True:
        marker = data.find(b'\xff', pos)  # bytes before a marker are skipped, as libjpeg does
        if marker < 0:
            return truncated.format('between segments')
        pos = marker
        while pos < end and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= end:
            return truncated.format('in a marker')
        code = data[pos]
        pos += 1
        if code == _EOI:
            return ''
        if code in _STANDALONE:
            continue
        if code == _SOI:
            return 'corrupt JPEG file (a second start-of-image marker)'
        if pos + 2 > end:
            return truncated.format('in a segment header')
        length = int.from_bytes(data[pos:pos + 2], 'big')
        if length < 2:
            return f'corrupt JPEG file (segment length {length} at byte {pos})'
        pos += length
        if pos > end:
            return truncated.format('inside a segment')
        if code == _SOS:
            found = _NEXT_MARKER.search(data, pos)
            if found is None:
                return truncated.format('inside the image data')
            pos = found.start()


def png_structure_problem(data: bytes) -> str:
    """What is wrong with the chunk structure of a PNG (starting with its signature), or ''.
    CRCs are left to the decoder (libpng rejects a bad CRC in a critical chunk)."""
    pos, end = len(PNG_SIGNATURE), len(data)
    while True:
        if pos + 8 > end:
            return 'truncated PNG file (ends before the IEND chunk)'
        length = int.from_bytes(data[pos:pos + 4], 'big')
        kind = data[pos + 4:pos + 8]
        if length >= 2 ** 31 or not kind.isalpha():
            return f'corrupt PNG file (bad chunk header at byte {pos})'
        pos += 12 + length
        if pos > end:
            return 'truncated PNG file (ends inside a chunk before IEND)'
        if kind == b'IEND':
            return ''
