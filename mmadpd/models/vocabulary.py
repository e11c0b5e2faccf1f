"""Resolve class/region vocabularies named in configs.

mmengine's classic configs cannot import Python packages, so a config names a vocabulary of
:mod:`mmadpd.anatomy` by its attribute name (e.g. ``class_names='PATHOLOGIES'``,
``class_mapping='CXR8_MAPPING'``) instead of re-typing the list; explicit lists and dicts
are used as given.
"""
from __future__ import annotations

from typing import Any

from .. import anatomy


def resolve_vocabulary(value: Any, what: str) -> Any:
    """Return ``getattr(mmadpd.anatomy, value)`` for a string, ``value`` otherwise.

    Raises:
        ValueError: the string names nothing (or nothing public) in mmadpd.anatomy.
    """
    if not isinstance(value, str):
        return value
    if value.startswith('_') or not hasattr(anatomy, value) or callable(getattr(anatomy, value)):
        names = sorted(n for n in dir(anatomy)
                       if n.isupper() and not callable(getattr(anatomy, n)))
        raise ValueError(f'{what}: {value!r} is not a vocabulary of mmadpd.anatomy; '
                         f'known: {names}')
    return getattr(anatomy, value)
