"""Which DICOM views the model may read: frontal (PA/AP) only, by default.

ADPD is trained on frontal chest radiographs (Chest ImaGenome keeps PA and AP views), so a
lateral image would get confident but meaningless boxes. The view is read from
*ViewPosition* and, when that is empty, from *PatientOrientation*'s row direction (a frontal
image's rows run to the patient's left or right, a lateral's to anterior or posterior):

- frontal (PA, AP): processed;
- lateral (LL, RL, LATERAL, or any value naming LATERAL, e.g. 'XTABLE LATERAL'): refused
  with the view named, unless allowed (``--allow-views``);
- anything else (missing, oblique, decubitus, ...): processed with a warning in the JSON.

*ImageLaterality* R or L (a one-sided image, e.g. a rib view) adds a warning too.
Non-DICOM inputs carry no view and pass silently.
"""
from __future__ import annotations

import dataclasses
from typing import Iterable, List, Optional, Tuple

from .dicom_header import DicomInfo
from .errors import ImageLoadError

FRONTAL_VIEWS = ('PA', 'AP')
LATERAL_VIEWS = ('LL', 'RL', 'LATERAL')
ALLOW_ALL = 'ALL'


def classify_view(info: DicomInfo) -> Tuple[str, str]:
    """-> (``'frontal'`` | ``'lateral'`` | ``'unknown'``, what it was decided from)."""
    view = info.view_position
    if view:
        if view in FRONTAL_VIEWS:
            return 'frontal', f'ViewPosition={view}'
        if view in LATERAL_VIEWS or 'LATERAL' in view.split():
            return 'lateral', f'ViewPosition={view}'
        return 'unknown', f'ViewPosition={view} is neither PA nor AP'
    orientation = info.patient_orientation
    if orientation and orientation[0]:
        row_direction = orientation[0][0]
        where = f'no ViewPosition, PatientOrientation={list(orientation)}'
        if row_direction in 'LR':
            return 'frontal', where
        if row_direction in 'AP':
            return 'lateral', where
    return 'unknown', 'no ViewPosition or PatientOrientation'


def view_warnings(info: Optional[DicomInfo], path: str,
                  allow_views: Iterable[str] = ()) -> List[str]:
    """Warnings for one image's view; raises for a refused one.

    Args:
        info: the image's header fields (None for PNG/JPEG/arrays: no warnings).
        path: the name used in the error.
        allow_views: *ViewPosition* values accepted although not frontal (``'all'``
            accepts every view); a lateral image without *ViewPosition* is allowed by
            ``'LATERAL'``.

    Raises:
        ImageLoadError: a lateral view that is not allowed.
    """
    if info is None:
        return []
    allowed = {v.strip().upper() for v in allow_views}
    kind, why = classify_view(info)
    warnings = []
    if kind == 'lateral':
        view = info.view_position or 'LATERAL'
        if ALLOW_ALL not in allowed and view not in allowed:
            raise ImageLoadError(path, f'lateral view refused ({why}): the model reads '
                                       f'frontal PA/AP chest X-rays only '
                                       f'(--allow-views {view} to process it anyway)')
        warnings.append(f'lateral view processed because it was allowed ({why}); '
                        f'the model was trained on PA/AP views only')
    elif kind == 'unknown':
        warnings.append(f'view not known to be frontal ({why}); processed as PA/AP')
    if info.image_laterality in ('R', 'L'):
        warnings.append(f'ImageLaterality={info.image_laterality}: a one-sided image, '
                        f'the model expects the whole chest')
    return warnings + list(info.notes)


def guard_view(loaded, allow_views: Iterable[str] = ()):
    """A :class:`~mmadpd.apis.image_io.LoadedImage` with its view warnings attached
    (raises :class:`ImageLoadError` for a refused view, see :func:`view_warnings`)."""
    warnings = view_warnings(loaded.dicom, loaded.path or '<array>', allow_views)
    return dataclasses.replace(loaded, warnings=tuple(loaded.warnings) + tuple(warnings))
