"""Several steps' inputs updated at once: how every built-in metric that can is updated.

A metric costs a few dozen microseconds of Python and a few small device operations per
update, whatever the batch size: on a small model that is as much as the step itself. A
learner therefore keeps the last steps' outputs (a bounded number and bytes) and updates each
metric that can (:class:`BlockMetric`) once per block: the steps' tensors are concatenated
once, shared by every metric, and each step's batch and running values are computed for all
the steps together (:class:`Segments`). The entries are the same as step-by-step updates give.

Such a metric has no other update: its ``update(item)`` (:class:`BlockUpdateMixin`) is a block
of one step, which joins nothing and raises the step's own errors, so the two can never
disagree. Metrics without a block update are updated step by step when the block is flushed.
Metrics that take no input (CPU use, the learning rate, the iteration speed) describe the
moment: the learner updates them at their step.
"""

from __future__ import annotations

import functools
from abc import abstractmethod
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import torch

from burnish.adaptor import FieldReaders, MetricInput, adapt_all, field_readers
from burnish.metric.base import STANDALONE, MetricMetadata
from burnish.metric.entry import BlockEntries, BlockResult, MetricEntry
from burnish.metric.validation import expect_input

__all__ = [
    "BlockMetric",
    "BlockUpdateMixin",
    "InputBlock",
    "RaggedBlockError",
    "Segments",
    "running",
]

InputT = TypeVar("InputT")
T = TypeVar("T")
StepInputT = TypeVar("StepInputT", bound=MetricInput)


class RaggedBlockError(ValueError):
    """The steps' tensors cannot be joined (their shapes differ beyond the batch dimension,
    or their batch sizes differ between fields), or the joined tensors fail a check that
    would describe them rather than the step at fault. Updating step by step then says which
    step is wrong and how."""


@dataclass(frozen=True, eq=False)
class InputBlock(MetricInput, Generic[InputT]):
    """The inputs of several consecutive steps' outputs, for one input type ``kind``.

    Its memo is shared by the blocks of every input type adapted from the same steps, as a
    step's inputs share theirs, so a concatenation or an argmax is done once per block.
    Metrics read it by field (:meth:`column`, :meth:`cat`, :meth:`stack`): when the outputs'
    type says how each field is read (:func:`~burnish.adaptor.field_readers`), no input is
    made per step.
    """

    outputs: Sequence[object]
    kind: type[InputT]

    @staticmethod
    def of_step(item: StepInputT) -> InputBlock[StepInputT]:
        """A block of one step's input ``item``, sharing its memo: what the step's other
        inputs derive (an argmax, the checks' value ranges) is not derived again."""
        # Its fields set directly: the dataclass's frozen __init__ costs several times more, on
        # every update of every metric.
        block: _StepBlock[StepInputT] = object.__new__(_StepBlock)
        fields = block.__dict__
        fields["outputs"], fields["kind"], fields["derived"] = (item,), type(item), item.derived
        fields["sources"] = item.sources
        return block

    @functools.cached_property
    def steps(self) -> tuple[InputT, ...]:
        """Each step's input, made on first use."""
        return adapt_all(self.outputs, self.kind)

    @functools.cached_property
    def _readers(self) -> FieldReaders | None:
        types = {type(output) for output in self.outputs}
        return field_readers(types.pop(), self.kind) if len(types) == 1 else None

    def source(self, field: str) -> Hashable:
        """Where the steps' ``field`` comes from: the reader the outputs' type declares for it
        (shared by the inputs that read the same field of the outputs), else the field of this
        input type."""
        reader = None if self._readers is None else self._readers.get(field)
        return (self.kind, field) if reader is None else reader

    def derive(self, what: Hashable, fields: Sequence[str], compute: Callable[[], T]) -> T:
        """``compute()``, once per block for ``what`` of these ``fields``: the metrics asking
        for the same thing (an argmax, a rule's counts) of the same fields of the outputs
        share it, whatever their input types."""
        return self.memo((what, *map(self.source, fields)), compute)

    def column(self, field: str) -> list[Any]:
        """The steps' ``field`` values, in order, read once per block and source."""
        return self.memo(("column", self.source(field)), functools.partial(self._read, field))

    def _read(self, field: str) -> list[Any]:
        reader = None if self._readers is None else self._readers.get(field)
        if reader is None:
            return [getattr(step, field) for step in self.steps]
        return list(map(reader, self.outputs))

    def cat(self, field: str) -> torch.Tensor:
        """The steps' ``field`` tensors, concatenated along the batch dimension and detached.

        Raises :class:`RaggedBlockError` when their shapes differ beyond the batch dimension
        or a step's tensor has no batch dimension (a step's own tensor is returned as it is,
        for the metric's checks to judge). Call it before changing any state.
        """
        # Keyed by where the tensors come from: blocks of other input types that read the same
        # field of the outputs share the result.
        return self.memo(("cat", self.source(field)), functools.partial(_join, self.column(field)))

    def stack(self, field: str) -> torch.Tensor:
        """The steps' 0-d ``field`` tensors (a mean loss each) as one ``(steps,)`` tensor
        (one step's own, see :class:`Segments`), detached; :class:`RaggedBlockError` when a
        step's is not 0-d."""
        tensors = self.column(field)
        if any(tensor.ndim != 0 for tensor in tensors):
            raise RaggedBlockError(f"not every step's {field} is a scalar")
        return self.memo(("stack", self.source(field)), functools.partial(_stack, tensors))

    def check_failed(self, error: Exception) -> None:
        """Raise :class:`RaggedBlockError` for ``error``, raised by a check of the joined
        tensors of several steps: it describes them, not the step at fault, which updating the
        steps one by one then names. Return for a block of one step: the error is the step's
        own, for the caller to raise as it is."""
        if len(self.outputs) > 1:
            raise RaggedBlockError(str(error)) from error

    def segments(self, *fields: str) -> Segments:
        """Where each step's items lie in :meth:`cat`'s result, the same for every field.

        Raises :class:`RaggedBlockError` when the fields' batch sizes differ in a step.
        """
        key = ("segments", *map(self.source, fields))
        return self.memo(key, lambda: self._segments(fields))

    def _segments(self, fields: tuple[str, ...]) -> Segments:
        columns = [[tensor.shape[0] for tensor in self.column(field)] for field in fields]
        sizes = tuple(columns[0])
        if any(tuple(column) != sizes for column in columns[1:]):
            raise RaggedBlockError(f"batch sizes differ between {', '.join(fields)}")
        device = self.column(fields[0])[0].device
        return self.memo(("segments", sizes, device), lambda: Segments(sizes, device))


