"""The Hamming score (Burn's ``HammingScore``): multilabel, label-based accuracy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from burnish.adaptor import HammingScoreInput
from burnish.functional.hamming import hamming_hits
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock
from burnish.metric.confusion import DecisionRule, TaskChecks
from burnish.metric.entry import BlockResult, FormatOptions
from burnish.metric.state import NumericMetricState, NumericStateMetric

__all__ = ["HammingScoreMetric"]


class ThresholdedLabelsMetric(
    BlockUpdateMixin[HammingScoreInput], NumericStateMetric[NumericMetricState]
):
    """What the Hamming score and exact match share: multilabel scores ``(N, L)`` decided at a
    threshold, their checks, and a percentage of the epoch's counts."""

    title: ClassVar[str]
    input_type = HammingScoreInput
    higher_is_better = True

    def __init__(
        self, threshold: float = 0.5, sigmoid: bool = False, name: str | None = None
    ) -> None:
        self.name = f"{self.title} @ Threshold({threshold:g})" if name is None else name
        self._rule = DecisionRule("multilabel", threshold=threshold, sigmoid=sigmoid)
        self._rule.check(self.name)
        self.threshold = threshold
        self.sigmoid = sigmoid
        self._checks = TaskChecks(self.name, "multilabel", probabilities=not sigmoid)
        self._state = NumericMetricState(
            FormatOptions(self.name).unit("%").precision(2), self._checks, scale=100.0
        )


class HammingScoreMetric(ThresholdedLabelsMetric):
    """The percentage of labels predicted correctly, ``100 * (1 - hamming_loss)``.

    Scores ``(N, L)`` are probabilities, a label predicted when its score is above
    ``threshold``; pass ``sigmoid=True`` to give logits (scores outside ``[0, 1]`` without it are
    reported as an error at the next read). Targets ``(N, L)`` are 0/1 (any dtype). The epoch
    value counts every label of the epoch alike.
    """

    title = "Hamming Score"

    def update_block(
        self, block: InputBlock[HammingScoreInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        outputs, targets, segments = self._checks.join_block(block, "outputs", "targets")
        # Shared with multilabel precision/recall/F-beta using the same threshold.
        hits = hamming_hits(self._rule.decide(block, "outputs"), targets)
        labels = outputs.shape[1]
        return self._state.update_steps(
            segments.sums(hits), [size * labels for size in segments.sizes]
        )
