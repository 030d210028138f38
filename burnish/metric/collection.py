"""Many metrics fed by one output, as TorchMetrics' ``MetricCollection``, without a learner.

Each step's output is adapted once per input type however many metrics take it, and work the
inputs share (an argmax, the counts of a decision rule) is done once, through the inputs' memo.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from burnish.adaptor import StepAdaptations, check_adaptable
from burnish.metric.base import (
    Metric,
    MetricEntry,
    MetricMetadata,
    Numeric,
    Stateful,
    input_type_of,
)

__all__ = ["MetricCollection"]


class MetricCollection:
    """Metrics updated together with one step output each: ``update(output)``.

    Metrics are keyed by their names (or the given mapping's keys), with ``prefix`` and
    ``postfix`` added, e.g. ``MetricCollection([...], prefix="valid/")``.
    """

    def __init__(
        self,
        metrics: Iterable[Metric[Any]] | Mapping[str, Metric[Any]],
        *,
        prefix: str = "",
        postfix: str = "",
    ) -> None:
        named = metrics.items() if isinstance(metrics, Mapping) else ((m.name, m) for m in metrics)
        self.prefix, self.postfix = prefix, postfix
        self._metrics: dict[str, Metric[Any]] = {}
        self._names: dict[str, str] = {}
        self._inputs: dict[str, type[Any] | None] = {}
        for name, metric in named:
            key = f"{prefix}{name}{postfix}"
            if key in self._metrics:
                raise ValueError(
                    f"metric names must be distinct; {key!r} appears more than once (pass "
                    "name=... to tell them apart, or a mapping of names)"
                )
            self._metrics[key] = metric
            self._names[key] = name
            self._inputs[key] = input_type_of(metric)

    def __getitem__(self, key: str) -> Metric[Any]:
        return self._metrics[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._metrics)

    def __len__(self) -> int:
        return len(self._metrics)

    def items(self) -> Iterable[tuple[str, Metric[Any]]]:
        return self._metrics.items()

    def check_adaptable(self, output_type: type[Any]) -> None:
        """Raise ``TypeError`` now if a metric's input cannot be made from ``output_type``."""
        for key, metric in self._metrics.items():
            check_adaptable(output_type, self._inputs[key], metric.name)

    def update(
        self, output: object, metadata: MetricMetadata | None = None
    ) -> dict[str, MetricEntry]:
        """Update every metric with ``output`` (adapted once per input type)."""
        step = StepAdaptations(output)
        metadata = MetricMetadata.fake() if metadata is None else metadata
        inputs = self._inputs
        return {
            key: metric.update(None if (kind := inputs[key]) is None else step.get(kind), metadata)
            for key, metric in self._metrics.items()
        }

    def compute(self) -> dict[str, MetricEntry]:
        """Every metric's epoch entry."""
        return {key: metric.compute() for key, metric in self._metrics.items()}

    def values(self) -> dict[str, float]:
        """The numeric metrics' epoch values (NaN: none yet); text metrics are left out."""
        return {
            key: metric.running_value().value
            for key, metric in self._metrics.items()
            if isinstance(metric, Numeric)
        }

    def clear(self) -> None:
        for metric in self._metrics.values():
            metric.clear()

    reset = clear

    def clone(self, *, prefix: str | None = None, postfix: str | None = None) -> MetricCollection:
        """An independent copy, state included (as TorchMetrics' ``clone``), optionally
        renamed: ``collection.clone(prefix="valid/")``; ``reset()`` it to start afresh."""
        metrics = {self._names[key]: copy.deepcopy(m) for key, m in self._metrics.items()}
        return MetricCollection(
            metrics,
            prefix=self.prefix if prefix is None else prefix,
            postfix=self.postfix if postfix is None else postfix,
        )

    def state_dict(self) -> dict[str, dict[str, Any]]:
        """Each stateful metric's epoch state, by key."""
        return {key: metric.state_dict() for key, metric in self._stateful().items()}

    def load_state_dict(self, states: dict[str, dict[str, Any]]) -> None:
        """Continue every stateful metric's epoch from :meth:`state_dict`.

        Raises ``ValueError`` when the saved metrics are not these: a metric starting afresh
        in the middle of an epoch would report the value of part of it.
        """
        stateful = self._stateful()
        if set(stateful) != set(states):
            raise ValueError(
                f"the saved state holds metrics {sorted(states)}, not {sorted(stateful)}: the "
                "same metrics are needed to continue an epoch"
            )
        for key, metric in stateful.items():
            metric.load_state_dict(states[key])

    def _stateful(self) -> dict[str, Stateful]:
        return {k: m for k, m in self._metrics.items() if isinstance(m, Stateful)}

    def close(self) -> None:
        """Close the metrics that hold resources (those with a ``close()`` method)."""
        for metric in self._metrics.values():
            close = getattr(metric, "close", None)
            if callable(close):
                close()
