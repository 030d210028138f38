"""The training ETA: from training steps only, after a warm-up, ignoring validation time."""

from __future__ import annotations

from burnish.processor.events import Split, StepsEvent

__all__ = ["WARMUP_ITERATIONS", "EtaEstimator", "format_duration"]

WARMUP_ITERATIONS = 10
"""Training steps left out of the rate: the first ones pay for compilation, caches, workers."""


class EtaEstimator:
    """Seconds per training item, measured between consecutive training steps of an epoch.

    Time outside training steps (validation, checkpoints, an epoch's first batch, which pays
    for the data loader's start) is never measured, so it does not inflate the estimate.
    """

    def __init__(self, warmup_iterations: int = WARMUP_ITERATIONS) -> None:
        self.warmup_iterations = warmup_iterations
        self._steps = 0
        self._last: tuple[float, int] | None = None
        self._seconds = 0.0
        self._items = 0
        self._epoch = 0
        self._epoch_total = 0
        self._items_done = 0
        self._items_total: int | None = None

    def start_split(self, split: Split) -> None:
        """A split starts: the time until its first step is not a training step's time."""
        self._last = None

    def observe(self, event: StepsEvent) -> None:
        """Take every step of ``event``."""
        if not len(event):
            return
        if event.split is not Split.TRAIN:
            self._last = None
            return
        last = self._last
        for at, items in zip(event.at, event.items, strict=True):
            self._steps += 1
            if last is not None and self._steps > self.warmup_iterations:
                last_at, last_items = last
                if items > last_items:
                    self._seconds += max(0.0, at - last_at)
                    self._items += items - last_items
            last = (at, items)
        self._last = last
        self._epoch = event.epoch
        self._epoch_total = event.epoch_total
        self._items_done = event.items[-1]
        self._items_total = event.items_total

    @property
    def fraction(self) -> float | None:
        """How much of the whole training (every epoch's training split) is done."""
        total = self._items_total
        if not total or not self._epoch_total:
            return None
        done = (self._epoch - 1) * total + self._items_done
        return min(1.0, done / (self._epoch_total * total))

    def remaining_seconds(self) -> float | None:
        """``None`` until the rate is known, or when the split's size is unknown."""
        total = self._items_total
        if total is None or self._items == 0:
            return None
        remaining = (self._epoch_total - self._epoch) * total + max(0, total - self._items_done)
        return remaining * self._seconds / self._items


def format_duration(seconds: float) -> str:
    """``1:02:03`` style; days spelled out."""
    whole = max(0, int(seconds))
    days, whole = divmod(whole, 86_400)
    hours, whole = divmod(whole, 3600)
    minutes, secs = divmod(whole, 60)
    clock = f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
    return f"{days}d {clock}" if days else clock
