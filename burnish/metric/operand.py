"""How metrics built on other metrics read their operands' values: per class, deferred.

A composite metric (a derived metric, a wrapper) shows for each step values computed from its
operands' values at that step, and reads nothing in ``update()``. An operand with totals
(:mod:`burnish.metric.totals`) is read through them: its batch values are those of the
difference of its totals before and after the batch, its epoch values those of its totals, all
computed on the host when the composite's entry is read, in that read's one transfer. Any other
operand (an exact AUROC, a function metric, a metric of your own) gives the value its step entry
logs, and when read directly its ``epoch_values()`` where it has them, else its running value.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from burnish.distributed.sync import StateSync
from burnish.metric.base import Metric, Numeric
from burnish.metric.entry import (
    DeferredChecks,
    DeferredValue,
    FormatOptions,
    MetricEntry,
    NumericEntry,
    Text,
)
from burnish.metric.totals import Totals, difference, totals_of
from burnish.metric.values import format_values, nan_mean, read_values

__all__ = [
    "Decoded",
    "NumericMetric",
    "OperandReader",
    "Pending",
    "PendingGroup",
    "Span",
    "batches",
    "epoch_entry",
    "epochs",
    "step_texts",
]


@runtime_checkable
class NumericMetric(Metric[Any], Numeric, Protocol):
    """A metric that is numeric: what composites are built on."""


Decoded = tuple[list[float], list[float] | None]
"""An operand's batch values and epoch values (``None`` where a step does not tell them)."""


def batches(decoded: Sequence[Decoded]) -> list[list[float]]:
    """Each operand's batch values."""
    return [batch for batch, _ in decoded]


def epochs(decoded: Sequence[Decoded]) -> list[list[float]] | None:
    """Each operand's epoch values; ``None`` when any operand's are unknown."""
    found = [epoch for _, epoch in decoded if epoch is not None]
    return found if len(found) == len(decoded) else None


@dataclass(frozen=True, slots=True)
class Span:
    """The totals of the updates after ``start`` up to ``end`` (``start`` ``None``: all)."""

    end: Totals
    start: Totals | None = None

    @property
    def values(self) -> tuple[DeferredValue, ...]:
        return self.end.values if self.start is None else (*self.end.values, *self.start.values)

    def evaluate(self, host: Sequence[list[float]]) -> list[float]:
        """The values over the span from the host values of :attr:`values`."""
        size = len(self.end.values)
        start = None if self.start is None else host[size:]
        return self.end.evaluate(difference(host[:size], start))


@dataclass(frozen=True, slots=True)
class Pending:
    """Values to read later (in one transfer with others) and how they decode to an operand's
    batch and epoch values; ``checks`` are verified before they are decoded."""

    values: tuple[DeferredValue, ...]
    decode: Callable[[Sequence[list[float]]], Decoded]
    checks: tuple[DeferredChecks, ...] = ()

    @staticmethod
    def of_spans(batch: Span | None, epoch: Span | None) -> Pending:
        """The batch values over ``batch`` (NaN without) and the epoch values over ``epoch``."""
        batch_size = 0 if batch is None else len(batch.values)

        def decode(host: Sequence[list[float]]) -> Decoded:
            batch_values = [math.nan] if batch is None else batch.evaluate(host[:batch_size])
            epoch_values = None if epoch is None else epoch.evaluate(host[batch_size:])
            return batch_values, epoch_values

        spans = [span for span in (batch, epoch) if span is not None]
        return Pending(
            tuple(value for span in spans for value in span.values),
            decode,
            tuple(check for span in spans for check in span.end.checks),
        )

    @staticmethod
    def known(decoded: Decoded) -> Pending:
        """Values already on the host."""
        return Pending((), lambda host: decoded)


