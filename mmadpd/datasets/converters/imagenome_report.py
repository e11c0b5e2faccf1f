"""Book-keeping of one ImaGenome conversion: every record under one reason.

The image-level reasons (:data:`IMAGE_SKIP_REASONS`, in the order the converter checks
them), the region repairs (:data:`REGION_EVENT_REASONS`), which reasons are the paper's
documented filters per split source (:data:`EXCLUSIONS`: counted, never a ``--strict``
stop), the per-image label counts, and the summary whose ``total`` must equal kept +
skipped.
"""
from __future__ import annotations

from collections import Counter, OrderedDict
from typing import Callable, Dict, Optional

from .scene_graph import MIN_REGIONS
from .skips import SkipReport, StrictModeError

IMAGE_SKIP_REASONS = OrderedDict([
    ('malformed_split_row', 'split row with too few fields, no or an unsafe id or path, '
     'or an unknown split value'),
    ('duplicate_split_row', 'dicom id listed again in the split (first listing kept)'),
    ('not_in_split', 'scene graph of an image the chosen split does not list'),
    ('gold_image', 'listed in images_to_avoid.csv (gold standard)'),
    ('non_frontal_view', 'view is not PA/AP'),
    ('missing_scene_graph', 'no scene graph file for the dicom id'),
    ('unreadable_scene_graph', 'scene graph cannot be read (bad zip member) or is not JSON'),
    ('scene_graph_missing_key', 'scene graph (or a region object) lacks a required key'),
    ('malformed_scene_graph', 'a scene graph value has the wrong type (bbox_name not a '
     'string; coordinate boolean, non-numeric, NaN or infinite)'),
    ('missing_image', 'MIMIC-CXR-JPG file not found'),
    ('corrupt_image', 'JPEG truncated or unreadable'),
    ('too_few_regions', f'fewer than {MIN_REGIONS} valid region boxes'),
])
REGION_EVENT_REASONS = OrderedDict([
    ('region_clamped', 'box clamped to the image (kept)'),
    ('region_empty', 'box empty after clamping (region dropped)'),
    ('region_duplicate', 'bbox_name repeated (union box kept)'),
])
#: The paper's documented filters per split source: counted, never a --strict stop. Under
#: 'mimic' most MIMIC-CXR images have no scene graph (laterals, images ImaGenome left out);
#: under 'imagenome' the split lists only images that should have one.
_FILTERS = ('not_in_split', 'gold_image', 'non_frontal_view', 'too_few_regions')
EXCLUSIONS = {'mimic': frozenset(_FILTERS + ('missing_scene_graph',)),
              'imagenome': frozenset(_FILTERS)}


class FilterAwareSkipReport(SkipReport):
    """A :class:`SkipReport` whose strict mode ignores the documented filters."""

    def __init__(self, reasons: Dict[str, str], strict: bool, exclusions=frozenset()) -> None:
        super().__init__(reasons, strict=False)
        self.stop_at_defects = strict
        self.exclusions = frozenset(exclusions)

    def add(self, reason: str, record_id: str, path: Optional[str] = None,
            detail: str = '') -> None:
        if self.stop_at_defects and reason not in self.exclusions:
            extra = f': {detail}' if detail else ''
            raise StrictModeError(f'{path or record_id}: {reason} '
                                  f'({self.descriptions.get(reason, "")}){extra} [--strict]')
        super().add(reason, record_id, path, detail)


class RunTally:
    """Skip reports, region events and label counts of one run."""

    def __init__(self, strict: bool, split_source: str) -> None:
        self.skipped = FilterAwareSkipReport(IMAGE_SKIP_REASONS, strict,
                                             EXCLUSIONS[split_source])
        self.regions = SkipReport(REGION_EVENT_REASONS, strict=strict)
        self.ignored: Counter = Counter()
        self.outside: Counter = Counter()

    def add_before_images(self, row_skips, unlisted, scene_graphs: str) -> None:
        """Malformed / duplicate split rows and scene graphs outside the split."""
        for s in row_skips:
            self.skipped.add(s.reason, s.record, s.path, s.detail)
        for dicom in unlisted:
            self.skipped.add('not_in_split', dicom, f'{scene_graphs}:{dicom}')

    def add_result(self, res: dict) -> bool:
        """Count one :func:`convert_one` result; True if the image is kept."""
        for reason, record in res['events']:
            self.regions.add(reason, record, res['sg_path'])
        if res['skip']:
            self.skipped.add(res['skip'], res['dicom_id'], res['path'], res['detail'])
            return False
        self.ignored.update(res['ignored_labels'])
        self.outside.update(res['outside_labels'])
        return True


def summarise(tally: RunTally, records: Dict[str, int], kept: Dict[str, int],
              annotations: Dict[str, int], seconds: float, workers: int,
              graphs: int) -> dict:
    """The run's summary (``records``: how many of each kind were read; ``kept`` /
    ``annotations`` per split; ``graphs``: the split rows whose images were looked at).

    Raises:
        RuntimeError: a record was neither kept nor skipped (a converter bug).
    """
    total = sum(records.values())
    summary: dict = OrderedDict(
        total=total, records=OrderedDict(records), kept=OrderedDict(kept),
        annotations=OrderedDict(annotations), skipped=tally.skipped.to_dict(),
        region_events=tally.regions.to_dict(),
        ignored_labels=OrderedDict(sorted(tally.ignored.items())),
        labels_outside_regions=OrderedDict(sorted(tally.outside.items())))
    if sum(kept.values()) + tally.skipped.total != total:
        raise RuntimeError(f'imagenome converter: {total} records read but '
                           f'{sum(kept.values())} kept + {tally.skipped.total} skipped')
    summary['seconds'] = round(seconds, 3)
    summary['workers'] = workers
    summary['graphs_per_s'] = round(graphs / max(seconds, 1e-9), 1)
    return summary


def log_summary(log: Callable[[str], None], summary: dict, tally: RunTally,
                source: str) -> None:
    """Print the tables (``source``: the split source and file, for the title)."""
    records = summary['records']
    log(tally.skipped.table(
        f'ImaGenome ({source}): {summary["total"]} records ({records["split_rows"]} split '
        f'rows, {records["scene_graphs_not_in_split"]} other scene graphs), skipped by '
        'reason:'))
    log(tally.regions.table('ImaGenome: region boxes repaired or dropped:'))
    for key, what in (('ignored_labels', "'|yes|' labels that are no training class"),
                      ('labels_outside_regions', 'training classes named only outside '
                       'the 29 regions')):
        if summary[key]:
            log(f'kept images with {what}: ' + ', '.join(
                f'{k} {n}' for k, n in summary[key].items()))
    log('kept images: ' + ', '.join(f'{s} {n}' for s, n in summary['kept'].items()))
    log(f'images looked at in {summary["seconds"]:.1f} s with {summary["workers"]} '
        f'worker(s): {summary["graphs_per_s"]} scene graphs/s')


__all__ = ['IMAGE_SKIP_REASONS', 'REGION_EVENT_REASONS', 'EXCLUSIONS',
           'FilterAwareSkipReport', 'RunTally', 'summarise', 'log_summary', 'StrictModeError']
