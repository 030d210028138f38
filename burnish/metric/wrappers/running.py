"""Running values: a metric over its last ``window`` updates (TorchMetrics' ``Running``), or an
exponential moving average of it (Ignite's ``RunningAverage``).

For a metric with totals (every built-in but the exact ranking metrics; see
:mod:`burnish.metric.totals`) a window is computed from totals over the span, so a ratio stays a
ratio of summed counts: a running precision is ``tp / (tp + fp)`` over the window, not a mean of
batch precisions. A window costs nothing on the device (its totals are the difference of the
totals ``window`` updates apart, taken on the host when read).

A moving average, by default, averages the batch values as Ignite does:
``running = alpha * running + (1 - alpha) * batch_value``, the first batch's value to start.
A batch value that is undefined (NaN: a class outside the batch's labels, a batch without
items) leaves the running value as it was. The batch values are computed on the host from each
batch's totals, kept on the device until an entry or a value is read and then folded in order,
once (see :mod:`burnish.metric.wrappers.moving`). With ``decayed="totals"`` it decays the
totals instead, ``alpha * past + (1 - alpha) * batch``, a few device operations per step and
nothing to fold: a ratio of decayed counts, which weighs each batch by its size (for a mean over
items with equal batches, such as accuracy or loss, the two agree).

Other metrics (an exact AUROC, a function metric, your own) take a window only: the last
``window`` inputs are kept (references, no copies) and replayed into a copy of the metric when a
value is read, at the cost of ``window`` updates per read. Their window restarts after a resume.
"""

from __future__ import annotations

import copy
import functools
import math
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, get_args

import torch

from burnish.adaptor import StepAdaptations
from burnish.distributed.sync import StateSync, compute_view
from burnish.metric.arithmetic import NumericMetricMixin
from burnish.metric.base import MetricMetadata
from burnish.metric.composite import CompositeMetric
from burnish.metric.entry import DeferredValue, FormatOptions, MetricEntry, NumericEntry, Text
from burnish.metric.host import accumulator_dtype
from burnish.metric.operand import (
    NumericMetric,
    Pending,
    PendingGroup,
    Span,
    epoch_entry,
    step_texts,
)
from burnish.metric.totals import Totals, totals_of
from burnish.metric.values import nan_mean
from burnish.metric.wrappers.moving import Link, ValueAverage

__all__ = ["Decayed", "Running"]

Decayed = Literal["values", "totals"]
"""What a moving average decays: the batch values (Ignite's) or the metric's totals."""

# The readers' threads and the training thread may read at once; replays are rare enough to
# take turns (and a module lock, unlike one per metric, lets metrics be copied).
_replaying = threading.RLock()


def _as_float(value: DeferredValue) -> DeferredValue:
    if isinstance(value, torch.Tensor) and not value.is_floating_point():
        return value.to(accumulator_dtype(value.device))
    return value


def _since(after: Totals, before: Totals | None) -> tuple[DeferredValue, ...]:
    """The totals of the updates between ``before`` and ``after``, on their device."""
    if before is None:
        return tuple(_as_float(value) for value in after.values)
    return tuple(_as_float(a - b) for a, b in zip(after.values, before.values, strict=True))


def _device_of(values: Sequence[DeferredValue]) -> torch.device:
    return next((v.device for v in values if isinstance(v, torch.Tensor)), torch.device("cpu"))


def _flat(values: Sequence[DeferredValue]) -> torch.Tensor:
    """Totals as one vector, on the device of their tensors: how a window's totals sync."""
    device = _device_of(values)
    dtype = accumulator_dtype(device)
    return torch.cat([torch.as_tensor(v, device=device).to(dtype).reshape(-1) for v in values])


def _nan_mean_of(states: list[torch.Tensor]) -> torch.Tensor:
    """The processes' running values, averaged value by value over those defined."""
    return torch.stack(states).nanmean(dim=0)


def _replay(metric: NumericMetric, inputs: Sequence[tuple[object, MetricMetadata]]) -> None:
    metric.clear()
    for item, metadata in inputs:
        metric.update(item, metadata)