def _join(tensors: list[torch.Tensor]) -> torch.Tensor:
    if len(tensors) == 1:
        return detached(tensors[0])
    # cat promotes mixed dtypes without a word; it refuses other shapes beyond the batch
    # dimension, and scalars, itself.
    if len({t.dtype for t in tensors}) > 1:
        raise RaggedBlockError("the steps' tensors differ in dtype")
    try:
        # No graph: metrics never differentiate, and cat of tensors that require grad builds one.
        with torch.no_grad():
            return torch.cat(tensors)
    except RuntimeError as error:
        raise RaggedBlockError(f"the steps' tensors cannot be joined: {error}") from error


def detached(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` without its graph: the very tensor when it has none (detaching makes an
    alias, a device call, and work derived from the tensor is shared by the tensor itself with
    the metrics that read it step by step)."""
    return tensor.detach() if tensor.requires_grad else tensor


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    if len(tensors) == 1:
        return detached(tensors[0])  # one step's value, without the steps dimension
    with torch.no_grad():
        return torch.stack(tensors)


class _StepBlock(InputBlock[InputT]):
    """A block of one step's input (:meth:`InputBlock.of_step`): what a metric's own
    ``update(item)`` runs, so it reads the item's fields and nothing more. Its tensors are the
    item's, its segments one step, and its checks raise the step's own errors; the metric
    checks its fields' batch sizes itself."""

    def source(self, field: str) -> Hashable:
        # Where the step's input was read from its output, when it says (see MetricInput).
        sources = self.sources
        if sources is not None and field in sources:
            return sources[field]
        return (self.kind, field)

    def column(self, field: str) -> list[Any]:
        return [getattr(self.outputs[0], field)]

    def cat(self, field: str) -> torch.Tensor:
        tensor: torch.Tensor = getattr(self.outputs[0], field)
        if not tensor.requires_grad:
            return tensor
        # One detached tensor for the step's metrics of this input: their work is shared.
        return self.memo(("cat", self.source(field)), tensor.detach)

    def stack(self, field: str) -> torch.Tensor:
        tensor = self.cat(field)
        if tensor.ndim != 0:
            raise RaggedBlockError(f"the step's {field} is not a scalar")
        return tensor

    def segments(self, *fields: str) -> Segments:
        tensor: torch.Tensor = getattr(self.outputs[0], fields[0])
        return _step_segments(tensor.shape[0], tensor.device)


@functools.lru_cache(maxsize=64)
def _step_segments(size: int, device: torch.device) -> Segments:
    # Kept: every update of every metric asks for them, mostly of a few batch sizes.
    return Segments((size,), device)


class Segments:
    """Consecutive runs of ``sizes`` items, one per step, in a concatenated block.

    A block's per-step values (:meth:`sums`, :meth:`InputBlock.stack`, a metric's own) are
    ``(steps, ...)``; a block of one step gives the step's values themselves, without the steps
    dimension, and states add them as a step alone (see
    :meth:`~burnish.metric.state.NumericMetricState.update_steps`): a metric's own update()
    makes no view to add the dimension and another to remove it, each costing as much as a
    small device operation.
    """

    def __init__(self, sizes: tuple[int, ...], device: torch.device) -> None:
        self.sizes = sizes
        self.steps = len(sizes)
        self.items = sum(sizes)
        self.device = device
        self._even = len(set(sizes)) == 1
        # Offsets of each step's first item, and one past the last.
        self.bounds = [0]
        for size in sizes:
            self.bounds.append(self.bounds[-1] + size)

    @functools.cached_property
    def step_of_item(self) -> torch.Tensor:
        """The step index of every item ``(N,)`` (int64 on the block's device)."""
        if self._even:
            size = self.sizes[0]
            return torch.arange(self.steps, device=self.device).repeat_interleave(size)
        repeats = torch.tensor(self.sizes)
        ids = torch.repeat_interleave(torch.arange(self.steps), repeats, output_size=self.items)
        # Built on the host, where the sizes are: the copy to the device waits for nothing.
        return ids.to(self.device, non_blocking=True)

    def sums(self, values: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """Per-step sums ``(steps, ...)`` of per-item ``values`` ``(N, ...)`` (one step's
        ``(...)``), summed in ``dtype`` when given (bool and integer values sum as int64)."""
        if self.steps == 1:
            if values.dtype == torch.bool and dtype is None and values.ndim == 1:
                return torch.count_nonzero(values)  # half the cost of sum() for booleans
            return values.sum(0, dtype=dtype)
        if self._even and self.items:
            return values.reshape(self.steps, self.sizes[0], *values.shape[1:]).sum(1, dtype=dtype)
        if dtype is not None or not values.is_floating_point():
            values = values.to(torch.long if dtype is None else dtype)
        result = values.new_zeros((self.steps, *values.shape[1:]))
        return result.index_add_(0, self.step_of_item, values)

    def slice(self, step: int) -> slice:
        """The items of ``step`` in the concatenated block (all of them, ``slice(None)``, for
        the one step of a block of one)."""
        if self.steps == 1:
            return slice(None)
        return slice(self.bounds[step], self.bounds[step + 1])


def running(step_values: torch.Tensor, previous: torch.Tensor | None) -> torch.Tensor:
    """The running totals after each step ``(steps, ...)``: ``previous`` plus the cumulative
    sum of ``step_values`` (one or two device operations, out of place)."""
    totals = step_values.cumsum(0) if step_values.shape[0] > 1 else step_values
    return totals if previous is None else totals + previous


@runtime_checkable
class BlockMetric(Protocol[InputT]):
    """A metric that updates with several steps' inputs at once.

    ``update_block`` must leave the metric as updating it with each step in turn would, and
    return what those updates would have returned: an entry per step, or the steps' numbers
    and the last step's texts by column (:class:`~burnish.metric.entry.BlockEntries`). It
    raises
    :class:`RaggedBlockError` for steps it cannot join, before adding any of them to its
    values; they are then updated one by one, and the step at fault raises its own error.
    """

    def update_block(
        self, block: InputBlock[InputT], metadata: Sequence[MetricMetadata], /
    ) -> BlockResult: ...


class BlockUpdateMixin(Generic[StepInputT]):
    """``update(item)`` for a :class:`BlockMetric`: the step as a block of one, so that its
    block update is its only one.

    A block of one step shares the item's memo, copies nothing (its tensors are the item's)
    and its checks raise the step's own errors (:meth:`InputBlock.check_failed`), not
    :class:`RaggedBlockError`.
    """

    name: str
    input_type: type[StepInputT]

    def update(self, item: StepInputT, metadata: MetricMetadata = STANDALONE) -> MetricEntry:
        """Update with one step's input, or a step output that adapts to it; the step's entry.

        Outside a learner, ``metadata`` may be left out.
        """
        kind = self.input_type
        step = item if isinstance(item, kind) else expect_input(self.name, item, kind)
        result = self.update_block(InputBlock.of_step(step), (metadata,))
        return result.last() if isinstance(result, BlockEntries) else result[0]

    @abstractmethod
    def update_block(
        self, block: InputBlock[StepInputT], metadata: Sequence[MetricMetadata], /
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
