"""Several steps' inputs updated at once: how a learner keeps metrics cheap per step.

A metric costs a few dozen microseconds of Python and a few small device operations per
update, whatever the batch size: on a small model that is as much as the step itself. A
learner therefore keeps the last steps' outputs (a bounded number and bytes) and updates each
metric that can (:class:`BlockMetric`) once per block: the steps' tensors are concatenated
once, shared by every metric, and each step's batch and running values are computed for all
the steps together (:class:`Segments`). The entries are the same as step-by-step updates give.

Metrics that cannot are updated step by step when the block is flushed. Metrics that take no
input (CPU use, the learning rate, the iteration speed) describe the moment: the learner
updates them at their step.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

import torch

from burnish.adaptor import FieldReaders, MetricInput, adapt_all, field_readers
from burnish.metric.base import MetricMetadata
from burnish.metric.entry import MetricEntry

__all__ = ["BlockMetric", "InputBlock", "RaggedBlockError", "Segments", "running"]

InputT = TypeVar("InputT")


class RaggedBlockError(ValueError):
    """The steps' tensors cannot be joined (their shapes differ beyond the batch dimension,
    or their batch sizes differ between fields). Updating step by step then says which step
    is wrong and how."""


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

    @functools.cached_property
    def steps(self) -> tuple[InputT, ...]:
        """Each step's input, made on first use."""
        return adapt_all(self.outputs, self.kind)

    @functools.cached_property
    def _readers(self) -> FieldReaders | None:
        types = {type(output) for output in self.outputs}
        return field_readers(types.pop(), self.kind) if len(types) == 1 else None

    def column(self, field: str) -> list[Any]:
        """The steps' ``field`` values, in order."""
        return self._column(field)[0]

    def cat(self, field: str) -> torch.Tensor:
        """The steps' ``field`` tensors, concatenated along the batch dimension and detached.

        Raises :class:`RaggedBlockError` when their shapes differ beyond the batch dimension
        or a step's tensor has no batch dimension. Call it before changing any state.
        """
        tensors, ids = self._column(field)
        # Keyed by the tensors: blocks of other input types holding them share the result.
        return self.memo(("cat", ids), functools.partial(_join, tensors))

    def stack(self, field: str) -> torch.Tensor:
        """The steps' 0-d ``field`` tensors (a mean loss each) as one ``(steps,)`` tensor,
        detached; :class:`RaggedBlockError` when a step's is not 0-d."""
        tensors, ids = self._column(field)
        if any(tensor.ndim != 0 for tensor in tensors):
            raise RaggedBlockError(f"not every step's {field} is a scalar")
        return self.memo(("stack", ids), functools.partial(_stack, tensors))

    def segments(self, *fields: str) -> Segments:
        """Where each step's items lie in :meth:`cat`'s result, the same for every field.

        Raises :class:`RaggedBlockError` when the fields' batch sizes differ in a step.
        """
        return self.memo(("segments", id(self), fields), lambda: self._segments(fields))

    def _segments(self, fields: tuple[str, ...]) -> Segments:
        columns = [[tensor.shape[0] for tensor in self._column(field)[0]] for field in fields]
        sizes = tuple(columns[0])
        if any(tuple(column) != sizes for column in columns[1:]):
            raise RaggedBlockError(f"batch sizes differ between {', '.join(fields)}")
        device = self._column(fields[0])[0][0].device
        return self.memo(("segments", sizes, device), lambda: Segments(sizes, device))

    def _column(self, field: str) -> tuple[list[Any], tuple[int, ...]]:
        """The steps' ``field`` values and their ids, read once per block and field."""

        def read() -> tuple[list[Any], tuple[int, ...]]:
            reader = None if self._readers is None else self._readers.get(field)
            if reader is None:
                values = [getattr(step, field) for step in self.steps]
            else:
                values = list(map(reader, self.outputs))
            return values, tuple(map(id, values))

        return self.memo(("column", id(self), field), read)


def _join(tensors: list[torch.Tensor]) -> torch.Tensor:
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


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return torch.stack(tensors)


class Segments:
    """Consecutive runs of ``sizes`` items, one per step, in a concatenated block."""

    def __init__(self, sizes: tuple[int, ...], device: torch.device) -> None:
        self.sizes = sizes
        self.steps = len(sizes)
        self.items = sum(sizes)
        self.device = device
        # Offsets of each step's first item, and one past the last.
        self.bounds = [0]
        for size in sizes:
            self.bounds.append(self.bounds[-1] + size)

    @functools.cached_property
    def step_of_item(self) -> torch.Tensor:
        """The step index of every item ``(N,)`` (int64 on the block's device)."""
        if len(set(self.sizes)) == 1:
            size = self.sizes[0]
            return torch.arange(self.steps, device=self.device).repeat_interleave(size)
        repeats = torch.tensor(self.sizes)
        ids = torch.repeat_interleave(torch.arange(self.steps), repeats, output_size=self.items)
        # Built on the host, where the sizes are: the copy to the device waits for nothing.
        return ids.to(self.device, non_blocking=True)

    def sums(self, values: torch.Tensor) -> torch.Tensor:
        """Per-step sums ``(steps, ...)`` of per-item ``values`` ``(N, ...)`` (bool and integer
        values sum as int64)."""
        if not values.is_floating_point():
            values = values.long()
        if len(set(self.sizes)) == 1 and self.items:
            return values.reshape(self.steps, self.sizes[0], *values.shape[1:]).sum(1)
        result = values.new_zeros((self.steps, *values.shape[1:]))
        return result.index_add_(0, self.step_of_item, values)

    def slice(self, step: int) -> slice:
        """The items of ``step`` in the concatenated block."""
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
    return the entries those updates would have returned, one per step. It raises
    :class:`RaggedBlockError` (before changing any state) for steps it cannot join; they are
    then updated one by one.
    """

    def update_block(
        self, block: InputBlock[InputT], metadata: Sequence[MetricMetadata], /
    ) -> Sequence[MetricEntry]: ...
