"""What a DICOM input adds to its result: identifiers, view warnings, boxes in mm.

Kept apart from :func:`mmadpd.apis.results.build_result` (which knows only the model's
output) so the model-to-JSON step stays the same for every input kind.
"""
from __future__ import annotations

from typing import Dict

from .dicom_header import box_to_mm


def add_input_fields(result: Dict, loaded) -> Dict:
    """Add the input's header fields to one result dict (in place, also returned).

    Args:
        result: :func:`~mmadpd.apis.results.build_result` output, boxes in original px.
        loaded: the :class:`~mmadpd.apis.image_io.LoadedImage` it was computed from.

    Adds ``result["warnings"]`` (list of str, always present) and, for a DICOM input,
    ``result["dicom"]`` (:meth:`DicomInfo.to_json`); when the pixel spacing is known, every
    pathology and region also gets ``"box_mm"``: ``[x1, y1, x2, y2]`` in mm from the
    image's top-left corner.
    """
    result['warnings'] = list(loaded.warnings)
    info = loaded.dicom
    if info is None:
        return result
    result['dicom'] = info.to_json()
    if info.pixel_spacing is not None:
        for entry in result['pathologies'] + result['regions']:
            entry['box_mm'] = box_to_mm(entry['box'], info.pixel_spacing)
    return result
