"""Exponential reconnect delays with seeded jitter, so members do not redial in lockstep."""

from __future__ import annotations

import random


class Backoff:
    """Delays that double from `initial` up to `maximum`; each is jittered into [d/2, d)."""

    __slots__ = ("_current", "_initial", "_maximum", "_rng")

    def __init__(self, rng: random.Random, initial: float, maximum: float) -> None:
        self._rng = rng
        self._initial = initial
        self._maximum = maximum
        self._current = 0.0

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles the base up to the maximum."""
        if self._current == 0.0:
            self._current = self._initial
        else:
            self._current = min(self._current * 2, self._maximum)
        return self._current * (0.5 + self._rng.random() / 2)

    def reset(self) -> None:
        """Start over from the initial delay (after a successful connection)."""
        self._current = 0.0
