"""The per-metric histories the plots draw: full (decimated), recent and per-epoch."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from burnish.metric.entry import MetricEntry

__all__ = ["FULL_HISTORY_POINTS", "RECENT_POINTS", "MetricHistory", "MinMaxHistory", "StepPoint"]

FULL_HISTORY_POINTS = 250
RECENT_POINTS = 1000

StepPoint = tuple[int, int, float]
"""``(epoch, items processed in the epoch, value)``: where a step's value was taken."""


class _Bucket:
    __slots__ = ("count", "high", "low")

    def __init__(self, low: StepPoint, high: StepPoint, count: int) -> None:
        self.low = low
        self.high = high
        self.count = count


class MinMaxHistory:
    """The whole history of a series in at most ``max_points`` points, updated in O(1).

    Points go into buckets of ``step`` consecutive points; each bucket keeps its lowest and its
    highest point. When there are too many buckets, neighbours merge and ``step`` doubles (Burn's
    full history halves its points the same way, but keeps every other point, which loses peaks).
    """

    def __init__(self, max_points: int = FULL_HISTORY_POINTS) -> None:
        self._max_buckets = max(1, max_points // 2)
        self._step = 1
        self._buckets: list[_Bucket] = []

    def __len__(self) -> int:
        return sum(1 if bucket.low is bucket.high else 2 for bucket in self._buckets)

    def push(self, point: StepPoint) -> None:
        if self._buckets and self._buckets[-1].count < self._step:
            last = self._buckets[-1]
            if point[2] < last.low[2]:
                last.low = point
            elif point[2] > last.high[2]:
                last.high = point
            last.count += 1
            return
        self._buckets.append(_Bucket(point, point, 1))
        if len(self._buckets) > self._max_buckets:
            self._merge()

    def _merge(self) -> None:
        merged: list[_Bucket] = []
        for index in range(0, len(self._buckets), 2):
            pair = self._buckets[index : index + 2]
            low = min((bucket.low for bucket in pair), key=_value)
            high = max((bucket.high for bucket in pair), key=_value)
            merged.append(_Bucket(low, high, sum(bucket.count for bucket in pair)))
        self._buckets = merged
        self._step *= 2

    def __iter__(self) -> Iterator[StepPoint]:
        for bucket in self._buckets:
            low, high = bucket.low, bucket.high
            if low is high:
                yield low
            elif low[:2] <= high[:2]:
                yield low
                yield high
            else:
                yield high
                yield low


def _value(point: StepPoint) -> float:
    return point[2]


@dataclass
class MetricHistory:
    """One metric in one split: its plotted histories and its latest texts."""

    full: MinMaxHistory = field(default_factory=MinMaxHistory)
    recent: deque[StepPoint] = field(default_factory=lambda: deque(maxlen=RECENT_POINTS))
    epochs: dict[int, float] = field(default_factory=dict)
    # The latest step's entry; its text is read only when a frame shows it.
    latest: MetricEntry | None = None
    epoch_formatted: str | None = None

    @property
    def formatted(self) -> str | None:
        return None if self.latest is None else self.latest.formatted

    def push(self, point: StepPoint) -> None:
        self.full.push(point)
        self.recent.append(point)
