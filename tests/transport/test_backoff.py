"""Reconnect delays: doubling up to a ceiling, jittered reproducibly from the seed."""

import random

from node.transport.backoff import Backoff


def delays(seed: int, count: int) -> list[float]:
    backoff = Backoff(random.Random(seed), initial=0.05, maximum=1.0)
    return [backoff.next_delay() for _ in range(count)]


def test_delays_double_up_to_the_maximum_with_jitter_below_each_step():
    bases = [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    for delay, base in zip(delays(3, len(bases)), bases, strict=True):
        assert base / 2 <= delay < base


def test_jitter_is_reproducible_from_the_seed():
    assert delays(3, 5) == delays(3, 5)
    assert delays(3, 5) != delays(4, 5)


def test_reset_starts_over_from_the_initial_delay():
    backoff = Backoff(random.Random(1), initial=0.05, maximum=1.0)
    for _ in range(4):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() < 0.05
