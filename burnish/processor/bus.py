"""How events reach the consumers: the processor's reading stage, then an actor per consumer.

The training thread publishes and never waits: a publish is a queue put. Blocks of steps are
published unread (their values are still on the device); one reading thread turns each into a
plain :class:`~burnish.processor.events.StepsEvent` with one read of the device, in the order
published, and hands every event to each consumer's actor. Consumers run on threads of their
own, each at its own pace.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Protocol

from burnish.processor.events import EndEvent, EventConsumer, LearnerEvent

__all__ = ["Actor", "EventBus", "Unread"]

log = logging.getLogger("burnish.learner")


class Unread(Protocol):
    """A block of steps whose values are still to be read (see :mod:`burnish.processor.split`)."""

    def read(self) -> LearnerEvent:
        """The block as a plain event; raises ``ValueError`` for a failed input check."""
        ...


class Actor:
    """A thread and a queue running one consumer; an :class:`EndEvent` ends it.

    The consumer is called at most once per ``tick_seconds`` with every event since the last
    call, so however fast training goes, a consumer wakes up a bounded number of times a second
    and takes little of the interpreter from the training thread. The first exception in the
    consumer is kept in :attr:`error`, for the learner to raise on its own thread.
    """

    def __init__(self, consumer: EventConsumer, name: str, *, idle_ticks: bool = True) -> None:
        self.consumer = consumer
        self.error: BaseException | None = None
        # Whether the consumer is called at each tick without events, for what it shows as
        # time goes by (an elapsed time, a spinner); else its thread sleeps until one comes.
        self._idle_ticks = idle_ticks
        # Events, or several sent at once (one put for them all).
        self._queue: queue.SimpleQueue[LearnerEvent | list[LearnerEvent]] = queue.SimpleQueue()
        self._ending = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def send(self, event: LearnerEvent) -> None:
        self.send_all([event])

    def send_all(self, events: list[LearnerEvent]) -> None:
        """Send events at once (one put for them all); the list must not change afterwards."""
        self._queue.put(events)
        if any(isinstance(event, EndEvent) for event in events):
            self._ending.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the consumer to handle everything up to the :class:`EndEvent` sent."""
        self._thread.join(timeout)

    def _run(self) -> None:
        ended = False
        try:
            while not ended:
                started = time.monotonic()
                events = self._drain(self.consumer.tick_seconds if self._idle_ticks else None)
                ended = any(isinstance(event, EndEvent) for event in events)
                try:
                    self.consumer.consume(events)
                except Exception as error:
                    # The first error is the one raised. Later events are still consumed: a
                    # logger whose batch failed still writes the rest of the run, its end
                    # included.
                    self.error = self.error or error
                if not ended:
                    elapsed = time.monotonic() - started
                    self._ending.wait(max(0.0, self.consumer.tick_seconds - elapsed))
        finally:
            try:
                self.consumer.close()
            except Exception as error:
                self.error = self.error or error

    def _drain(self, timeout: float | None) -> list[LearnerEvent]:
        """The first events within ``timeout`` (``None``: whenever they come), then every
        event already queued."""
        events: list[LearnerEvent] = []
        try:
            item = self._queue.get(timeout=timeout)
            while True:
                if isinstance(item, list):
                    events.extend(item)
                else:
                    events.append(item)
                item = self._queue.get_nowait()
        except queue.Empty:
            return events


class _Reader:
    """The reading stage: reads each unread block in order and passes every event on.

    A block whose read fails (an input check) is not passed on, and the first such error is
    kept; the events after it still are, so a log keeps the rest of the run and its end.
    """

    # Short: a block waits here at most this long before its consumers can see it.
    tick_seconds = 0.02

    def __init__(self, actors: Sequence[Actor]) -> None:
        self.actors = actors
        self.error: BaseException | None = None

    def consume(self, events: Sequence[LearnerEvent | Unread]) -> None:
        plain: list[LearnerEvent] = []
        for event in events:
            if not hasattr(event, "read"):
                plain.append(event)
                continue
            try:
                plain.append(event.read())
            except ValueError as error:
                self.error = self.error or error
        if plain:
            for actor in self.actors:
                actor.send_all(plain)

    def close(self) -> None:
        """Nothing to release: the consumers' actors end with the :class:`EndEvent`."""


class EventBus:
    """The reading stage and the consumers' actors; re-raises their errors on this thread.

    Without consumers (the quiet processes of a distributed run), nothing is read or sent.
    """

    def __init__(self, consumers: Sequence[EventConsumer]) -> None:
        self._actors = [
            Actor(consumer, f"burnish-{type(consumer).__name__}") for consumer in consumers
        ]
        self._reader = _Reader(self._actors)
        # The reader has nothing to do without a block: it does not wake up to find none.
        self._reading = (
            Actor(self._reader, "burnish-processor", idle_ticks=False) if self._actors else None
        )
        self._ended = False

    @property
    def look_seconds(self) -> float | None:
        """How often the consumers look at new events: the shortest of their ticks; ``None``
        without consumers."""
        return min((actor.consumer.tick_seconds for actor in self._actors), default=None)

    def send(self, event: LearnerEvent | Unread) -> None:
        if self._reading is not None:
            self._reading.send(event)  # type: ignore[arg-type]

    def _errors(self) -> list[tuple[str, BaseException]]:
        errors = (
            [] if self._reader.error is None else [("the metric processor", self._reader.error)]
        )
        errors += [
            (type(actor.consumer).__name__, actor.error)
            for actor in self._actors
            if actor.error is not None
        ]
        return errors

    def failed(self) -> bool:
        return bool(self._errors())

    def raise_if_failed(self) -> None:
        for _, error in self._errors():
            raise error

    def log_failures(self) -> None:
        for who, error in self._errors():
            log.warning("%s failed: %s", who, error)

    @classmethod
    @contextlib.contextmanager
    def running(cls, consumers: Sequence[EventConsumer]) -> Iterator[EventBus]:
        """A bus whose consumers are always sent an end: ``error`` unless one came before."""
        bus = cls(consumers)
        try:
            yield bus
        finally:
            bus.end("error")

    def end(self, reason: str, timeout: float = 30.0) -> None:
        if self._ended:
            return
        self._ended = True
        self.send(EndEvent(reason, time.monotonic()))
        if self._reading is not None:
            self._reading.join(timeout)
        for actor in self._actors:
            # A persistent dashboard stays up until a key is pressed: wait for the person.
            persistent = getattr(actor.consumer, "persistent", False) is True
            actor.join(None if persistent else timeout)
