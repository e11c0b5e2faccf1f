"""Hypothesis settings of the fuzz tests, scaled by the env var ``MMADPD_FUZZ_SCALE``.

``make test`` runs every fuzz test with its base number of examples (scale 1); ``make
fuzz`` sets ``MMADPD_FUZZ_SCALE=10`` and a seed (printed) for a ten times longer run. A
failing example is printed with a ``@reproduce_failure`` blob; ``pytest
--hypothesis-seed=N`` replays a whole run.
"""
import os

from hypothesis import settings


def fuzz_scale() -> int:
    """The integer multiplier of ``MMADPD_FUZZ_SCALE`` (default 1)."""
    value = os.environ.get('MMADPD_FUZZ_SCALE', '1')
    try:
        scale = int(value)
    except ValueError:
        raise ValueError(f'MMADPD_FUZZ_SCALE must be an integer, got {value!r}') from None
    if scale < 1:
        raise ValueError(f'MMADPD_FUZZ_SCALE must be >= 1, got {scale}')
    return scale


def fuzz_settings(base_examples: int) -> settings:
    """``base_examples`` x ``MMADPD_FUZZ_SCALE`` examples, no deadline, random seed."""
    scale = fuzz_scale()
    seed = os.environ.get('MMADPD_FUZZ_SEED') or 'random (pytest --hypothesis-seed=N fixes it)'
    print(f'fuzz: {base_examples * scale} examples (MMADPD_FUZZ_SCALE={scale}), seed {seed}')
    return settings(max_examples=base_examples * scale, deadline=None, derandomize=False,
                    print_blob=True)
