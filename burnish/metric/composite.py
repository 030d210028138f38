"""Metrics made of other metrics, and the once-per-step order in which a set of them updates.

A composite (a derived metric such as ``2 * p * r / (p + r)``, or a wrapper such as
``Running(metric, window)``) names its operands and combines their step entries into its own.
Used alone, its ``update()`` updates its operands and combines them. In a
:class:`~burnish.metric.collection.MetricCollection` (and so in a learner) every distinct
metric, by identity, is updated once per step, however many composites share it and whether
or not it is also registered on its own; each composite then combines the entries of the step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, ClassVar, Protocol, cast, runtime_checkable

from burnish.adaptor import StepAdaptations
from burnish.distributed.sync import StateSync, SyncOnCompute
from burnish.metric.base import STANDALONE, Metric, MetricMetadata, Stateful, input_type_of
from burnish.metric.block import InputBlock, RaggedBlockError
from burnish.metric.entry import BlockEntries, BlockResult, MetricEntry, NumericEntry
from burnish.metric.mixins import MetricMixin, check_state
from burnish.metric.operand import Decoded, NumericMetric, OperandReader, PendingGroup

__all__ = ["Composite", "CompositeMetric", "UpdatePlan"]


@runtime_checkable
class Composite(Protocol):
    """A metric computed from other metrics' updates."""

    def operands(self) -> Sequence[Metric[Any]]:
        """The metrics this one is made of, each distinct; updated before :meth:`combine`."""
        ...

    def combine(
        self, step: StepAdaptations, entries: Sequence[MetricEntry], metadata: MetricMetadata
    ) -> MetricEntry:
        """This step's entry, once every operand has been updated with the step (``entries``:
        theirs, in the order of :meth:`operands`). ``step`` adapts the step's output."""
        ...


class UpdatePlan:
    """How one step updates ``metrics``: every distinct metric once, by identity, operands
    before the composites that combine them.

    Several steps can also be updated at once (:meth:`update_block`): metrics that take no
    input are updated at their step (:meth:`update_moment`), the others when the block is
    updated, with the whole block where they can (:class:`~burnish.metric.block.BlockMetric`)
    and step by step otherwise. Composites and their operands always go step by step, as a
    composite reads its operands' state right after their update.
    """

    def __init__(self, metrics: Iterable[Metric[Any]]) -> None:
        self._index: dict[int, int] = {}
        # (metric, its input type, None) for a metric updated directly; (metric, None, the
        # positions of its operands) for a composite.
        self._steps: list[tuple[Any, type[Any] | None, tuple[int, ...] | None]] = []
        self._roots = [self._add(metric) for metric in metrics]
        stepwise = self._composed()
        self._moment = [
            index
            for index, (_, kind, operands) in enumerate(self._steps)
            if operands is None and kind is None and index not in stepwise
        ]
        self._moment_updates = [self._steps[index][0].update for index in self._moment]
        self._blocked = [
            index
            for index, (metric, kind, operands) in enumerate(self._steps)
            if operands is None
            and kind is not None
            and index not in stepwise
            and callable(getattr(metric, "update_block", None))
        ]

    def _add(self, metric: Metric[Any]) -> int:
        known = self._index.get(id(metric))
        if known is not None:
            return known
        if isinstance(metric, Composite):
            operands = tuple(self._add(operand) for operand in metric.operands())
            step: tuple[Any, type[Any] | None, tuple[int, ...] | None] = (metric, None, operands)
        else:
            step = (metric, input_type_of(metric), None)
        self._index[id(metric)] = len(self._steps)
        self._steps.append(step)
        return len(self._steps) - 1

    def _composed(self) -> set[int]:
        """The positions of composites and of everything they are made of."""
        found: set[int] = set()
        pending = [index for index, step in enumerate(self._steps) if step[2] is not None]
        while pending:
            index = pending.pop()
            if index not in found:
                found.add(index)
                pending.extend(self._steps[index][2] or ())
        return found

    def leaves(self) -> list[tuple[Metric[Any], type[Any] | None]]:
        """The metrics updated directly (not composites), with their input types."""
        return [(metric, kind) for metric, kind, operands in self._steps if operands is None]

    def update(self, item: object, metadata: MetricMetadata) -> list[MetricEntry]:
        """Update with one step's output (or an input every metric takes); the entries of
        ``metrics``, in their order."""
        columns = self.update_columns([item], [metadata], [self.update_moment(metadata)])
        # One step is never updated as a block: every column is a list of its entry.
        return [cast("Sequence[MetricEntry]", column)[0] for column in columns]

    def update_moment(self, metadata: MetricMetadata) -> list[MetricEntry]:
        """Update the metrics that take no input (they describe the moment of the step); their
        entries, for :meth:`update_columns`."""
        return [update(None, metadata) for update in self._moment_updates]

    @property
    def has_moment(self) -> bool:
        """Whether some metric takes no input (then :meth:`update_moment` is due every step)."""
        return bool(self._moment)

    @property
    def reads_outputs(self) -> bool:
        """Whether some metric reads the steps' outputs: one that takes an input, or a
        composite (its ``combine`` is handed the step's output)."""
        return any(kind is not None or operands is not None for _, kind, operands in self._steps)

    def update_columns(
        self,
        items: Sequence[object],
        metadata: Sequence[MetricMetadata],
        moments: Sequence[Sequence[MetricEntry]],
    ) -> list[BlockResult]:
        """Update with several consecutive steps' outputs, given each step's
        :meth:`update_moment` entries; the steps' entries of each of ``metrics``, in their
        order (by column for a metric updated with the whole block)."""
        columns: list[BlockResult | None] = [None] * len(self._steps)
        for position, index in enumerate(self._moment):
            columns[index] = [moment[position] for moment in moments]
        if len(items) > 1:
            self._update_blocked(items, metadata, columns)
        built: dict[int, list[MetricEntry]] = {
            index: [] for index, column in enumerate(columns) if column is None
        }
        if built:
            steps = [StepAdaptations(item) for item in items]
            for position, (step, step_metadata) in enumerate(zip(steps, metadata, strict=True)):
                for index, entries in built.items():
                    metric, kind, operands = self._steps[index]
                    if operands is None:
                        item = None if kind is None else step.get(kind)
                        entries.append(metric.update(item, step_metadata))
                    else:
                        # Operands are updated step by step, before the composites they make.
                        operand_entries = [built[operand][position] for operand in operands]
                        entries.append(metric.combine(step, operand_entries, step_metadata))
            for index, entries in built.items():
                columns[index] = entries
        return [cast("BlockResult", columns[index]) for index in self._roots]

    def _update_blocked(
        self,
        items: Sequence[object],
        metadata: Sequence[MetricMetadata],
        columns: list[BlockResult | None],
    ) -> None:
        """Update the metrics that can with the whole block; the others are left to
        :meth:`update_columns`'s steps (also those whose steps cannot be joined)."""
        derived: dict[Hashable, Any] = {}
        blocks: dict[type[Any], InputBlock[Any]] = {}
        for index in self._blocked:
            metric, kind, _ = self._steps[index]
            assert kind is not None
            block = blocks.get(kind)
            if block is None:
                block = blocks[kind] = InputBlock(items, kind, derived=derived)
            try:
                result = metric.update_block(block, metadata)
            except RaggedBlockError:
                continue
            if isinstance(result, BlockEntries):
                got: object = result.steps
            else:
                got = len(result) if isinstance(result, Sequence) else type(result).__name__
            if got != len(items):
                raise TypeError(
                    f"metric {metric.name!r}: update_block must return one entry per step "
                    f"({len(items)}) or BlockEntries of as many steps, returned {got}"
                )
            columns[index] = result


