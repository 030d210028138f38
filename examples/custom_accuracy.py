"""A custom accuracy that ignores a class, as Ignite's documentation writes one.

Ignite's ``CustomAccuracy(ignored_class)`` drops the items whose target or prediction is the
ignored class, with boolean masks and ``.item()``. Here the items are weighed by a 0/1 mask
instead, so the batch never leaves the device, and the metric is small because it composes
burnish's ``NumericMetricState`` (the epoch's correct / counted, read when shown). As a built-in
metric it is numeric: it plots, and it takes arithmetic and wrappers.

Run: python -m examples.custom_accuracy
"""

from __future__ import annotations

from burnish import (
    AccuracyInput,
    AccuracyMetric,
    FormatOptions,
    MetricCollection,
    MetricEntry,
    MetricMetadata,
    NumericMetricState,
    NumericStateMetric,
)
from examples.digits_outputs import validation_outputs


class IgnoredClassAccuracy(NumericStateMetric[NumericMetricState]):
    """The fraction of items predicted right, leaving out those whose target or prediction is
    ``ignored_class``."""

    input_type = AccuracyInput
    higher_is_better = True

    def __init__(self, ignored_class: int, name: str | None = None) -> None:
        self.name = f"Accuracy without {ignored_class}" if name is None else name
        self.ignored_class = ignored_class
        self._state = NumericMetricState(FormatOptions(self.name).precision(4))

    def update(self, item: AccuracyInput, metadata: MetricMetadata) -> MetricEntry:
        predicted = item.outputs.argmax(dim=1)
        kept = (item.targets != self.ignored_class) & (predicted != self.ignored_class)
        correct = ((predicted == item.targets) & kept).sum()
        # The count is a tensor: how many items are kept is known only on the device.
        return self._state.update(correct, kept.sum())


def main() -> dict[str, float]:
    metrics = MetricCollection([IgnoredClassAccuracy(ignored_class=8), AccuracyMetric()])
    for output in validation_outputs():
        metrics.update(output)
    for name, entry in metrics.compute().items():
        print(f"{name}: {entry.formatted}")
    return metrics.values()


if __name__ == "__main__":
    main()
