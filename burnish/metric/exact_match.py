"""Multilabel exact match (TorchMetrics' ``MultilabelExactMatch``, scikit-learn's
``accuracy_score`` on indicator matrices): subset accuracy."""

from __future__ import annotations

from collections.abc import Sequence

from burnish.adaptor import HammingScoreInput
from burnish.functional.exact_match import exact_matches
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock
from burnish.metric.confusion import DecisionRule, TaskChecks
from burnish.metric.entry import BlockResult, FormatOptions
from burnish.metric.state import NumericMetricState, NumericStateMetric

__all__ = ["MultilabelExactMatchMetric"]


class MultilabelExactMatchMetric(
    BlockUpdateMixin[HammingScoreInput], NumericStateMetric[NumericMetricState]
):
    """The percentage of items whose labels are all predicted correctly (subset accuracy).

    Scores ``(N, L)`` are probabilities, a label predicted when its score is above
    ``threshold``; pass ``sigmoid=True`` to give logits (scores outside ``[0, 1]`` without it are
    reported as an error at the next read). Targets ``(N, L)`` are 0/1 (any dtype). The epoch
    value is the items matched over the epoch's items; TorchMetrics gives the same as a
    fraction.
    """

    input_type = HammingScoreInput
    higher_is_better = True

    def __init__(
        self, threshold: float = 0.5, sigmoid: bool = False, name: str | None = None
    ) -> None:
        self.name = f"Exact Match @ Threshold({threshold:g})" if name is None else name
        self._rule = DecisionRule("multilabel", threshold=threshold, sigmoid=sigmoid)
        self._rule.check(self.name)
        self.threshold = threshold
        self.sigmoid = sigmoid
        self._checks = TaskChecks(self.name, "multilabel", probabilities=not sigmoid)
        self._state = NumericMetricState(
            FormatOptions(self.name).unit("%").precision(2), self._checks, scale=100.0
        )

    def update_block(
        self, block: InputBlock[HammingScoreInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        _, targets, segments = self._checks.join_block(block, "outputs", "targets")
        # The decisions are shared with the Hamming score and multilabel precision/recall of
        # the same threshold.
        decided = self._rule.decide(block, "outputs")
        rule = ("exact-match", self.threshold, self.sigmoid)
        matched = block.derive(
            rule, ("outputs", "targets"), lambda: exact_matches(decided, targets)
        )
        return self._state.update_steps(segments.sums(matched), segments.sizes)
