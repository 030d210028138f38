"""Input checks for metrics: immediate for shapes and dtypes, deferred for values.

Shapes and dtypes live on the host and are checked in ``update()`` at no cost. Checking values
(a class index out of range, a NaN score) needs the data, and reading the data would synchronise
with the device on every step. :class:`GuardBounds` instead keeps the observed minimum and
maximum on the device and its :class:`RangeGuard` checks raise when the metric's values are next
read, which always happens before an epoch's value is reported: nothing wrong is ever shown or
logged as a number.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any, ClassVar, TypeVar

import torch

from burnish.adaptor import MetricInput, adapt, supported_inputs
from burnish.distributed.sync import StateSync
from burnish.metric.entry import DeferredChecks, DeferredValue

__all__ = [
    "DeferredChecks",
    "GuardBounds",
    "RangeGuard",
    "check_batch_sizes",
    "check_integer",
    "check_ndim",
    "describe",
    "expect_input",
]

InputT = TypeVar("InputT")


def describe(tensor: torch.Tensor) -> str:
    """``shape (8, 10), dtype float32`` — how errors show what a metric received."""
    return f"shape {tuple(tensor.shape)}, dtype {str(tensor.dtype).removeprefix('torch.')}"


def check_ndim(
    metric: str, what: str, tensor: torch.Tensor, ndims: Sequence[int], form: str
) -> None:
    if tensor.ndim not in ndims:
        raise ValueError(f"{metric}: expected {what} of shape {form}, received {describe(tensor)}")


def check_integer(metric: str, what: str, tensor: torch.Tensor) -> None:
    if tensor.is_floating_point() or tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(
            f"{metric}: expected {what} as integer class indices (int64 or another integer "
            f"dtype), received {describe(tensor)}"
        )


def check_batch_sizes(
    metric: str, first: tuple[str, torch.Tensor], second: tuple[str, torch.Tensor]
) -> None:
    (first_name, first_tensor), (second_name, second_tensor) = first, second
    if first_tensor.shape[0] != second_tensor.shape[0]:
        raise ValueError(
            f"{metric}: {first_name} and {second_name} must have the same batch size, received "
            f"{first_name} {describe(first_tensor)} and {second_name} {describe(second_tensor)}"
        )


class RangeGuard:
    """What values a metric accepts: finite, within ``[low, high]`` (infinite bounds: none).

    With ``minus_inf``, ``-inf`` is accepted too (masked logits: a vocabulary or action mask
    sets the scores of excluded classes to ``-inf``, and argmax, top-k and cross-entropy are
    defined with them); NaN and ``+inf`` never are. ``observed`` says what the watched values
    are, in the error.

    The check itself is deferred: :class:`GuardBounds` keeps the observed minimum and maximum on
    the device and calls :meth:`verify` with their host values when the metric is read.
    """

    def __init__(
        self,
        metric: str,
        what: str,
        low: float,
        high: float,
        expected: str,
        *,
        minus_inf: bool = False,
        observed: str = "values",
    ) -> None:
        self.metric = metric
        self.what = what
        self.low = low
        self.high = high
        self.expected = expected
        self.minus_inf = minus_inf
        self.observed = observed

    def _accepts(self, value: float) -> bool:
        if math.isfinite(value):
            return self.low <= value <= self.high
        return self.minus_inf and value == -math.inf and self.low == -math.inf

    def verify(self, low: float, high: float) -> None:
        """Raise ``ValueError`` if values observed within ``[low, high]`` break the range."""
        nothing_seen = low == math.inf and high == -math.inf
        if nothing_seen or (self._accepts(low) and self._accepts(high)):
            return
        if math.isnan(low) or math.isnan(high):
            found = "NaN"
        else:
            found = f"{self.observed} in [{low:g}, {high:g}]"
        raise ValueError(f"{self.metric}: expected {self.what} {self.expected}, received {found}")


class GuardBounds:
    """Several :class:`RangeGuard` checks, watched without device work per metric and step.

    Each block (or step) adds its bounds ``(min_0, max_0, min_1, max_1, ...)`` as 0-d tensors
    (computed once per block and shared by the metrics watching the same fields). They are kept
    as references and folded every ``every`` blocks, so a snapshot is one list copy and reading
    them is part of the metric's one transfer; metrics keeping the same bounds fold them once.
    Implements
    :class:`DeferredChecks`. Across processes, every process's bounds are gathered: checks
    then see every process's inputs.
    """

    state_reductions: ClassVar[dict[str, StateSync]] = {"_flat": "cat"}

    def __init__(self, guards: Sequence[RangeGuard], every: int = 16) -> None:
        self.guards = tuple(guards)
        self.every = every
        self._width = 2 * len(self.guards)
        self._flat: list[torch.Tensor] = []

    def observe(
        self, bounds: Sequence[torch.Tensor], shared: tuple[MetricInput, Hashable] | None = None
    ) -> None:
        """Add a block's (or a step's) bounds. ``shared``: the block and what the bounds are of,
        under which metrics keeping the very same bounds fold them once."""
        self._flat.extend(bounds)
        if len(self._flat) > self.every * self._width:
            if shared is None:
                self._flat = self._folded()
            else:
                block, key = shared
                folded = block.memo_from(("bounds-fold", key), self._flat, self._folded)
                self._flat = list(folded)  # a list of its own, to extend

    def _folded(self) -> list[torch.Tensor]:
        width, flat = self._width, self._flat
        return [
            torch.stack(flat[i::width]).amin() if i % 2 == 0 else torch.stack(flat[i::width]).amax()
            for i in range(width)
        ]

    def pending(self) -> list[DeferredValue]:
        return list(self._flat)

    def verify(self, host: Sequence[list[float]]) -> None:
        width = self._width
        if not host or not width:
            return
        flat = [values[0] for values in host]
        for index, guard in enumerate(self.guards):
            lows, highs = flat[2 * index :: width], flat[2 * index + 1 :: width]
            # NaN must win, which min() and max() do not guarantee.
            low = math.nan if any(map(math.isnan, lows)) else min(lows)
            high = math.nan if any(map(math.isnan, highs)) else max(highs)
            guard.verify(low, high)

    def clear(self) -> None:
        self._flat = []

    def state_dict(self) -> dict[str, Any]:
        return {"bounds": list(self._flat)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._flat = list(state["bounds"])


def expect_input(metric: str, item: object, kind: type[InputT]) -> InputT:
    """``item`` as the input ``kind``: as given, or adapted from a step output.

    Raises ``TypeError`` naming the metric, the input it takes and the type it received.
    """
    if isinstance(item, kind):
        return item
    expected = f"{metric}: expected {kind.__qualname__} (or a step output that adapts to it)"
    if not supported_inputs(type(item)) and not hasattr(item, "adapt"):
        raise TypeError(f"{expected}, received {type(item).__qualname__}")
    try:
        return adapt(item, kind)
    except TypeError as error:
        raise TypeError(f"{expected}, received {type(item).__qualname__}: {error}") from error
