"""Any function of NumPy arrays as a metric: a scikit-learn metric, or one of your own.

As the first Lightning metrics package offered: each batch's arrays are kept on their device
over the epoch (references, not copies), and at its end they are concatenated, **copied to the
host** and given to the function once, for the whole epoch::

    FunctionMetric(matthews_corrcoef, arrays=lambda i: (i.targets, i.predictions.argmax(1)))

Nothing is read while training, but the epoch's data crosses to the host once, and the state
grows with the epoch's samples (as an exact AUROC's does). A step entry shows the batch's value,
computed only when it is displayed; steps log no value (the batch value of an epoch-wide
function is rarely the point, and computing it for every step would cost the readers more than
the step).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from burnish.adaptor import ConfusionStatsInput
from burnish.metric.base import (
    FormatOptions,
    MetricEntry,
    MetricMetadata,
    NumericEntry,
    Text,
)
from burnish.metric.host import to_numpy
from burnish.metric.mixins import NumericMetricMixin
from burnish.metric.operand import epoch_entry
from burnish.metric.state import format_values, nan_mean
from burnish.metric.validation import expect_input

__all__ = ["FunctionMetric"]

_NO_STEP_VALUE = NumericEntry(math.nan, 0, "aggregated").serialize()


def targets_and_predictions(item: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(targets, predictions)`` of an input that has both (``ConfusionStatsInput``,
    ``AurocInput``): scikit-learn's ``(y_true, y_pred)`` order."""
    return item.targets, item.predictions


class FunctionMetric(NumericMetricMixin):
    """``function(*arrays, **kwargs)`` over the epoch's arrays (see the module text).

    ``arrays`` picks the tensors to accumulate from each input of ``input_type``, each with one
    row per item; by default ``(targets, predictions)`` (scores as given: take the argmax or
    threshold them in ``arrays`` for label-based functions). ``function`` returns a number, or
    one per class, whose mean is then the numeric value. Named after the function unless
    ``name`` is given.
    """

    _batches: list[tuple[torch.Tensor, ...]]
    _last: tuple[torch.Tensor, ...] | None
    _items: int
    _updates: int
    _cached: tuple[int, list[float]] | None

    def __init__(
        self,
        function: Callable[..., Any],
        *,
        input_type: type[Any] = ConfusionStatsInput,
        arrays: Callable[[Any], Sequence[torch.Tensor]] = targets_and_predictions,
        name: str | None = None,
        higher_is_better: bool = True,
        **kwargs: Any,
    ) -> None:
        self.function = function
        self.input_type = input_type
        self.arrays = arrays
        self.kwargs = kwargs
        self.name = getattr(function, "__name__", type(function).__name__) if name is None else name
        self.higher_is_better = higher_is_better
        self._options = FormatOptions(self.name).precision(4)
        self.clear()

    def _apply(self, tensors: Sequence[torch.Tensor]) -> list[float]:
        result = self.function(*to_numpy(tensors), **self.kwargs)
        values: list[float] = torch.as_tensor(result, dtype=torch.float64).reshape(-1).tolist()
        return values

    def update(self, item: Any, metadata: MetricMetadata) -> MetricEntry:
        item = expect_input(self.name, item, self.input_type)
        tensors = tuple(tensor.detach() for tensor in self.arrays(item))
        self._batches.append(tensors)
        self._items += len(tensors[0])
        self._updates += 1
        self._last = tensors
        return MetricEntry.deferred(self.name, (), functools.partial(self._render, tensors))

    def _render(
        self, tensors: tuple[torch.Tensor, ...], host: Sequence[list[float]]
    ) -> tuple[Text, Text]:
        def formatted() -> str:
            try:
                return f"batch {format_values(self._options, self._apply(tensors))}"
            except ValueError:
                # A batch may be outside the function's domain (one class only, for an AUROC),
                # which the epoch is not: the display says so rather than stopping the reader.
                return "batch n/a"

        return formatted, _NO_STEP_VALUE

    def _gathered(self) -> tuple[torch.Tensor, ...] | None:
        if not self._batches:
            return None
        if len(self._batches) > 1:
            self._batches = [tuple(torch.cat(parts) for parts in zip(*self._batches, strict=True))]
        return self._batches[0]

    def epoch_values(self) -> list[float]:
        """The function over the epoch so far: one value, or one per class (NaN: no data)."""
        if self._cached is not None and self._cached[0] == self._updates:
            return self._cached[1]
        gathered = self._gathered()
        values = [math.nan] if gathered is None else self._apply(gathered)
        self._cached = (self._updates, values)
        return values

    def value(self) -> float:
        """The function over the latest batch; NaN before the first."""
        return math.nan if self._last is None else nan_mean(self._apply(self._last))

    def running_value(self) -> NumericEntry:
        """The function over the epoch so far, a ``final`` entry."""
        return NumericEntry(nan_mean(self.epoch_values()), self._items, "final")

    def compute(self) -> MetricEntry:
        return epoch_entry(self.name, self._options, self.epoch_values(), self._items)

    def clear(self) -> None:
        self._batches = []
        self._last = None
        self._items = 0
        self._updates = 0
        self._cached = None

    def state_dict(self) -> dict[str, Any]:
        """The epoch's arrays so far (concatenated) and their item count."""
        gathered = self._gathered()
        return {"arrays": None if gathered is None else list(gathered), "items": self._items}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.clear()
        if state["arrays"] is not None:
            self._batches = [tuple(state["arrays"])]
        self._items = int(state["items"])
