"""Per-class values named by class: TorchMetrics' ``ClasswiseWrapper``."""

from __future__ import annotations

from collections.abc import Sequence

from burnish.adaptor import StepAdaptations
from burnish.distributed.sync import compute_view
from burnish.metric.arithmetic import DerivedMetric, NumericMetricMixin, pick
from burnish.metric.base import MetricMetadata
from burnish.metric.composite import CompositeMetric
from burnish.metric.entry import FormatOptions, MetricEntry, NumericEntry, Text
from burnish.metric.operand import NumericMetric, PendingGroup, epoch_entry, step_texts
from burnish.metric.totals import Totals, totals_of
from burnish.metric.values import nan_mean

__all__ = ["Classwise"]


class Classwise(NumericMetricMixin, CompositeMetric):
    """A per-class metric's values, each named by its class's label.

    ``Classwise(PrecisionMetric.multiclass(reduction="none"), ["cat", "dog", "bird"])``: entries
    list every class by label (``cat: 0.9120, ...``), :meth:`values` gives ``{label: value}``
    for the epoch, and ``classwise["cat"]`` (or ``classwise[0]``) is one class as a metric. The
    numeric value is the mean of the defined classes, as the wrapped metric's. Wraps any numeric
    metric with one value per class: a built-in with ``reduction="none"`` (``average="none"``),
    a derived metric of those, a function metric returning one value per class. Without
    ``labels``, classes are named by index. The wrapped metric is an operand: registered beside
    it, it is still updated once per step.
    """

    def __init__(
        self, metric: NumericMetric, labels: Sequence[str] | None = None, *, name: str | None = None
    ) -> None:
        super().__init__([metric])
        self.metric = metric
        self.labels = None if labels is None else tuple(labels)
        self.name = metric.name if name is None else name
        self.higher_is_better = metric.higher_is_better
        self._options = FormatOptions(self.name).precision(4)

    def _labels(self, values: Sequence[float]) -> tuple[str, ...]:
        if self.labels is None:
            return tuple(str(index) for index in range(len(values)))
        if len(self.labels) != len(values):
            raise ValueError(
                f"{self.name}: {len(self.labels)} labels given for {len(values)} classes "
                f"({', '.join(self.labels)})"
            )
        return self.labels

    def combine(
        self, step: StepAdaptations, entries: Sequence[MetricEntry], metadata: MetricMetadata
    ) -> MetricEntry:
        self._updates += 1
        (reader,), (entry,) = self._readers, entries
        return PendingGroup([reader.step(entry)]).entry(self.name, self._render)

    def _render(self, group: PendingGroup, host: Sequence[list[float]]) -> tuple[Text, Text]:
        ((batch, epoch),) = group.decode(host)
        labels = None if epoch is None else self._labels(epoch)
        return step_texts(self._options, batch, epoch, labels=labels)

    def epoch_values(self) -> list[float]:
        """The epoch's value of every class, in class order."""
        ((_, running),) = self._now()
        return [] if running is None else running

    def values(self) -> dict[str, float]:
        """The epoch's value of every class, by label."""
        values = self.epoch_values()
        return dict(zip(self._labels(values), values, strict=True))

    def value(self) -> float:
        """The latest batch's mean over the defined classes; NaN before any."""
        ((batch, _),) = self._now()
        return nan_mean(batch)

    def running_value(self) -> NumericEntry:
        """The epoch's mean over the defined classes so far, a ``final`` entry."""
        return NumericEntry(nan_mean(self.epoch_values()), self._updates, "final")

    def compute(self) -> MetricEntry:
        """The epoch entry, over every process of a distributed run (see ``SyncOnCompute``)."""
        values = compute_view(self).epoch_values()
        return epoch_entry(self.name, self._options, values, self._updates, self._labels(values))

    def totals(self) -> Totals | None:
        """The wrapped metric's totals: naming classes changes none of its values."""
        # Through the reader, which a synced copy points at the synced metric.
        return totals_of(self._readers[0].metric)

    def __getitem__(self, index: int | str) -> DerivedMetric:
        """One class, by index or label, as a metric."""
        if isinstance(index, str):
            if self.labels is None or index not in self.labels:
                raise KeyError(f"{self.name}: no class labelled {index!r}")
            return pick(self, self.labels.index(index), index)
        return pick(self, index)
