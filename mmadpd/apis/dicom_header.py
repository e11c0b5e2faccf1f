"""The few DICOM header fields a result needs, and nothing else (privacy by allow-list).

Only the tags in :data:`KEPT_TAGS` are ever copied out of a file: the study/series/instance
UIDs (to put a result back next to its study), the view (frontal or not), and the pixel
spacing (boxes in millimetres). Patient name, ID, birth date and every other header field
stay in the file: nothing in this module returns them, so no output can contain them.

Pixel spacing (PS3.3 C.7.6.2.1.1 / C.8.11.4): a pair ``[row spacing, column spacing]`` in
mm, i.e. the distance between the centres of adjacent ROWS (vertical, y) first, then of
adjacent COLUMNS (horizontal, x). *PixelSpacing* is calibrated to the patient when present;
*ImagerPixelSpacing* (DX/CR) is measured at the detector, so millimetres from it include the
geometric magnification (typically 5-15 % for a chest PA); the source is reported with it.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple, Union

from .errors import ImageLoadError

UID_TAGS = ('StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID')
VIEW_TAGS = ('ViewPosition', 'PatientOrientation', 'ImageLaterality')
SPACING_TAGS = ('PixelSpacing', 'ImagerPixelSpacing')  # in order of preference
KEPT_TAGS = UID_TAGS + VIEW_TAGS + SPACING_TAGS


@dataclass(frozen=True)
class DicomInfo:
    """Allow-listed header fields of one DICOM image.

    Attributes:
        uids: ``{'StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID'}`` -> str or None.
        view_position: *ViewPosition* upper-cased ('PA', 'AP', 'LL', ...), or None.
        patient_orientation: *PatientOrientation* (row direction, column direction),
            e.g. ('L', 'F') for a PA chest, or None.
        image_laterality: *ImageLaterality* ('R', 'L', 'U', 'B') or None.
        pixel_spacing: (row spacing, column spacing) in mm (y, x), or None when absent or
            unusable (then ``notes`` says why).
        spacing_source: the tag ``pixel_spacing`` came from, or None.
        notes: problems found in these fields (reported as warnings, never fatal).
    """
    uids: Dict[str, Optional[str]]
    view_position: Optional[str] = None
    patient_orientation: Optional[Tuple[str, ...]] = None
    image_laterality: Optional[str] = None
    pixel_spacing: Optional[Tuple[float, float]] = None
    spacing_source: Optional[str] = None
    notes: Tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> Dict:
        """The ``"dicom"`` block of a result JSON (DICOM keywords as keys)."""
        out = dict(self.uids)
        out.update(ViewPosition=self.view_position,
                   PatientOrientation=list(self.patient_orientation)
                   if self.patient_orientation else None,
                   ImageLaterality=self.image_laterality,
                   pixel_spacing_mm=list(self.pixel_spacing) if self.pixel_spacing else None,
                   pixel_spacing_source=self.spacing_source)
        return out


def read_dicom_info(data: Union[bytes, str], path: str, force: bool = False) -> DicomInfo:
    """Parse the header only (pixel data skipped) and keep :data:`KEPT_TAGS`.

    Args:
        data: the file's bytes (or a path pydicom can open).
        path: the name used in error messages.
        force: as in :func:`mmadpd.apis.dicom_io.read_dicom_grey`.

    Raises:
        ImageLoadError: the header cannot be parsed.
    """
    import pydicom

    source = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    try:
        ds = pydicom.dcmread(source, force=force, stop_before_pixels=True,
                             specific_tags=list(KEPT_TAGS))
    except Exception as exc:  # the pixel decoder has already reported worse problems
        raise ImageLoadError(path, f'DICOM header cannot be parsed ({type(exc).__name__}: '
                                   f'{exc})') from None
    return info_from_dataset(ds)


def info_from_dataset(ds) -> DicomInfo:
    """:class:`DicomInfo` from a pydicom ``Dataset`` (reads only :data:`KEPT_TAGS`)."""
    notes: List[str] = []
    uids = {tag: _text(ds, tag) for tag in UID_TAGS}
    view = _text(ds, 'ViewPosition')
    orientation = _values(ds, 'PatientOrientation')
    laterality = _text(ds, 'ImageLaterality')
    spacing, source = None, None
    for tag in SPACING_TAGS:
        raw = _values(ds, tag)
        if raw is None:
            continue
        spacing, problem = parse_spacing(raw)
        if spacing is not None:
            source = tag
            break
        notes.append(f'{tag}={list(raw)} ignored: {problem}')
    return DicomInfo(uids, view.upper() if view else None,
                     tuple(v.upper() for v in orientation) if orientation else None,
                     laterality.upper() if laterality else None, spacing, source,
                     tuple(notes))


def parse_spacing(values: Sequence) -> Tuple[Optional[Tuple[float, float]], str]:
    """``[row, column]`` spacing strings/numbers -> ((row_mm, col_mm), '') or (None, why).

    A single value is not accepted (the standard requires two), nor zero, negative or
    non-finite spacing (seen in real files as ``[0.000, 0.000]`` for 'unknown')."""
    if len(values) != 2:
        return None, f'expected 2 values, got {len(values)}'
    try:
        row, col = (float(v) for v in values)
    except (TypeError, ValueError):
        return None, 'not numbers'
    if not (0 < row < float('inf') and 0 < col < float('inf')):
        return None, 'spacing must be positive'
    return (row, col), ''


def box_to_mm(box: Sequence[float], spacing: Tuple[float, float]) -> List[float]:
    """``[x1, y1, x2, y2]`` in pixels -> the same corners in mm from the image's top-left
    corner: x scales by the COLUMN spacing, y by the ROW spacing (module docstring)."""
    row_mm, col_mm = spacing
    x1, y1, x2, y2 = (float(v) for v in box)
    return [round(v, 3) for v in (x1 * col_mm, y1 * row_mm, x2 * col_mm, y2 * row_mm)]


def _text(ds, keyword: str) -> Optional[str]:
    """A single-valued tag as text (the first value of a wrongly multi-valued one)."""
    values = _values(ds, keyword)
    return values[0] if values else None


def _values(ds, keyword: str) -> Optional[Tuple[str, ...]]:
    value = ds.get(keyword)
    if value is None or value == '':
        return None
    items = value if hasattr(value, '__iter__') and not isinstance(value, str) else [value]
    items = tuple(str(v).strip() for v in items)
    return items if any(items) else None

