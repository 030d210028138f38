"""The state of the regression metrics: per-output sums over the epoch, and extremes.

A block's items are turned into terms once (:func:`~burnish.functional.regression.regression_terms`)
and summed per step once, for every regression metric reading the same fields; each step's
values and the running values are computed from those sums on the device, in float64 where the
device has it, so that any split of the epoch into blocks and steps gives the same values up to
the last bits. R² and the explained variance also keep the lowest and highest target and
residual of each output, which tell constant targets (and residuals) exactly.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any, ClassVar

import torch

from burnish.distributed.sync import StateSync
from burnish.functional.regression import (
    COUNT,
    ERROR,
    SQUARED_ERROR,
    SQUARED_TARGET,
    TARGET,
    TERMS,
    regression_terms,
)
from burnish.metric.block import InputBlock, Segments
from burnish.metric.entry import (
    BlockEntries,
    BlockResult,
    DeferredValue,
    EntryKind,
    FormatOptions,
    LogText,
    MetricEntry,
    NumericEntry,
    StepNumbers,
    Text,
    format_value,
)
from burnish.metric.host import accumulator_dtype
from burnish.metric.totals import Totals, undefined
from burnish.metric.validation import check_ndim, describe
from burnish.metric.values import read_values

__all__ = ["Evaluate", "RegressionState", "RegressionSteps", "regression_steps"]

Evaluate = Callable[
    [torch.Tensor, torch.Tensor | None, torch.Tensor | None], tuple[torch.Tensor, torch.Tensor]
]
"""Sums ``(..., 6, D)`` and extremes ``(..., 2, D)`` (or ``None``) to the per-output values
``(..., D)`` and the value ``(...)``."""

_FIELDS = ("outputs", "targets")


class RegressionSteps:
    """A block's terms, per-step sums ``(steps, 6, D)`` (a block of one step: ``(6, D)``) and,
    on first use, extremes ``(steps, 2, D)``: made once per block and fields, for every
    regression metric reading them. ``key`` names them in the block's memo."""

    def __init__(
        self, block: InputBlock[Any], outputs: torch.Tensor, targets: torch.Tensor, key: Hashable
    ) -> None:
        self.block = block
        self.key = key
        self.segments = segments = block.segments(*_FIELDS)
        self.width = 1 if outputs.ndim == 1 else outputs.shape[1]
        self.terms = regression_terms(outputs, targets, accumulator_dtype(outputs.device))
        self.sums = segments.sums(self.terms)

    @functools.cached_property
    def extremes(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The lowest and highest target and residual of each step and output."""
        return _extremes(self.terms[:, TARGET : ERROR + 1], self.segments)


def check_regression(metric: str, outputs: torch.Tensor, targets: torch.Tensor) -> None:
    """Raise now for wrong shapes or dtypes, naming the metric, what was expected and got."""
    if not outputs.is_floating_point():
        raise TypeError(
            f"{metric}: expected outputs as floating point, received {describe(outputs)}"
        )
    if targets.is_complex() or targets.dtype == torch.bool:
        raise TypeError(
            f"{metric}: expected targets as real numbers (a floating point or integer dtype), "
            f"received {describe(targets)}"
        )
    check_ndim(metric, "outputs", outputs, (1, 2), "(N,) or (N, D)")
    if targets.shape != outputs.shape:
        raise ValueError(
            f"{metric}: expected targets of the outputs' shape {tuple(outputs.shape)}, received "
            f"{describe(targets)}"
        )


def regression_steps(
    metric: str, block: InputBlock[Any], outputs_seen: int | None
) -> RegressionSteps:
    """A block's per-step sums (see :class:`RegressionSteps`), checked now (shapes, dtypes,
    the number of outputs ``outputs_seen`` of earlier steps) and computed once per block and
    fields however many regression metrics ask."""
    outputs, targets = block.cat("outputs"), block.cat("targets")
    key = ("regression", block.source("outputs"), block.source("targets"))
    try:
        steps: RegressionSteps | None = block.derived.get(key)
        if steps is None:
            check_regression(metric, outputs, targets)
            width = 1 if outputs.ndim == 1 else outputs.shape[1]
        else:
            width = steps.width  # checked for the metric that made them
        if outputs_seen is not None and width != outputs_seen:
            raise ValueError(
                f"{metric}: expected outputs with {outputs_seen} values per item as in earlier "
                f"batches, received {describe(outputs)}"
            )
    except (TypeError, ValueError) as error:
        block.check_failed(error)
        raise
    if steps is None:
        steps = block.derived[key] = RegressionSteps(block, outputs, targets, key)
    return steps


def _extremes(values: torch.Tensor, segments: Segments) -> tuple[torch.Tensor, torch.Tensor]:
    """Each step's lowest and highest ``values`` ``(steps, 2, D)`` (``inf``, ``-inf`` for a
    step without items)."""
    sizes = segments.sizes
    # On a CPU, aminmax over the first dimension of a step's items is many times slower than
    # amin and amax apart, and over the items of many steps, faster.
    if segments.steps == 1 and values.shape[0]:
        return values.amin(0), values.amax(0)
    if len(set(sizes)) == 1 and sizes[0]:
        low, high = torch.aminmax(
            values.reshape(segments.steps, sizes[0], *values.shape[1:]), dim=1
        )
        return low, high
    shape = values.shape[1:] if segments.steps == 1 else (segments.steps, *values.shape[1:])
    low = values.new_full(shape, torch.inf)
    high = values.new_full(shape, -torch.inf)
    if not values.shape[0]:
        return low, high
    index = segments.step_of_item.view(-1, 1, 1).expand_as(values)
    return low.scatter_reduce_(0, index, values, "amin"), high.scatter_reduce_(
        0, index, values, "amax"
    )


class _FiniteSums:
    """The deferred check of a regression metric: targets and outputs are finite, which their
    sums (of squares) say without a pass of their own over the items. A snapshot: the sums
    checked are those the entry was made with.
    Implements :class:`~burnish.metric.entry.DeferredChecks`."""

    def __init__(self, metric: str, sums: torch.Tensor | None) -> None:
        self.metric = metric
        self.sums = sums

    def pending(self) -> list[DeferredValue]:
        return [] if self.sums is None else [self.sums]

    def verify(self, host: Sequence[list[float]]) -> None:
        if not host:
            return
        (flat,) = host
        width = len(flat) // TERMS
        row = functools.partial(_row, flat, width)
        for what, squares in (("targets", SQUARED_TARGET), ("outputs", SQUARED_ERROR)):
            # An infinite value makes its square's sum infinite, a NaN makes it NaN; residuals
            # are finite when both targets and outputs are, so targets are judged first.
            found = row(squares)
            if not all(map(math.isfinite, found)):
                kind = "NaN" if any(map(math.isnan, found)) else "infinite values"
                raise ValueError(f"{self.metric}: expected {what} that are finite, received {kind}")

    def clear(self) -> None:
        self.sums = None

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        return None


def _row(flat: list[float], width: int, row: int) -> list[float]:
    return flat[row * width : (row + 1) * width]


class _Steps:
    """How a block of a :class:`RegressionState` reads: every step's value, computed on the
    device, and the last step's texts from its sums and the epoch's after it."""

    def __init__(self, state: RegressionState, width: int, sizes: Sequence[int]) -> None:
        self.state = state
        self.width = width
        self.sizes = sizes

    def numbers(self, host: Sequence[list[float]]) -> StepNumbers:
        values = host[0]
        if self.state.mean_of_items:
            return StepNumbers(values, list(self.sizes), "aggregated")
        return StepNumbers(values, [1] * len(values), "value")

    def last_texts(self, host: Sequence[list[float]]) -> tuple[Text, LogText]:
        return self.state._render(self.width, host)


class RegressionState:
    """Per-output sums ``(6, D)`` of the epoch's items (see
    :mod:`burnish.functional.regression`), with their extremes when ``extremes``; ``evaluate``
    maps them to the metric's values. With ``show_outputs`` (``raw_values``) texts list each
    output's value and the numeric value is their mean. ``mean_of_items``: the values are means
    over the items (MAE, MSE), logged as ``aggregated`` entries; else steps log plain values and
    the epoch a ``final`` one, since a ratio of sums is not a mean that loggers could re-weight.
    """

    state_reductions: ClassVar[dict[str, StateSync]] = {
        "_sums": "sum",
        "_low": "min",
        "_high": "max",
        "_items": "sum",
    }
    _sums: torch.Tensor | None
    _low: torch.Tensor | None
    _high: torch.Tensor | None
    _batch: tuple[torch.Tensor, ...]
    _items: int

    def __init__(
        self,
        options: FormatOptions,
        evaluate: Evaluate,
        *,
        extremes: bool,
        show_outputs: bool,
        mean_of_items: bool,
    ) -> None:
        self.options = options
        self.evaluate = evaluate
        self.extremes = extremes
        self.show_outputs = show_outputs
        self.mean_of_items = mean_of_items
        self.clear()

    @property
    def outputs_seen(self) -> int | None:
        """The number of outputs of the epoch's items so far (``None`` before any)."""
        return None if self._sums is None else self._sums.shape[-1]

    def _parts(
        self, sums: torch.Tensor, low: torch.Tensor | None, high: torch.Tensor | None
    ) -> tuple[torch.Tensor, ...]:
        return (
            (sums, low, high) if self.extremes and low is not None and high is not None else (sums,)
        )

    def update_steps(self, steps: RegressionSteps) -> BlockResult:
        """Add a block's steps; their numbers and the last step's texts equal those of updates
        with each step in turn. Metrics updated together since the epoch began share the
        epoch's sums."""
        segments = steps.segments
        low, high = steps.extremes if self.extremes else (None, None)
        previous = (self._sums, self._low, self._high)

        def add() -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
            return _added(steps.sums, low, high, previous, segments.steps)

        key = (self.extremes, steps.key)
        self._sums, self._low, self._high = steps.block.memo_from(key, previous, add)
        self._items += segments.items
        name = self.options.name
        checks = _FiniteSums(name, self._sums)
        if segments.steps == 1:
            self._batch = batch = self._parts(steps.sums, low, high)
            render = functools.partial(self._render, steps.width)
            values = [*batch, *self._parts(self._sums, self._low, self._high)]
            return [MetricEntry.deferred(name, values, render, checks)]
        self._batch = batch = self._parts(
            steps.sums[-1], None if low is None else low[-1], None if high is None else high[-1]
        )
        _, numbers = self.evaluate(steps.sums, low, high)
        reader = _Steps(self, steps.width, segments.sizes)
        last_of = (*batch, *self._parts(self._sums, self._low, self._high))
        return BlockEntries(name, segments.steps, (numbers,), last_of, reader, checks)

    def _from_host(self, width: int, host: Sequence[list[float]]) -> tuple[list[float], float, int]:
        """Per-output values, the value and the item count of one set of host parts."""
        tensors = [torch.tensor(part, dtype=torch.float64) for part in host]
        sums = tensors[0].view(TERMS, width)
        low, high = (None, None) if len(tensors) == 1 else (t.view(2, width) for t in tensors[1:])
        per_output, value = self.evaluate(sums, low, high)
        return per_output.tolist(), float(value), int(host[0][COUNT * width])

    def _render(self, width: int, host: Sequence[list[float]]) -> tuple[Text, LogText]:
        half = len(host) // 2
        _, batch, count = self._from_host(width, host[:half])
        options = self.options

        def formatted() -> str:
            outputs, epoch, _ = self._from_host(width, host[half:])
            return f"epoch {self._text(outputs, epoch)} - batch {options.format(batch)}"

        if self.mean_of_items:
            return formatted, NumericEntry(batch, count, "aggregated")
        return formatted, NumericEntry(batch)

    def _text(self, outputs: list[float], value: float) -> str:
        if not self.show_outputs or len(outputs) == 1:
            return self.options.format(value)
        precision = self.options.precision_
        listed = ", ".join(f"{i}: {format_value(v, precision)}" for i, v in enumerate(outputs))
        return f"{self.options.format(value)} mean [{listed}]"

    def _read(self, parts: tuple[torch.Tensor | None, ...]) -> tuple[list[float], float, int]:
        sums = parts[0]
        if sums is None:
            return [math.nan], math.nan, 0
        present = self._parts(sums, parts[1], parts[2])
        checks = _FiniteSums(self.options.name, sums)
        host = read_values([*present, sums])
        checks.verify(host[-1:])
        return self._from_host(sums.shape[-1], host[:-1])

    def _epoch(self) -> tuple[list[float], float, int]:
        return self._read((self._sums, self._low, self._high))

    def value(self) -> float:
        """The latest batch value; NaN before the first update."""
        if not self._batch:
            return math.nan
        batch = self._batch
        return self._read((batch[0], *(batch[1:] if len(batch) == 3 else (None, None))))[1]

    def running_value(self) -> NumericEntry:
        """The epoch value so far, with its item count; NaN (count 0) in an empty epoch."""
        _, value, _ = self._epoch()
        return NumericEntry(value, self._items, "aggregated" if self.mean_of_items else "final")

    def compute(self) -> MetricEntry:
        """The epoch entry; with ``show_outputs``, each output's value is listed in its text."""
        outputs, value, _ = self._epoch()
        kind: EntryKind = "aggregated" if self.mean_of_items else "final"
        entry = NumericEntry(value, self._items, kind)
        return MetricEntry(self.options.name, self._text(outputs, value), entry.serialize())

    def totals(self) -> Totals | None:
        """The epoch's sums (see :class:`~burnish.metric.totals.Totals`); ``None`` with
        extremes, which do not add."""
        if self.extremes:
            return None
        sums = self._sums
        if sums is None:
            return Totals((0.0,), undefined, ())
        evaluate = functools.partial(self._evaluate_totals, sums.shape[-1])
        return Totals((sums,), evaluate, (_FiniteSums(self.options.name, sums),))

    def _evaluate_totals(self, width: int, totals: Sequence[list[float]]) -> list[float]:
        return [self._from_host(width, totals)[1]]

    def clear(self) -> None:
        self._sums = self._low = self._high = None
        self._batch = ()
        self._items = 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "sums": self._sums,
            "low": self._low,
            "high": self._high,
            "batch": list(self._batch),
            "items": self._items,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._sums, self._low, self._high = state["sums"], state["low"], state["high"]
        self._batch = tuple(state["batch"])
        self._items = int(state["items"])


def _added(
    sums: torch.Tensor,
    low: torch.Tensor | None,
    high: torch.Tensor | None,
    previous: tuple[torch.Tensor | None, ...],
    steps: int,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """The epoch's sums and extremes after a block of ``steps`` steps' ``sums`` (and extremes)."""
    epoch_sums, epoch_low, epoch_high = previous
    added = sums.sum(0) if steps > 1 else sums
    new_sums = added if epoch_sums is None else epoch_sums + added
    if low is None or high is None:
        return new_sums, None, None
    if steps > 1:
        low, high = low.amin(0), high.amax(0)
    new_low = low if epoch_low is None else torch.minimum(epoch_low, low)
    new_high = high if epoch_high is None else torch.maximum(epoch_high, high)
    return new_sums, new_low, new_high
