"""The top-k accuracy metric (Burn's ``TopKAccuracyMetric``, with its ``pad_token``)."""

from __future__ import annotations

from burnish.adaptor import TopKAccuracyInput
from burnish.functional.topk import topk_accuracy_counts
from burnish.metric.base import STANDALONE, MetricMetadata
from burnish.metric.confusion import DecisionRule, TaskChecks, check_top_k
from burnish.metric.entry import FormatOptions, MetricEntry
from burnish.metric.state import NumericMetricState, NumericStateMetric
from burnish.metric.validation import expect_input

__all__ = ["TopKAccuracyMetric"]


class TopKAccuracyMetric(NumericStateMetric[NumericMetricState]):
    """The percentage of items whose target is among their ``k`` highest scores.

    Scores ``(N, C)`` may be logits or probabilities (top-k is unchanged by a monotonic
    activation); ties are broken as :func:`torch.topk` breaks them (``k=1``: the first maximum,
    like :class:`~burnish.metric.AccuracyMetric`). Items whose target is ``pad_token`` are
    ignored; the epoch value is hits / counted items over the whole epoch.
    """

    input_type = TopKAccuracyInput
    higher_is_better = True

    def __init__(self, k: int, pad_token: int | None = None, name: str | None = None) -> None:
        self.name = f"Top-{k} Accuracy" if name is None else name
        DecisionRule("multiclass", top_k=k).check(self.name)
        self.k = k
        self.pad_token = pad_token
        self._checks = TaskChecks(self.name, "multiclass", probabilities=False)
        self._rule = DecisionRule("multiclass", top_k=k)
        self._state = NumericMetricState(
            FormatOptions(self.name).unit("%").precision(2), self._checks, scale=100.0
        )

    def update(self, item: TopKAccuracyInput, metadata: MetricMetadata = STANDALONE) -> MetricEntry:
        item = expect_input(self.name, item, TopKAccuracyInput)
        outputs, targets = item.outputs, item.targets
        self._checks.watch(item, outputs, targets, self.pad_token)
        check_top_k(self.name, self.k, outputs)
        # Shared with precision/recall top-k rules (and, for k=1, with AccuracyMetric's argmax).
        top = self._rule.decide(item, outputs)
        correct, count = topk_accuracy_counts(top, targets, self.pad_token)
        return self._state.update(correct, count)
