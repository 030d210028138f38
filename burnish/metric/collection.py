"""Many metrics fed by one output, as TorchMetrics' ``MetricCollection``, without a learner.

Each step's output is adapted once per input type however many metrics take it, and work the
inputs share (an argmax, the counts of a decision rule) is done once, through the inputs' memo.
Each distinct metric is updated once per step, also when composites (derived metrics, wrappers)
share it as an operand or it is registered beside them (see :mod:`burnish.metric.composite`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from burnish.adaptor import check_adaptable
from burnish.distributed.sync import compute_views
from burnish.metric.base import Metric, MetricMetadata, Numeric, Stateful
from burnish.metric.composite import UpdatePlan
from burnish.metric.entry import MetricEntry

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
        for name, metric in named:
            key = f"{prefix}{name}{postfix}"
            if key in self._metrics:
                raise ValueError(
                    f"metric names must be distinct; {key!r} appears more than once (pass "
                    "name=... to tell them apart, or a mapping of names)"
                )
            self._metrics[key] = metric
            self._names[key] = name
        self._plan = UpdatePlan(self._metrics.values())

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
        for metric, input_type in self._plan.leaves():
            check_adaptable(output_type, input_type, metric.name)

    def update(
        self, output: object, metadata: MetricMetadata | None = None
    ) -> dict[str, MetricEntry]:
        """Update every metric with ``output`` (adapted once per input type), each distinct
        metric once."""
        metadata = MetricMetadata.fake() if metadata is None else metadata
        return dict(zip(self._metrics, self._plan.update(output, metadata), strict=True))

    @property
    def plan(self) -> UpdatePlan:
        """How the metrics update, each distinct one once a step (what a learner's metric
        processor updates blocks of steps with)."""
        return self._plan

    def compute(self) -> dict[str, MetricEntry]:
        """Every metric's epoch entry (over every process of a distributed run: :meth:`synced`)."""
        return {key: metric.compute() for key, metric in self.synced().items()}

    def values(self) -> dict[str, float]:
        """The numeric metrics' epoch values (NaN: none yet), over every process of a
        distributed run; text metrics are left out."""
        return {
            key: metric.running_value().value
            for key, metric in self.synced().items()
            if isinstance(metric, Numeric)
        }

    def synced(self) -> MetricCollection:
        """The collection as :meth:`compute` reads it: in a distributed run, a copy holding each
        metric synced over its ``process_group`` (one sync for all the metrics of a group; see
        :mod:`burnish.distributed.sync`), else the collection itself. A collective: every
        process calls it. The metrics themselves keep their own process's state.
        """
        views = compute_views(list(self._metrics.values()))
        if all(view is metric for view, metric in zip(views, self._metrics.values(), strict=True)):
            return self
        clone = copy.copy(self)
        clone._metrics = dict(zip(self._metrics, views, strict=True))
        return clone

    def clear(self) -> None:
        for metric in self._metrics.values():
            metric.clear()

    reset = clear

    def clone(self, *, prefix: str | None = None, postfix: str | None = None) -> MetricCollection:
        """An independent copy, state included (as TorchMetrics' ``clone``), optionally
        renamed: ``collection.clone(prefix="valid/")``; ``reset()`` it to start afresh."""
        # One copy of them all: metrics shared by composites stay shared in the copy.
        metrics = copy.deepcopy({self._names[key]: m for key, m in self._metrics.items()})
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
