"""The accuracy metric (Burn's ``AccuracyMetric``, with its ``pad_token``)."""

from __future__ import annotations

import math

from burnish.adaptor import AccuracyInput
from burnish.functional.accuracy import accuracy_counts
from burnish.metric.base import FormatOptions, MetricEntry, MetricMetadata
from burnish.metric.state import NumericMetricState, NumericStateMetric
from burnish.metric.validation import (
    RangeGuard,
    check_batch_sizes,
    check_integer,
    check_ndim,
    expect_input,
)

__all__ = ["AccuracyMetric"]


class AccuracyMetric(NumericStateMetric):
    """The percentage of items whose highest score is at their target class.

    Items whose target is ``pad_token`` are ignored (sequence models pad their targets). The
    epoch value is correct / counted over the whole epoch, so a half-padded batch weighs half.
    """

    input_type = AccuracyInput
    higher_is_better = True

    def __init__(self, pad_token: int | None = None, name: str = "Accuracy") -> None:
        self.name = name
        self.pad_token = pad_token
        self._scores = RangeGuard(name, "scores", -math.inf, math.inf, "that are finite")
        self._targets = RangeGuard(name, "targets", 0, math.inf, "within [0, num_classes)")
        self._state = NumericMetricState(
            FormatOptions(name).unit("%").precision(2), [self._scores, self._targets]
        )
        self._num_classes: int | None = None

    def _expect_classes(self, num_classes: int) -> None:
        if self._num_classes is None:
            self._num_classes = num_classes
            self._targets.high = num_classes - 1
            self._targets.expected = f"within [0, {num_classes - 1}] ({num_classes} classes)"
        elif num_classes != self._num_classes:
            raise ValueError(
                f"{self.name}: expected outputs with {self._num_classes} classes as in earlier "
                f"batches, received {num_classes}"
            )

    def update(self, item: AccuracyInput, metadata: MetricMetadata) -> MetricEntry:
        item = expect_input(self.name, item, AccuracyInput)
        outputs, targets = item.outputs, item.targets
        check_ndim(self.name, "outputs", outputs, (2,), "(N, num_classes)")
        check_ndim(self.name, "targets", targets, (1,), "(N,)")
        check_integer(self.name, "targets", targets)
        check_batch_sizes(self.name, ("outputs", outputs), ("targets", targets))
        self._expect_classes(outputs.shape[1])
        self._scores.observe(outputs)
        # Padding is mapped to class 0 rather than masked out: masking has a data-dependent
        # shape, which would synchronise with the device.
        counted = (
            targets if self.pad_token is None else targets.masked_fill(targets == self.pad_token, 0)
        )
        self._targets.observe(counted)
        predicted = item.memo("argmax", lambda: outputs.argmax(dim=1))
        correct, count = accuracy_counts(predicted, targets, self.pad_token)
        return self._state.update(100.0 * correct, count)

    def clear(self) -> None:
        super().clear()
        self._num_classes = None