class CompositeMetric(SyncOnCompute, MetricMixin, ABC):
    """What numeric composites share: a reader per operand (see
    :class:`~burnish.metric.operand.OperandReader`), ``update()`` alone, ``clear()`` and state.

    Its input is its operands' when they share one, else the step's output (``object``).
    Subclasses implement :meth:`combine` and the numeric methods.

    In a distributed run it syncs through its operands: a synced composite reads synced
    operands, and an operand shared by several composites, or registered beside them, is
    synced once with the rest of a collection.
    """

    state_reductions: ClassVar[dict[str, StateSync]] = {"_readers": "nested"}
    name: str

    def __init__(self, operands: Sequence[NumericMetric]) -> None:
        self._readers = [OperandReader(operand) for operand in operands]
        kinds = {input_type_of(operand) for operand in operands}
        self.input_type: type[Any] | None = kinds.pop() if len(kinds) == 1 else object
        self._updates = 0
        self._plan: UpdatePlan | None = None

    def operands(self) -> Sequence[Metric[Any]]:
        return [reader.metric for reader in self._readers]

    def update(self, item: object, metadata: MetricMetadata = STANDALONE) -> MetricEntry:
        """Update every operand once with ``item`` (a step output, or the input they share)."""
        if self._plan is None:
            self._plan = UpdatePlan([self])
        (entry,) = self._plan.update(item, metadata)
        return entry

    @abstractmethod
    def combine(
        self, step: StepAdaptations, entries: Sequence[MetricEntry], metadata: MetricMetadata
    ) -> MetricEntry: ...

    @abstractmethod
    def compute(self) -> MetricEntry: ...

    @abstractmethod
    def value(self) -> float: ...

    @abstractmethod
    def running_value(self) -> NumericEntry: ...

    def _now(self) -> list[Decoded]:
        """Every operand's values now, read in one transfer."""
        return PendingGroup([reader.now() for reader in self._readers]).read()

    def clear(self) -> None:
        for reader in self._readers:
            reader.metric.clear()
            reader.clear()
        self._updates = 0

    def state_dict(self) -> dict[str, Any]:
        """The operands' states (``None`` for an operand without one)."""
        operands = [
            reader.metric.state_dict() if isinstance(reader.metric, Stateful) else None
            for reader in self._readers
        ]
        return {"operands": operands, "updates": self._updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state)
        for reader, operand in zip(self._readers, state["operands"], strict=True):
            if operand is not None and isinstance(reader.metric, Stateful):
                reader.metric.load_state_dict(operand)
            reader.restored()
        self._updates = int(state["updates"])