class PendingGroup:
    """Several pending values, read in one transfer together with their checks' values as they
    stand when the group is made; the checks are verified before anything is decoded."""

    def __init__(self, pendings: Sequence[Pending]) -> None:
        self._pendings = tuple(pendings)
        distinct = {id(check): check for p in pendings for check in p.checks}.values()
        self._checks = [(check, tuple(check.pending())) for check in distinct]
        self.values: list[DeferredValue] = [v for p in self._pendings for v in p.values]
        self._checked_from = len(self.values)
        self.values += [v for _, values in self._checks for v in values]

    def decode(self, host: Sequence[list[float]]) -> list[Decoded]:
        """Verify the checks, then decode each pending value from the host values of
        :attr:`values`; raises ``ValueError`` for a failed check."""
        offset = self._checked_from
        for check, values in self._checks:
            check.verify(host[offset : offset + len(values)])
            offset += len(values)
        decoded = []
        offset = 0
        for pending in self._pendings:
            decoded.append(pending.decode(host[offset : offset + len(pending.values)]))
            offset += len(pending.values)
        return decoded

    def read(self) -> list[Decoded]:
        """Read and decode now (one transfer)."""
        return self.decode(read_values(self.values))

    def entry(
        self, name: str, render: Callable[[PendingGroup, Sequence[list[float]]], tuple[Text, Text]]
    ) -> MetricEntry:
        """A deferred entry of the group's values, rendered by ``render(group, host)``."""
        return MetricEntry.deferred(name, self.values, functools.partial(render, self))


def _logged_value(entry: MetricEntry) -> float:
    return entry.numeric.value


class OperandReader:
    """How a composite reads one numeric operand: per class, for the latest update the composite
    saw (:meth:`step`, deferred) and for now (:meth:`now`). Keeps the operand's totals at the
    composite's last two updates, so that the batch is the updates in between."""

    # A synced composite's readers read the synced operand.
    state_reductions: ClassVar[dict[str, StateSync]] = {"metric": "nested"}

    def __init__(self, metric: NumericMetric) -> None:
        self.metric = metric
        self.additive = totals_of(metric) is not None
        self._before: Totals | None = None
        self._after: Totals | None = None

    def _totals(self) -> Totals:
        totals = totals_of(self.metric)
        assert totals is not None, "called for additive operands only"
        return totals

    def step(self, entry: MetricEntry) -> Pending:
        """The operand's values after the update that gave ``entry`` (no device read)."""
        if not self.additive:
            return Pending((), lambda host: ([_logged_value(entry)], None))
        after = self._totals()
        self._before, self._after = self._after, after
        return Pending.of_spans(Span(after, self._before), Span(after))

    def now(self) -> Pending:
        """The operand's values now: the latest batch seen and the epoch so far."""
        metric = self.metric
        if not self.additive:
            epoch_values = getattr(metric, "epoch_values", None)
            epoch = epoch_values() if callable(epoch_values) else [metric.running_value().value]
            return Pending.known(([metric.value()], list(epoch)))
        batch = None if self._after is None else Span(self._after, self._before)
        return Pending.of_spans(batch, Span(self._totals()))

    def clear(self) -> None:
        self._before = self._after = None

    def restored(self) -> None:
        """The operand's state was loaded: no batch is known until its next update, which
        starts from its totals now."""
        self._before = self._after = self._totals() if self.additive else None


def step_texts(
    options: FormatOptions,
    batch: list[float],
    running: list[float] | None,
    *,
    label: str = "epoch",
    labels: Sequence[str] | None = None,
    logged: float | None = None,
) -> tuple[Text, Text]:
    """A step entry's texts: ``<label> <running> - batch <batch>`` (per class: the running
    values listed), or ``batch <batch>`` when the running values are unknown. The log text is
    ``logged``, by default the batch's value (the mean of per-class values)."""

    def formatted() -> str:
        if running is None:
            return f"batch {format_values(options, batch, labels)}"
        if len(running) == 1 and len(batch) == 1 and labels is None:
            return f"{label} {options.format(running[0])} - batch {options.format(batch[0])}"
        return f"{label} {format_values(options, running, labels)}"

    value = nan_mean(batch) if logged is None else logged
    return formatted, NumericEntry(value).serialize()


def epoch_entry(
    name: str,
    options: FormatOptions,
    values: list[float],
    count: int,
    labels: Sequence[str] | None = None,
) -> MetricEntry:
    """An epoch entry of per-class (or single) values: a ``final`` entry of their mean."""
    entry = NumericEntry(nan_mean(values), count, "final")
    return MetricEntry(name, format_values(options, values, labels), entry.serialize())
