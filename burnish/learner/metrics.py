"""The metrics registered for one split, and the once-per-step dispatch of an output to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from burnish.adaptor import StepAdaptations, check_adaptable
from burnish.learner.events import MetricUpdate, Split
from burnish.metric.base import Metric, MetricMetadata, Numeric, Stateful, input_type_of

__all__ = ["RegisteredMetric", "SplitMetrics"]


@dataclass(frozen=True, slots=True)
class RegisteredMetric:
    metric: Metric[Any]
    input_type: type[Any] | None
    # None for a text metric. Decided once: a protocol isinstance check costs tens of
    # microseconds, too much to repeat every step.
    higher_is_better: bool | None

    @staticmethod
    def of(metric: Metric[Any], plotted: bool) -> RegisteredMetric:
        if plotted and not isinstance(metric, Numeric):
            raise TypeError(
                f"metric {metric.name!r} ({type(metric).__qualname__}) is not numeric: it needs "
                "higher_is_better, value() and running_value() to be plotted; register it with "
                "metric_train()/metric_valid() to show it as text"
            )
        higher_is_better = metric.higher_is_better if isinstance(metric, Numeric) else None
        return RegisteredMetric(
            metric, input_type_of(metric), higher_is_better if plotted else None
        )


class SplitMetrics:
    """A split's metrics. Each step's output is adapted once per input type, however many
    metrics take that input, and every metric is updated with it."""

    def __init__(self, split: Split, registered: Sequence[RegisteredMetric]) -> None:
        self.split = split
        self.registered = tuple(registered)
        names = [r.metric.name for r in self.registered]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(
                f"{split.value} metrics must have distinct names; {', '.join(duplicates)} "
                "appears more than once (pass name=... to tell them apart)"
            )

    def check_adaptable(self, output_type: type[Any]) -> None:
        for registered in self.registered:
            check_adaptable(output_type, registered.input_type, registered.metric.name)

    def update(self, output: object, metadata: MetricMetadata) -> tuple[MetricUpdate, ...]:
        step = StepAdaptations(output)
        return tuple(
            MetricUpdate(
                r.metric.update(None if r.input_type is None else step.get(r.input_type), metadata),
                r.higher_is_better,
            )
            for r in self.registered
        )

    def compute(self) -> tuple[MetricUpdate, ...]:
        return tuple(MetricUpdate(r.metric.compute(), r.higher_is_better) for r in self.registered)

    def clear(self) -> None:
        for registered in self.registered:
            registered.metric.clear()

    def state_dict(self) -> dict[str, dict[str, Any]]:
        """Each stateful metric's epoch state, by name (for a mid-epoch checkpoint)."""
        return {name: metric.state_dict() for name, metric in self._stateful().items()}

    def load_state_dict(self, states: dict[str, dict[str, Any]]) -> None:
        """Continue the epoch of every stateful metric from :meth:`state_dict`.

        Raises ``ValueError`` when the saved metrics are not the registered ones: a metric
        starting afresh in the middle of an epoch would report a value of part of it.
        """
        stateful = self._stateful()
        if set(stateful) != set(states):
            raise ValueError(
                f"the checkpoint holds the {self.split.value} state of metrics "
                f"{sorted(states)}, but the learner registers {sorted(stateful)}: register the "
                "same metrics to resume in the middle of an epoch"
            )
        for name, metric in stateful.items():
            metric.load_state_dict(states[name])

    def _stateful(self) -> dict[str, Stateful]:
        return {r.metric.name: r.metric for r in self.registered if isinstance(r.metric, Stateful)}

    def close(self) -> None:
        """Close the metrics that hold resources (those with a ``close()`` method)."""
        for registered in self.registered:
            close = getattr(registered.metric, "close", None)
            if callable(close):
                close()
