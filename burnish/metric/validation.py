"""Input checks for metrics: immediate for shapes and dtypes, deferred for values.

Shapes and dtypes live on the host and are checked in ``update()`` at no cost. Checking values
(a class index out of range, a NaN score) needs the data, and reading the data would synchronise
with the device on every step. A :class:`RangeGuard` instead keeps the running minimum and
maximum on the device and raises when the metric's values are next read, which always happens
before an epoch's value is reported: nothing wrong is ever shown or logged as a number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

import torch

from burnish.adaptor import adapt, supported_inputs

__all__ = [
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
    """Watches that every value observed is finite and lies in ``[low, high]``, unread.

    Infinite bounds mean no bound: a guard on ``(-inf, inf)`` checks only for NaN and inf.
    """

    def __init__(self, metric: str, what: str, low: float, high: float, expected: str) -> None:
        self.metric = metric
        self.what = what
        self.low = low
        self.high = high
        self.expected = expected
        self._min: torch.Tensor | None = None
        self._max: torch.Tensor | None = None

    def observe(self, values: torch.Tensor) -> None:
        if values.numel() == 0:
            return
        values = values.detach()
        if values.dtype == torch.bool:
            values = values.to(torch.uint8)
        low, high = torch.aminmax(values)
        # Out of place: entries already handed out keep the tensors they were given.
        self._min = low if self._min is None else torch.minimum(self._min, low)
        self._max = high if self._max is None else torch.maximum(self._max, high)

    @property
    def seen(self) -> tuple[torch.Tensor | float, torch.Tensor | float]:
        """The (min, max) observed so far, to be read with the metric's values; always two."""
        if self._min is None or self._max is None:
            return (math.inf, -math.inf)
        return (self._min, self._max)

    def verify(self, low: float, high: float) -> None:
        """Raise ``ValueError`` if the host values of :attr:`seen` break the range."""
        nothing_seen = low == math.inf and high == -math.inf
        if nothing_seen or (
            math.isfinite(low) and math.isfinite(high) and self.low <= low and high <= self.high
        ):
            return
        found = "NaN" if math.isnan(low) or math.isnan(high) else f"values in [{low:g}, {high:g}]"
        raise ValueError(f"{self.metric}: expected {self.what} {self.expected}, received {found}")

    def clear(self) -> None:
        self._min = None
        self._max = None


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
