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

In a distributed run, ``compute()`` gathers every process's arrays (in rank order, whatever each
process's share) and applies the function once, to all of them.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch

from burnish.adaptor import ConfusionStatsInput
from burnish.distributed.sync import StateSync, SyncOnCompute, compute_view
from burnish.metric.arithmetic import NumericMetricMixin
from burnish.metric.base import STANDALONE, MetricMetadata
from burnish.metric.entry import FormatOptions, MetricEntry, NumericEntry, Text
from burnish.metric.host import to_numpy
from burnish.metric.mixins import check_state
from burnish.metric.operand import epoch_entry
from burnish.metric.validation import expect_input
from burnish.metric.values import format_values, nan_mean

__all__ = ["FunctionMetric"]

_NO_STEP_VALUE = NumericEntry(math.nan, 0, "aggregated").serialize()


def targets_and_predictions(item: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(targets, predictions)`` of an input that has both (``ConfusionStatsInput``,
    ``AurocInput``): scikit-learn's ``(y_true, y_pred)`` order."""
    return item.targets, item.predictions


def _layout_of(arrays: Sequence[torch.Tensor]) -> torch.Tensor:
    """The arrays' dtypes and shapes past their first dimension, as the bytes of a JSON text."""
    text = json.dumps([[str(a.dtype).removeprefix("torch."), list(a.shape[1:])] for a in arrays])
    return torch.tensor(list(text.encode()), dtype=torch.uint8)


def _layout_text(layout: torch.Tensor) -> str:
    return bytes(layout.tolist()).decode()


def _one_layout(layouts: list[torch.Tensor]) -> torch.Tensor:
    """The layout every process's arrays share; ``ValueError`` when they differ."""
    first = layouts[0]
    if any(not torch.equal(layout, first) for layout in layouts[1:]):
        described = "; ".join(_layout_text(layout) for layout in layouts)
        raise ValueError(f"the processes' arrays differ in dtype or shape: {described}")
    return first


def _packed(arrays: Sequence[torch.Tensor]) -> torch.Tensor:
    """One row of bytes per item: each array's row, side by side."""
    items = len(arrays[0])
    rows = [a.reshape(items, math.prod(a.shape[1:])).contiguous().view(torch.uint8) for a in arrays]
    return torch.cat([row.to(rows[0].device) for row in rows], dim=1)


def _unpacked(rows: torch.Tensor, layout: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The arrays that :func:`_packed` packed into ``rows``, as ``layout`` describes them."""
    arrays, offset = [], 0
    for dtype_name, shape in json.loads(_layout_text(layout)):
        dtype: torch.dtype = getattr(torch, dtype_name)
        width = math.prod(shape) * dtype.itemsize
        part = rows[:, offset : offset + width].contiguous().view(dtype)
        arrays.append(part.reshape(len(rows), *shape))
        offset += width
    return tuple(arrays)


class FunctionMetric(NumericMetricMixin, SyncOnCompute):
    """``function(*arrays, **kwargs)`` over the epoch's arrays (see the module text).

    ``arrays`` picks the tensors to accumulate from each input of ``input_type``, each with one
    row per item; by default ``(targets, predictions)`` (scores as given: take the argmax or
    threshold them in ``arrays`` for label-based functions). ``function`` returns a number, or
    one per class, whose mean is then the numeric value. Named after the function unless
    ``name`` is given. ``compute()`` covers every process of a distributed run (see
    ``SyncOnCompute``).
    """

    # The arrays sync as one concatenated state, a row of bytes per item, and its layout: a
    # process that saw nothing knows neither how many arrays there are nor their dtypes.
    state_reductions: ClassVar[dict[str, StateSync]] = {
        "_rows": "cat",
        "_layout": _one_layout,
        "_items": "sum",
    }
    # Held by a synced copy only (see sync_states); None there when no process has arrays.
    _rows: torch.Tensor | None = None
    _layout: torch.Tensor | None = None
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

    def update(self, item: Any, metadata: MetricMetadata = STANDALONE) -> MetricEntry:
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

    def sync_states(self) -> dict[str, object]:
        """The epoch's arrays as they sync: packed rows and their layout (``None`` without)."""
        gathered = self._gathered()
        if gathered is None:
            return {"_rows": None, "_layout": None}
        return {"_rows": _packed(gathered), "_layout": _layout_of(gathered)}

    def epoch_values(self) -> list[float]:
        """The function over the epoch so far: one value, or one per class (NaN: no data)."""
        if self._rows is not None and self._layout is not None:  # synced: every process's
            return self._apply(_unpacked(self._rows, self._layout))
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
        view = compute_view(self)
        return epoch_entry(self.name, self._options, view.epoch_values(), view._items)

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
        check_state(self, state)
        self.clear()
        if state["arrays"] is not None:
            self._batches = [tuple(state["arrays"])]
        self._items = int(state["items"])
