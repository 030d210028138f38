"""What a metric's update and compute return: :class:`MetricEntry` (a name, a display text and a
log text), its :class:`NumericEntry` when numeric, how values are formatted, and the reading of
many entries' device values in one transfer."""

from __future__ import annotations

import math
import threading
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple, Protocol, cast, runtime_checkable

import torch

from burnish.metric.host import to_host

__all__ = [
    "DeferredChecks",
    "DeferredValue",
    "EntryKind",
    "FormatOptions",
    "GroupRender",
    "LogText",
    "MetricEntry",
    "NumericEntry",
    "StepEntries",
    "StepNumbers",
    "StepsRender",
    "Text",
    "format_value",
    "resolve_entries",
    "resolve_step_numbers",
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


DeferredValue = torch.Tensor | float


Text = str | Callable[[], str]
"""A text, or a function that builds it on first read (most entries are never displayed)."""


LogText = Text | NumericEntry
"""A log text, or the numeric entry it serializes (then serialized only if a reader asks for
the text: loggers and plots read the entry itself)."""


Render = Callable[[Sequence[list[float]]], tuple[Text, LogText]]


@runtime_checkable
class GroupRender(Protocol):
    """Renders many entries of one metric at once, from each entry's host values.

    Entries that share a group renderer are rendered in one call per read, so work such as
    reducing per-class counts is done for the whole batch of entries at once.
    """

    def render_many(self, hosts: Sequence[Sequence[list[float]]]) -> list[tuple[Text, LogText]]: ...


@runtime_checkable
class StepsRender(Protocol):
    """Renders the entries of several steps of one metric that share their values (a block of
    steps, see :mod:`burnish.metric.block`): the values are read once for them all, and each
    entry is rendered by its step."""

    def render_steps(
        self, host: Sequence[list[float]], steps: Sequence[int]
    ) -> list[tuple[Text, LogText]]: ...

    @property
    def numeric_reads(self) -> int:
        """How many of the block's values, the first ones, :meth:`numeric_steps` reads."""
        ...

    def numeric_steps(self, host: Sequence[list[float]]) -> StepNumbers:
        """Every step's numeric entry, without texts (what loggers read of each step), from
        the host values of the first :attr:`numeric_reads` values."""
        ...


class StepNumbers(NamedTuple):
    """The numeric entries of a block's steps, by column: a logger writes them as they are,
    without an object per step."""

    values: list[float]
    counts: list[int]
    kind: EntryKind

    def entry(self, step: int) -> NumericEntry:
        return NumericEntry(self.values[step], self.counts[step], self.kind)


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

    The texts of a deferred entry are built from device tensors only when first read, so that
    ``update()`` never forces a host-device synchronisation. :func:`resolve_entries` reads many
    deferred entries in one transfer.
    """

    __slots__ = (
        "_checks",
        "_formatted",
        "_numeric",
        "_render",
        "_serialized",
        "_step",
        "_values",
        "name",
    )

    def __init__(self, name: str, formatted: Text, serialized: LogText) -> None:
        """An entry whose texts are known, or built on first read when given as functions."""
        self.name = name
        self._values: tuple[DeferredValue, ...] = ()
        self._render: Render | GroupRender | StepsRender | None = None
        self._checks: DeferredChecks | None = None
        self._step = 0
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
        render: Render | GroupRender,
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

    @classmethod
    def of_steps(
        cls,
        name: str,
        values: tuple[DeferredValue, ...],
        render: StepsRender,
        checks: DeferredChecks | None,
        steps: int,
    ) -> StepEntries:
        """The entries of ``steps`` consecutive steps sharing ``values`` (each step's rows of
        them), rendered together by ``render`` on first read (see :class:`StepsRender`)."""
        return StepEntries(name, values, render, checks, steps)

    @classmethod
    def _of_step(cls, column: StepEntries, step: int) -> MetricEntry:
        entry = cls(column.name, "", "")
        entry._values, entry._render, entry._checks = column._values, column._render, column._checks
        entry._step = step
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


class StepEntries(Sequence[MetricEntry]):
    """One metric's entries for a block of consecutive steps that share their values (see
    :class:`StepsRender`), each built when first read.

    Most steps' entries are never read one by one: loggers read the numbers of every step of a
    block at once (:meth:`number`, :func:`resolve_step_numbers`), and renderers show a few
    steps. Two threads reading the same step may each build its entry; both are the same.
    """

    __slots__ = ("_checks", "_entries", "_numbers", "_render", "_values", "name")

    def __init__(
        self,
        name: str,
        values: tuple[DeferredValue, ...],
        render: StepsRender,
        checks: DeferredChecks | None,
        steps: int,
    ) -> None:
        self.name = name
        self._values = values
        self._render = render
        self._checks = checks
        self._entries: list[MetricEntry | None] = [None] * steps
        self._numbers: StepNumbers | None = None

    def __len__(self) -> int:
        return len(self._entries)

    @typing.overload
    def __getitem__(self, index: int) -> MetricEntry: ...
    @typing.overload
    def __getitem__(self, index: slice) -> list[MetricEntry]: ...
    def __getitem__(self, index: int | slice) -> MetricEntry | list[MetricEntry]:
        if isinstance(index, slice):
            return [self[step] for step in range(*index.indices(len(self)))]
        entry = self._entries[index]
        if entry is None:
            step = index % len(self._entries)
            entry = MetricEntry._of_step(self, step)
            if self._numbers is not None:
                entry._numeric = self._numbers.entry(step)
            self._entries[step] = entry
        return entry

    def numbers(self) -> StepNumbers:
        """Every step's numeric entry, by column, read at once (see
        :func:`resolve_step_numbers`)."""
        if self._numbers is None:
            resolve_step_numbers((self,))
        return cast("StepNumbers", self._numbers)

    def number(self, step: int) -> NumericEntry:
        """Step ``step``'s numeric entry, read with every other step's (without building the
        step's entry)."""
        return self.numbers().entry(step)


_resolving = threading.RLock()


class _Transfer:
    """Tensors to read in one transfer, each distinct tensor once."""

    def __init__(self) -> None:
        self.tensors: list[torch.Tensor] = []
        self._index: dict[int, int] = {}

    # Numbers are told from tensors by isinstance(v, (float, int)): an isinstance check against
    # torch.Tensor goes through its metaclass and costs ten times more, on every value read.

    def add(self, values: Sequence[DeferredValue]) -> None:
        for value in values:
            if not isinstance(value, float | int) and id(value) not in self._index:
                self._index[id(value)] = len(self.tensors)
                self.tensors.append(value)

    def host(
        self, values: Sequence[DeferredValue], read: Sequence[list[float]]
    ) -> list[list[float]]:
        return [
            [float(v)] if isinstance(v, float | int) else read[self._index[id(v)]] for v in values
        ]


def _read_checked(
    values: Iterable[Sequence[DeferredValue]], checks: Iterable[DeferredChecks]
) -> tuple[_Transfer, list[list[float]]]:
    """Read ``values`` and the checks' pending values in one transfer, and verify the checks
    (each raises for a broken one) before anything is rendered from the values."""
    transfer = _Transfer()
    for group in values:
        transfer.add(group)
    check_values = [(check, check.pending()) for check in checks]
    for _, pending in check_values:
        transfer.add(pending)
    read = to_host(transfer.tensors)
    for check, pending in check_values:
        check.verify(transfer.host(pending, read))
    return transfer, read


def resolve_step_numbers(columns: Iterable[StepEntries]) -> None:
    """Read the numeric entries of every step of ``columns``, all in one transfer (see
    :meth:`StepEntries.number`); their checks are verified first, and raise as
    :func:`resolve_entries` does."""
    with _resolving:
        pending = {id(column): column for column in columns if column._numbers is None}
        if not pending:
            return
        checks = {id(c._checks): c._checks for c in pending.values() if c._checks is not None}
        # Only the values the numbers need: the running sums are read for texts alone.
        reads = {key: c._values[: c._render.numeric_reads] for key, c in pending.items()}
        transfer, read = _read_checked(reads.values(), checks.values())
        for key, column in pending.items():
            numbers = column._render.numeric_steps(transfer.host(reads[key], read))
            for entry in column._entries:
                if entry is not None and entry._numeric is None:
                    entry._numeric = numbers.entry(entry._step)
            column._numbers = numbers


def resolve_entries(entries: Iterable[MetricEntry], *, texts: bool = True) -> None:
    """Build the texts of every deferred entry, reading all their tensors in one transfer.

    With ``texts=False``, entries of a block of steps get their numeric value only (what
    loggers read of every step), and their texts are built on first read; others are built
    in full. Each distinct set of checks is verified once, before any entry is rendered; a
    failed check raises and leaves the entries deferred, so the error is raised again at the
    next read.
    """
    # The renderer and the loggers resolve from their own threads, often the same entries.
    with _resolving:
        # One pass sorts the entries: those of a block of steps share their values and their
        # render (read and rendered once for them all; a block's values may be empty, as
        # another's, and a render may serve several blocks), those of a group render share
        # their render.
        # hasattr, not isinstance: a protocol check costs tens of microseconds per entry.
        blocks: dict[tuple[int, int], dict[int, MetricEntry]] = {}
        groups: dict[int, dict[int, MetricEntry]] = {}
        singles: dict[int, MetricEntry] = {}
        checks: dict[int, DeferredChecks] = {}
        for entry in entries:
            render = entry._render
            if render is None:
                continue
            if hasattr(render, "render_steps"):
                if not texts and entry._numeric is not None:
                    continue  # its number was read before
                blocks.setdefault((id(render), id(entry._values)), {})[id(entry)] = entry
            elif hasattr(render, "render_many"):
                groups.setdefault(id(render), {})[id(entry)] = entry
            else:
                singles[id(entry)] = entry
            if entry._checks is not None:
                checks[id(entry._checks)] = entry._checks
        if not (blocks or groups or singles):
            return
        transfer, read = _read_checked(
            [
                *(next(iter(block.values()))._values for block in blocks.values()),
                *(entry._values for group in groups.values() for entry in group.values()),
                *(entry._values for entry in singles.values()),
            ],
            checks.values(),
        )
        for entry in singles.values():
            entry._fill(cast(Render, entry._render)(transfer.host(entry._values, read)))
        for group in groups.values():
            members = list(group.values())
            group_render = cast(GroupRender, members[0]._render)
            hosts = [transfer.host(entry._values, read) for entry in members]
            for entry, entry_texts in zip(members, group_render.render_many(hosts), strict=True):
                entry._fill(entry_texts)
        for block in blocks.values():
            members = list(block.values())
            first = members[0]
            host = transfer.host(first._values, read)
            steps_render = cast(StepsRender, first._render)
            if texts:
                steps = [entry._step for entry in members]
                rendered = steps_render.render_steps(host, steps)
                for entry, step_texts in zip(members, rendered, strict=True):
                    entry._fill(step_texts)
            else:
                numbers = steps_render.numeric_steps(host)
                for entry in members:
                    entry._numeric = numbers.entry(entry._step)