def _values_of(metric: NumericMetric) -> list[float]:
    """A metric's epoch values: one, or one per class."""
    epoch_values = getattr(metric, "epoch_values", None)
    if callable(epoch_values):
        return list(epoch_values())
    return [metric.running_value().value]


class Running(NumericMetricMixin, CompositeMetric):
    """``metric`` over its last ``window`` updates, or, with ``alpha``, its exponential moving
    average (``alpha`` the weight of the past, as in Ignite): of its batch values, Ignite's
    ``RunningAverage``, or with ``decayed="totals"`` of its totals; see the module text.

    The value (:meth:`value`, :meth:`running_value`, :meth:`compute`) is the running one; step
    entries show it with the batch's (``running 0.91 - batch 0.88``) and log it, so plots are
    smoothed. ``clear()`` (each epoch, in a learner) starts the window afresh. The wrapped metric
    is an operand: registered beside it, it is still updated once per step.

    In a distributed run, ``compute()`` covers every process (see ``SyncOnCompute``): the window
    is each process's latest ``window`` updates, taken together (their totals summed; a window
    replayed is replayed by each process, and the copies synced), which is the window of the
    run's latest ``window`` steps when the processes step together, as in data-parallel
    training. A moving average of totals sums the processes' decayed totals: when every
    process steps as often, that is the moving average of the run's steps, each step's totals
    summed over the processes. A moving average of values averages the processes' running
    values (each value over the processes where it is defined): when they step together with
    batches of one size, for a mean over items (accuracy, loss), that is Ignite's average of the
    run's batch values, each over every process's batch.
    """

    state_reductions: ClassVar[dict[str, StateSync]] = {
        "metric": "nested",
        "_window_totals": "sum",
        "_window_replay": "nested",
        "_window_values": _nan_mean_of,
    }
    # Held by a synced copy only (see sync_states): the running span's totals, flat, the metric
    # replayed with the window's inputs, or the running values of a moving average of values.
    _window_totals: torch.Tensor | None = None
    _window_replay: NumericMetric | None = None
    _window_values: torch.Tensor | None = None

    def __init__(
        self,
        metric: NumericMetric,
        window: int | None = None,
        *,
        alpha: float | None = None,
        decayed: Decayed = "values",
        name: str | None = None,
    ) -> None:
        super().__init__([metric])
        self.metric = metric
        self.name = f"Running {metric.name}" if name is None else name
        if (window is None) == (alpha is None):
            raise ValueError(f"{self.name}: expected either a window or an alpha")
        if window is not None and (isinstance(window, bool) or not isinstance(window, int)):
            raise ValueError(f"{self.name}: expected window as an int >= 1, received {window!r}")
        if window is not None and window < 1:
            raise ValueError(f"{self.name}: expected window as an int >= 1, received {window!r}")
        if alpha is not None and not 0.0 < alpha < 1.0:
            raise ValueError(f"{self.name}: expected alpha within (0, 1), received {alpha!r}")
        if decayed not in get_args(Decayed):
            raise ValueError(
                f"{self.name}: expected decayed among {get_args(Decayed)}, received {decayed!r}"
            )
        if window is not None and decayed != "values":
            raise ValueError(
                f"{self.name}: decayed={decayed!r} is for a moving average (alpha); a window "
                "always covers its updates' totals"
            )
        self.window = window
        self.alpha = alpha
        self.higher_is_better = metric.higher_is_better
        self._additive = totals_of(metric) is not None
        if alpha is not None and not self._additive:
            raise ValueError(
                f"{self.name}: a moving average needs a metric with totals, which "
                f"{type(metric).__qualname__} has not; give a window instead"
            )
        self._options = FormatOptions(self.name).precision(4)
        # A window of totals: the totals at each of the last window + 1 updates.
        self._history: deque[Totals] = deque(maxlen=(window or 0) + 1)
        # A moving average of totals: the decayed totals, the latest batch's and the totals
        # after it.
        self._average: tuple[Totals, Totals, Totals] | None = None
        self._values = None if alpha is None or decayed == "totals" else ValueAverage(alpha)
        # A window replayed: the last inputs, and a copy of the metric to replay them into.
        self._inputs: deque[tuple[object, MetricMetadata]] = deque(maxlen=window or 1)
        self._scratch: NumericMetric | None = None
        if not self._additive:
            self._scratch = copy.deepcopy(metric)
            self._scratch.clear()

    def combine(
        self, step: StepAdaptations, entries: Sequence[MetricEntry], metadata: MetricMetadata
    ) -> MetricEntry:
        self._updates += 1
        (entry,) = entries
        if not self._additive:
            kind = self.input_type
            self._inputs.append((None if kind is None else step.get(kind), metadata))
            render = functools.partial(self._render_replayed, tuple(self._inputs), entry)
            return MetricEntry.deferred(self.name, (), render)
        totals = totals_of(self.metric)
        assert totals is not None, "a metric with totals keeps them"
        if self._values is not None:
            link = self._values.add(totals)
            group = PendingGroup([Pending.of_spans(link.batch, None)])
            render = functools.partial(self._render_folded, self._values, link)
            return group.entry(self.name, render)
        if self.alpha is None:
            self._history.append(totals)
        else:
            self._average = self._decayed(totals)
        return PendingGroup([self._pending()]).entry(self.name, self._render)

    def _decayed(self, totals: Totals) -> tuple[Totals, Totals, Totals]:
        alpha = self.alpha
        assert alpha is not None, "a moving average has an alpha"
        last = None if self._average is None else self._average[2]
        batch = _since(totals, last)
        if self._average is None:
            average = batch
        else:
            past = self._average[0].values
            average = tuple(a * alpha + b * (1.0 - alpha) for a, b in zip(past, batch, strict=True))
        return (
            Totals(average, totals.evaluate, totals.checks),
            Totals(batch, totals.evaluate, totals.checks),
            totals,
        )

    def _running_span(self) -> Span | None:
        """The span of the running value (``None`` before any update)."""
        if self._average is not None:
            return Span(self._average[0])
        history = self._history
        if not history:
            return None
        start = history[0] if len(history) == history.maxlen else None
        return Span(history[-1], start)

    def _pending(self) -> Pending:
        """The latest batch's values and the running ones, over the spans kept now."""
        running = self._running_span()
        if running is None:
            return Pending.known(([math.nan], [math.nan]))
        if self._average is not None:
            return Pending.of_spans(Span(self._average[1]), running)
        history = self._history
        previous = history[-2] if len(history) > 1 else None
        return Pending.of_spans(Span(history[-1], previous), running)

    def _render(self, group: PendingGroup, host: Sequence[list[float]]) -> tuple[Text, Text]:
        ((batch, running),) = group.decode(host)
        return self._texts(batch, running or [math.nan])

    def _render_folded(
        self, values: ValueAverage, link: Link, group: PendingGroup, host: Sequence[list[float]]
    ) -> tuple[Text, Text]:
        ((batch, _),) = group.decode(host)
        return self._texts(batch, values.resolve(link, batch))

    def _texts(self, batch: list[float], running: list[float]) -> tuple[Text, Text]:
        return step_texts(self._options, batch, running, label="running", logged=nan_mean(running))

    def _replayed(self, inputs: Sequence[tuple[object, MetricMetadata]]) -> list[float]:
        scratch = self._scratch
        assert scratch is not None, "a replayed window has a copy to replay into"
        with _replaying:
            _replay(scratch, inputs)
            return _values_of(scratch)

    def sync_states(self) -> dict[str, object]:
        """The window as it syncs: the running span's totals, flat, with the metric (whose
        synced totals tell how they evaluate); for a window replayed, a copy of the metric
        replayed with it; for a moving average of values, its running values; and no more
        (``None`` for what a window does not read)."""
        states: dict[str, object] = dict.fromkeys(self.state_reductions)
        if not self._additive:
            scratch = self._scratch
            assert scratch is not None, "a replayed window has a copy to replay into"
            with _replaying:  # a copy of the scratch cleared: it holds no other read's inputs
                scratch.clear()
                window = copy.deepcopy(scratch)
            _replay(window, tuple(self._inputs))
            states["_window_replay"] = window
            return states
        states["metric"] = self.metric
        if self._values is not None:
            last = self._values.last
            if last is not None:
                device = _device_of(last.values)
                running = self._values.now()
                states["_window_values"] = torch.tensor(
                    running, dtype=accumulator_dtype(device), device=device
                )
            return states
        span = self._running_span()
        states["_window_totals"] = None if span is None else _flat(_since(span.end, span.start))
        return states

    def _synced_values(self) -> list[float] | None:
        """A synced copy's running values: over every process's window (``None``: not a
        synced copy, or no process has updates)."""
        if self._window_replay is not None:
            return _values_of(self._window_replay)
        if self._window_values is not None:
            return [float(v) for v in self._window_values.tolist()]
        if self._window_totals is None:
            return None
        # The metric synced: its totals tell how the window's evaluate, also on a process that
        # saw nothing (whose state does not know the number of classes).
        operand = totals_of(self.metric)
        assert operand is not None, "a metric with totals keeps them"
        sizes = [v.numel() if isinstance(v, torch.Tensor) else 1 for v in operand.values]
        window = Totals(
            tuple(self._window_totals.split_with_sizes(sizes)), operand.evaluate, operand.checks
        )
        ((_, running),) = PendingGroup([Pending.of_spans(None, Span(window))]).read()
        return running

    def _render_replayed(
        self,
        inputs: Sequence[tuple[object, MetricMetadata]],
        entry: MetricEntry,
        host: Sequence[list[float]],
    ) -> tuple[Text, Text]:
        batch = entry.numeric.value
        return self._texts([batch], self._replayed(inputs))

    def epoch_values(self) -> list[float]:
        """The running values now: one, or one per class."""
        synced = self._synced_values()
        if synced is not None:
            return synced
        if not self._additive:
            return self._replayed(tuple(self._inputs))
        if self._values is not None:
            return self._values.now()
        ((_, running),) = PendingGroup([self._pending()]).read()
        return running or [math.nan]

    def value(self) -> float:
        """The running value now (what Ignite's and TorchMetrics' ``compute()`` give)."""
        return nan_mean(self.epoch_values())

    def running_value(self) -> NumericEntry:
        """The running value now, a ``final`` entry."""
        return NumericEntry(self.value(), self._updates, "final")

    def operands(self) -> Sequence[NumericMetric]:
        # The metric itself, which a synced copy holds synced when it reads it.
        return [self.metric]

    def compute(self) -> MetricEntry:
        values = compute_view(self).epoch_values()
        return epoch_entry(self.name, self._options, values, self._updates)

    def clear(self) -> None:
        super().clear()
        self._clear_running()

    def _clear_running(self) -> None:
        self._history.clear()
        self._average = None
        self._inputs.clear()
        if self._values is not None:
            self._values = ValueAverage(self._values.alpha)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped metric's state and the running window or average (a replayed window
        keeps no inputs: it restarts; a moving average of values is folded, a read)."""
        state = super().state_dict()
        state["history"] = [list(totals.values) for totals in self._history]
        average = self._average
        state["average"] = None if average is None else [list(t.values) for t in average]
        state["values"] = None if self._values is None else self._values.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._clear_running()
        current = totals_of(self.metric)
        if current is None:
            return
        if self._values is not None and state.get("values") is not None:
            self._values.load(state["values"], current)
        evaluate, checks = current.evaluate, current.checks
        self._history.extend(Totals(tuple(v), evaluate, checks) for v in state["history"])
        if state["average"] is not None:
            average, batch, last = (Totals(tuple(v), evaluate, checks) for v in state["average"])
            self._average = (average, batch, last)
