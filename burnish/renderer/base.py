"""The renderer protocol: what shows training progress to a person."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from burnish.processor.events import LearnerEvent

__all__ = ["MetricsRenderer"]


@runtime_checkable
class MetricsRenderer(Protocol):
    """Burn's ``MetricsRenderer``, fed by events rather than calls from the training loop.

    It runs on a thread of its own (see :class:`burnish.processor.events.Actor`): it is called
    with the events since its last call at most every ``tick_seconds``, and may take its time.
    """

    @property
    def tick_seconds(self) -> float: ...

    def consume(self, events: Sequence[LearnerEvent]) -> None: ...

    def close(self) -> None: ...
