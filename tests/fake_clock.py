"""A clock for the code under test that reads the time from a callable."""

from __future__ import annotations


class FakeClock:
    """Returns ``now``, which only the test moves."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
