"""mmadpd/benchmark/timing.py: the timed steps alternate their repeats."""
from mmadpd.benchmark import timing


def test_interleaved_timing_alternates_the_steps_abba():
    """(a) and (b) are timed in alternating repeats (A B, B A, A B): a drift over time
    cannot favour the step that happens to be timed first."""
    calls = []
    steps = dict(a=lambda: calls.append('a'), b=lambda: calls.append('b'))
    times = timing.timed_interleaved(steps, 'cpu', warmup=1, iters=2, repeats=3)
    assert calls == ['a', 'b'] + ['a', 'a', 'b', 'b'] + ['b', 'b', 'a', 'a'] + ['a', 'a', 'b', 'b']
    assert set(times) == {'a', 'b'}
    for median, per_repeat in times.values():
        assert len(per_repeat) == 3 and median == sorted(per_repeat)[1]
