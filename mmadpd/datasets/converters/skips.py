"""Book-keeping of records a converter skipped or repaired, by reason.

Every converter counts each skipped image (and each repaired/dropped region) under a named
reason, prints a table at the end and writes the counts plus the affected ids to a JSON
file, so a user can see exactly what was left out. In strict mode the first event raises
:class:`StrictModeError` naming the file concerned.
"""
from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional


class StrictModeError(RuntimeError):
    """Raised in ``--strict`` mode at the first skipped or repaired record."""


class SkipReport:
    """Counts and ids of skipped / repaired records per reason.

    Args:
        reasons: the known reasons with a one-line description each, in table order.
            Reasons not listed here are accepted too (appended at the end).
        strict: raise :class:`StrictModeError` at the first :meth:`add`.
    """

    def __init__(self, reasons: Dict[str, str], strict: bool = False) -> None:
        self.descriptions = OrderedDict(reasons)
        self.ids: Dict[str, List[str]] = OrderedDict((r, []) for r in reasons)
        self.strict = strict

    def add(self, reason: str, record_id: str, path: Optional[str] = None,
            detail: str = '') -> None:
        """Record one event; ``path`` names the offending file for the strict error."""
        if self.strict:
            where = path if path else record_id
            extra = f': {detail}' if detail else ''
            raise StrictModeError(f'{where}: {reason} ({self.descriptions.get(reason, "")})'
                                  f'{extra} [--strict]')
        self.ids.setdefault(reason, []).append(record_id)

    def extend(self, reason: str, record_ids: Iterable[str]) -> None:
        for record_id in record_ids:
            self.add(reason, record_id)

    def count(self, reason: str) -> int:
        return len(self.ids.get(reason, []))

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.ids.values())

    def to_dict(self) -> Dict[str, dict]:
        """``{reason: {"description", "count", "ids"}}`` (ids in input order)."""
        return OrderedDict(
            (reason, OrderedDict(description=self.descriptions.get(reason, ''),
                                 count=len(ids), ids=list(ids)))
            for reason, ids in self.ids.items())

    def table(self, title: str) -> str:
        """A plain-text table of the counts (all reasons, zeros included)."""
        width = max([len(r) for r in self.ids] + [len('reason')])
        lines = [title, f'  {"reason":<{width}}  {"count":>8}  description']
        for reason, ids in self.ids.items():
            lines.append(f'  {reason:<{width}}  {len(ids):>8}  '
                         f'{self.descriptions.get(reason, "")}')
        lines.append(f'  {"total":<{width}}  {self.total:>8}')
        return '\n'.join(lines)


def run_converter(convert, *args, **kwargs) -> int:
    """Exit status of a converter CLI: 0 on success (skips are reported, not fatal),
    2 for the first skip in ``--strict`` mode, 1 for unreadable inputs or bad arguments;
    the reason is printed as one ``error:`` line on stderr."""
    try:
        convert(*args, **kwargs)
    except StrictModeError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    return 0
