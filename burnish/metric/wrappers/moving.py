"""Ignite's moving average of batch values, folded on the host.

``running = alpha * running + (1 - alpha) * batch_value``, value by value, the first defined
batch value to start; an undefined (NaN) batch value leaves the running value as it was. Batch
values are computed on the host from each batch's totals (see :mod:`burnish.metric.totals`), so
an update only keeps its batch's totals, on the device. A read (an entry's texts, a value now)
folds every batch not yet folded, in order and once, reading them in one transfer: entries read
in order each find their predecessor folded and read only their own batch. A moving average
whose entries go unread folds its batches every :data:`UNREAD_LIMIT` updates, one read then, so
that it never holds more of them.
"""

from __future__ import annotations

import math
import threading
from typing import Any, cast

from burnish.metric.operand import Pending, PendingGroup, Span
from burnish.metric.totals import Totals

__all__ = ["UNREAD_LIMIT", "Link", "ValueAverage"]

UNREAD_LIMIT = 4096
"""The most updates whose batches a moving average of values keeps on the device unread."""

# Entries are read on the readers' threads, values on the training thread: folds take turns
# (a module lock, unlike one per average, lets metrics be copied).
_folding = threading.Lock()


def _fold(running: list[float] | None, batch: list[float], alpha: float) -> list[float]:
    """Ignite's ``alpha * running + (1 - alpha) * batch``, value by value; an undefined (NaN)
    batch value keeps the running one, and the first defined one starts it."""
    if running is None:
        return batch
    return [
        r if math.isnan(b) else b if math.isnan(r) else alpha * r + (1.0 - alpha) * b
        for r, b in zip(running, batch, strict=True)
    ]


class Link:
    """One update of a moving average of values: its batch's totals, until its running values
    are folded on the host (then only they are kept)."""

    __slots__ = ("batch", "index", "previous", "running")

    def __init__(
        self,
        index: int,
        batch: Span | None,
        previous: Link | None,
        running: list[float] | None = None,
    ) -> None:
        self.index = index
        self.batch = batch
        self.previous = previous
        self.running = running


class ValueAverage:
    """Ignite's moving average of batch values: each update's batch totals stay on the device
    until a read needs them, then every batch not yet folded is read in one transfer and folded
    in order, once (entries read in order each find their predecessor folded, and read only
    their own batch)."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.tail: Link | None = None
        self.last: Totals | None = None
        self.folded = 0  # the index of the latest update folded

    def add(self, totals: Totals) -> Link:
        """A link for the update that left the metric's totals at ``totals``."""
        previous = self.tail
        if previous is not None and previous.index - self.folded >= UNREAD_LIMIT:
            self.resolve(previous)
        index = 1 if previous is None else previous.index + 1
        link = Link(index, Span(totals, self.last), previous)
        self.tail, self.last = link, totals
        return link

    def resolve(self, link: Link, batch: list[float] | None = None) -> list[float]:
        """The running values after ``link``'s update; ``batch``: its batch values, when read."""
        with _folding:
            if link.running is not None:
                return link.running
            chain: list[Link] = []
            node: Link | None = link
            while node is not None and node.running is None:
                chain.append(node)
                node = node.previous
            chain.reverse()
            unread = chain if batch is None else chain[:-1]
            spans = [cast("Span", step.batch) for step in unread]
            read = PendingGroup([Pending.of_spans(span, None) for span in spans]).read()
            batches = [values for values, _ in read] + ([] if batch is None else [batch])
            running = None if node is None else node.running
            for step, values in zip(chain, batches, strict=True):
                running = _fold(running, values, self.alpha)
                step.running, step.batch, step.previous = running, None, None
            self.folded = max(self.folded, link.index)
            assert running is not None, "a chain folds at least its own link"
            return running

    def now(self) -> list[float]:
        """The running values after the latest update (NaN before any)."""
        return [math.nan] if self.tail is None else self.resolve(self.tail)

    def state_dict(self) -> list[Any] | None:
        """The running values and the totals after the latest update."""
        if self.tail is None or self.last is None:
            return None
        return [self.now(), list(self.last.values)]

    def load(self, state: list[Any], current: Totals) -> None:
        running, last = state
        self.tail = Link(1, None, None, [float(v) for v in running])
        self.last = Totals(tuple(last), current.evaluate, current.checks)
        self.folded = 1
