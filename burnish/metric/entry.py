"""What a metric's update and compute return: :class:`MetricEntry` (a name, a display text and a
log text), its :class:`NumericEntry` when numeric, how values are formatted, and the reading of
many entries' device values in one transfer."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, TypeAlias, cast

if TYPE_CHECKING:
    # Entries are plain values: a log reader handles them without loading torch.
    import torch

__all__ = [
    "BlockEntries",
    "BlockReader",
    "BlockResult",
    "DeferredChecks",
    "DeferredValue",
    "EntryKind",
    "FormatOptions",
    "LogText",
    "MetricEntry",
    "NumericEntry",
    "StepNumbers",
    "Text",
    "format_value",
    "read_with_entries",
    "resolve_entries",
]


@dataclass(frozen=True, slots=True)
class FormatOptions:
    """How a numeric value is shown: ``FormatOptions("Accuracy").unit("%").precision(2)``."""

    name: str
    unit_: str | None = None
    precision_: int | None = None

    def unit(self, unit: str) -> FormatOptions:
        return replace(self, unit_=unit)

    def precision(self, precision: int) -> FormatOptions:
        return replace(self, precision_=precision)

    def format(self, value: float) -> str:
        text = format_value(value, self.precision_)
        return text if self.unit_ is None or text == "n/a" else f"{text} {self.unit_}"


def format_value(value: float, precision: int | None) -> str:
    """Fixed-point, or scientific when fixed-point would hide the value (Burn's rule)."""
    if math.isnan(value):
        return "n/a"
    if precision is None:
        return str(value)
    if value != 0.0 and abs(value) < 0.1 ** (precision - 1) and math.isfinite(value):
        return f"{value:.{precision}e}"
    return f"{value:.{precision}f}"


EntryKind = Literal["value", "aggregated", "final"]


@dataclass(frozen=True, slots=True)
class NumericEntry:
    """A numeric value as loggers store it.

    ``value``: one observation. ``aggregated``: the mean of ``count`` items, so that entries can
    be combined into a correctly weighted mean. ``final``: an epoch value computed from the whole
    epoch's state (e.g. an AUROC), which is not a mean of anything and must not be re-averaged.
    """

    value: float
    count: int = 1
    kind: EntryKind = "value"

    def serialize(self) -> str:
        if self.kind == "value":
            return repr(self.value)
        if self.kind == "aggregated":
            return f"{self.value!r},{self.count}"
        return f"final:{self.value!r}"

    @staticmethod
    def deserialize(text: str) -> NumericEntry:
        if text.startswith("final:"):
            return NumericEntry(float(text.removeprefix("final:")), kind="final")
        value, sep, count = text.partition(",")
        if sep:
            return NumericEntry(float(value), int(count), "aggregated")
        return NumericEntry(float(value))

    @staticmethod
    def aggregate(entries: Iterable[NumericEntry]) -> NumericEntry:
        """The count-weighted mean of entries; NaN (shown as n/a) when there are none."""
        total = 0.0
        count = 0
        for entry in entries:
            if math.isnan(entry.value) and entry.count == 0:
                continue
            total += entry.value * entry.count
            count += entry.count
        return NumericEntry(total / count if count else math.nan, count, "aggregated")


DeferredValue: TypeAlias = "torch.Tensor | float"


Text = str | Callable[[], str]
"""A text, or a function that builds it on first read (most entries are never displayed)."""


LogText = Text | NumericEntry
"""A log text, or the numeric entry it serializes (then serialized only if a reader asks for
the text: loggers and plots read the entry itself)."""


Render = Callable[[Sequence[list[float]]], tuple[Text, LogText]]


class StepNumbers(NamedTuple):
    """The numeric entries of a block's steps, by column: a logger writes them as they are,
    without an object per step."""

    values: list[float]
    counts: list[int]
    kind: EntryKind

    def entry(self, step: int) -> NumericEntry:
        return NumericEntry(self.values[step], self.counts[step], self.kind)


class BlockReader(Protocol):
    """How a block update's values read on the host (see :class:`BlockEntries`)."""

    def numbers(self, host: Sequence[list[float]]) -> StepNumbers:
        """Every step's numeric entry, from the host values of :attr:`BlockEntries.numbers_of`."""
        ...

    def last_texts(self, host: Sequence[list[float]]) -> tuple[Text, LogText]:
        """The last step's texts, from the host values of :attr:`BlockEntries.last_of`."""
        ...


@dataclass(frozen=True, slots=True)
class BlockEntries:
    """What a metric's update over a block of ``steps`` steps returns: every step's number and
    the last step's texts, from values still on the device.

    Only the metric processor reads it, with the block's other values in one transfer: the
    numbers go to loggers and plots, and the last step's texts to a display, which shows no
    other step. ``checks`` are verified before anything is read from the values.
    """

    name: str
    steps: int
    numbers_of: tuple[DeferredValue, ...]
    last_of: tuple[DeferredValue, ...]
    reader: BlockReader
    checks: DeferredChecks | None

    def last(self) -> MetricEntry:
        """The last step's entry, deferred: read with others by :func:`resolve_entries`."""
        return MetricEntry.deferred(self.name, self.last_of, self.reader.last_texts, self.checks)


BlockResult = Sequence["MetricEntry"] | BlockEntries
"""What a block update returns: an entry per step, or the steps' entries by column."""


class DeferredChecks(Protocol):
    """Input checks kept on the device and verified when the metric's values are read."""

    def pending(self) -> list[DeferredValue]:
        """The values to read, in the same transfer as the metric's own."""
        ...

    def verify(self, host: Sequence[list[float]]) -> None:
        """Raise ``ValueError`` if the host values of :meth:`pending` break a check."""
        ...

    def clear(self) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class MetricEntry:
    """A metric's result for one update or one epoch: a name, a display text and a log text.

    Entries a learner's consumers receive are plain: their texts are built. An entry that a
    metric's ``update()`` returns outside a learner is deferred: its texts are built from
    device values on first read, so that ``update()`` never waits for the device;
    :func:`resolve_entries` reads many deferred entries in one transfer.
    """

    __slots__ = ("_checks", "_formatted", "_numeric", "_render", "_serialized", "_values", "name")

    def __init__(self, name: str, formatted: Text, serialized: LogText) -> None:
        """An entry whose texts are known, or built on first read when given as functions."""
        self.name = name
        self._values: tuple[DeferredValue, ...] = ()
        self._render: Render | None = None
        self._checks: DeferredChecks | None = None
        self._set_texts(formatted, serialized)

    def _set_texts(self, formatted: Text, serialized: LogText) -> None:
        self._formatted: Text = formatted
        if isinstance(serialized, NumericEntry):
            self._numeric: NumericEntry | None = serialized
            self._serialized: Text = serialized.serialize
        else:
            self._numeric = None
            self._serialized = serialized

    @classmethod
    def deferred(
        cls,
        name: str,
        values: Sequence[DeferredValue],
        render: Render,
        checks: DeferredChecks | None = None,
    ) -> MetricEntry:
        """An entry whose texts are rendered from ``values`` (as lists of floats) on first read.

        Tensors among ``values`` must not be modified in place afterwards: the entry is a
        snapshot. ``checks`` are verified before the entry is rendered; their errors reach the
        reader.
        """
        entry = cls(name, "", "")
        entry._values = tuple(values)
        entry._render = render
        entry._checks = checks
        return entry

    @property
    def is_deferred(self) -> bool:
        return self._render is not None

    def _fill(self, texts: tuple[Text, LogText]) -> None:
        self._set_texts(*texts)
        self._values = ()
        self._render = None
        self._checks = None

    @property
    def formatted(self) -> str:
        if self._render is not None:
            resolve_entries((self,))
        if not isinstance(self._formatted, str):
            self._formatted = self._formatted()
        return self._formatted

    @property
    def serialized(self) -> str:
        if self._render is not None:
            resolve_entries((self,))
        if not isinstance(self._serialized, str):
            self._serialized = self._serialized()
        return self._serialized

    @property
    def numeric(self) -> NumericEntry:
        """The log text read as a :class:`NumericEntry` (a numeric metric's), parsed once: an
        entry repeated over many steps (a system sample) is read by every consumer each step."""
        if self._numeric is None:
            self._numeric = NumericEntry.deserialize(self.serialized)
        return self._numeric

    def __repr__(self) -> str:
        return f"MetricEntry({self.name!r}, {self.formatted!r}, {self.serialized!r})"


# The processor reads on its own thread while a user may read the same entries on theirs.
_resolving = threading.RLock()


class _Transfer:
    """Tensors to read in one transfer, each distinct tensor once."""

    def __init__(self) -> None:
        self.tensors: list[torch.Tensor] = []
        self._index: dict[int, int] = {}
        self.read: list[list[float]] = []

    # Numbers are told from tensors by isinstance(v, (float, int)): an isinstance check against
    # torch.Tensor goes through its metaclass and costs ten times more, on every value read.

    def add(self, values: Sequence[DeferredValue]) -> None:
        for value in values:
            if not isinstance(value, float | int) and id(value) not in self._index:
                self._index[id(value)] = len(self.tensors)
                self.tensors.append(value)

    def run(self) -> None:
        from burnish.metric.host import to_host  # noqa: PLC0415

        self.read = to_host(self.tensors)

    def host(self, values: Sequence[DeferredValue]) -> list[list[float]]:
        read = self.read
        return [
            [float(v)] if isinstance(v, float | int) else read[self._index[id(v)]] for v in values
        ]


def read_with_entries(
    entries: Iterable[MetricEntry],
    values: Sequence[Sequence[DeferredValue]],
    checks: Iterable[DeferredChecks] = (),
) -> list[list[list[float]]]:
    """Build the texts of every deferred entry and read each group of ``values``, all in one
    transfer; the host values of each group of ``values``, in order.

    Each distinct set of checks (the entries' and ``checks``) is verified once, before any
    entry is rendered; a failed check raises ``ValueError`` and leaves the entries deferred.
    """
    with _resolving:
        deferred = {id(entry): entry for entry in entries if entry._render is not None}
        verified = {id(check): check for check in checks}
        for entry in deferred.values():
            if entry._checks is not None:
                verified[id(entry._checks)] = entry._checks
        transfer = _Transfer()
        for group in values:
            transfer.add(group)
        for entry in deferred.values():
            transfer.add(entry._values)
        pending = [(check, check.pending()) for check in verified.values()]
        for _, check_values in pending:
            transfer.add(check_values)
        transfer.run()
        for check, check_values in pending:
            check.verify(transfer.host(check_values))
        for entry in deferred.values():
            entry._fill(cast(Render, entry._render)(transfer.host(entry._values)))
        return [transfer.host(group) for group in values]


def resolve_entries(entries: Iterable[MetricEntry]) -> None:
    """Build the texts of every deferred entry, reading all their tensors in one transfer.

    Each distinct set of checks is verified once, before any entry is rendered; a failed check
    raises and leaves the entries deferred, so the error is raised again at the next read.
    """
    read_with_entries(entries, ())
