"""Hypothesis settings of the property tests, scaled by ``MMADPD_FUZZ_SCALE``.

A property test declares its small example budget for the normal test run
(``@fuzz_settings(30)``); ``MMADPD_FUZZ_SCALE`` (an integer, default 1) multiplies it, and
``make fuzz`` sets it to 10. At scale 1 the examples are derandomised, so ``make test``
draws the same inputs every run; larger scales draw new ones each run (Hypothesis prints
the failing example to reproduce it; ``make fuzz`` prints its seed and ``pytest
--hypothesis-seed=N`` replays a whole run). Hypothesis keeps its caches (unicode tables) in
``~/.cache/mmadpd/hypothesis``, not in the working tree.
"""
import os

from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

set_hypothesis_home_dir(os.path.join(os.path.expanduser('~'), '.cache', 'mmadpd',
                                     'hypothesis'))


def fuzz_scale() -> int:
    """``MMADPD_FUZZ_SCALE`` as a positive integer (1 when unset)."""
    raw = os.environ.get('MMADPD_FUZZ_SCALE', '1')
    try:
        scale = int(raw)
    except ValueError:
        raise ValueError(f'MMADPD_FUZZ_SCALE must be a positive integer, got {raw!r}') \
            from None
    if scale < 1:
        raise ValueError(f'MMADPD_FUZZ_SCALE must be a positive integer, got {raw!r}')
    return scale


def fuzz_settings(max_examples: int) -> settings:
    """Settings for ``max_examples`` x scale examples, no deadline (a shared CPU's
    timings say nothing), no example database (nothing written into the tree)."""
    scale = fuzz_scale()
    seed = os.environ.get('MMADPD_FUZZ_SEED') or 'random (pytest --hypothesis-seed=N fixes it)'
    print(f'fuzz: {max_examples * scale} examples (MMADPD_FUZZ_SCALE={scale}), '
          f'seed {seed if scale > 1 else "derandomised"}')
    return settings(max_examples=max_examples * scale, deadline=None, database=None,
                    derandomize=scale == 1, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])
