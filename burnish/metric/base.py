"""The metric protocols, and what a metric is told about the step it is updated for.

Ported from Burn's ``burn-train`` ``metric/base.rs``: a metric is anything with a ``name``, an
``update(item, metadata) -> MetricEntry``, a ``compute() -> MetricEntry`` and a ``clear()``.
No base class is needed; the protocols are structural. What they return is in
:mod:`burnish.metric.entry`.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from burnish.metric.entry import MetricEntry, NumericEntry

__all__ = [
    "STANDALONE",
    "Metric",
    "MetricMetadata",
    "Numeric",
    "Progress",
    "Stateful",
    "input_type_of",
    "metric_name",
]


InputT_contra = TypeVar("InputT_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class Progress:
    """Items processed in the current split, out of ``items_total`` (``None`` when unknown)."""

    items_processed: int
    items_total: int | None


@dataclass(frozen=True, slots=True)
class MetricMetadata:
    """What a metric may want to know about the step it is updated for."""

    progress: Progress
    epoch: int
    epoch_total: int
    iteration: int
    lrs: tuple[float, ...] = ()

    @property
    def lr(self) -> float | None:
        """The learning rate of the first parameter group, as Burn's metadata carries it."""
        return self.lrs[0] if self.lrs else None

    @staticmethod
    def fake() -> MetricMetadata:
        """Metadata for updating a metric outside a learner."""
        return MetricMetadata(Progress(0, None), epoch=1, epoch_total=1, iteration=0)


STANDALONE = MetricMetadata.fake()
"""What a built-in metric's ``update(item)`` is given outside a learner."""


@runtime_checkable
class Stateful(Protocol):
    """A metric whose epoch state can be saved and restored (in a learner's checkpoints).

    The state holds tensors, numbers, lists and dicts only, so it loads with
    ``torch.load(..., weights_only=True)``.
    """

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class Metric(Protocol[InputT_contra]):
    """Burn's ``Metric`` trait: updated once per step with an adapted item.

    ``update`` returns the entry for the step (batch and running epoch value); ``compute``
    returns the epoch value; ``clear`` starts a new epoch. The type of ``item`` (the annotation
    of ``update``) is the input the learner adapts each step's output to; ``None`` means the
    metric needs no input (CPU use, learning rate), like Burn's ``Adaptor<()>``.
    """

    @property
    def name(self) -> str: ...

    def update(self, item: InputT_contra, metadata: MetricMetadata, /) -> MetricEntry: ...

    def compute(self) -> MetricEntry: ...

    def clear(self) -> None: ...


@runtime_checkable
class Numeric(Protocol):
    """A metric with a numeric value: what dashboards plot and strategies compare."""

    @property
    def higher_is_better(self) -> bool: ...

    def value(self) -> float:
        """The latest batch value; NaN before the first update."""
        ...

    def running_value(self) -> NumericEntry:
        """The epoch value so far, with the number of items it averages."""
        ...


def metric_name(metric: str | Metric[Any]) -> str:
    """A metric's name, given the metric or its name."""
    return metric if isinstance(metric, str) else metric.name


_UNSET: Any = object()


def input_type_of(metric: object) -> type[Any] | None:
    """The input a metric's ``update`` takes: its ``input_type`` attribute, else its annotation.

    Returns ``None`` for metrics that take no input. Raises ``TypeError`` naming the metric when
    neither tells.
    """
    declared = getattr(metric, "input_type", _UNSET)
    if declared is not _UNSET:
        return _as_input_type(metric, declared)
    update = getattr(type(metric), "update", None)
    if update is None:
        raise TypeError(f"{_metric_label(metric)} has no update(item, metadata) method")
    try:
        hints = typing.get_type_hints(update)
    except (NameError, TypeError) as error:
        raise TypeError(
            f"{_metric_label(metric)}: cannot read the type of update()'s item ({error}); "
            "annotate it or set an input_type attribute"
        ) from error
    parameters = list(inspect.signature(update).parameters)[1:2]
    if not parameters or parameters[0] not in hints:
        raise TypeError(
            f"{_metric_label(metric)}: update()'s item has no type annotation; annotate it with "
            "the input type it takes (or None) or set an input_type attribute"
        )
    return _as_input_type(metric, hints[parameters[0]])


def _as_input_type(metric: object, declared: object) -> type[Any] | None:
    if declared is None or declared is type(None):
        return None
    if declared is Any:
        # Any is a class since Python 3.11, and would otherwise reach the adaptor check as an
        # input type no output can be adapted to.
        raise TypeError(
            f"{_metric_label(metric)}: its input type is Any, which says nothing to adapt a "
            "step's output to: annotate update()'s item with the input class it takes (such as "
            "AccuracyInput or your own, or the output class to take outputs as they are; None "
            "for no input) or set an input_type attribute"
        )
    origin = typing.get_origin(declared) or declared
    if not isinstance(origin, type):
        raise TypeError(
            f"{_metric_label(metric)}: its input type must be a class or None, got {declared!r}"
        )
    return origin


def _metric_label(metric: object) -> str:
    name = getattr(metric, "name", None)
    kind = type(metric).__name__
    return f"metric {name!r} ({kind})" if isinstance(name, str) else f"metric {kind}"
