"""Multilabel exact match (TorchMetrics' ``MultilabelExactMatch``, scikit-learn's
``accuracy_score`` on indicator matrices): subset accuracy."""

from __future__ import annotations

from collections.abc import Sequence

from burnish.adaptor import HammingScoreInput
from burnish.functional.exact_match import exact_matches
from burnish.metric.base import MetricMetadata
from burnish.metric.block import InputBlock
from burnish.metric.entry import BlockResult
from burnish.metric.hamming import ThresholdedLabelsMetric

__all__ = ["MultilabelExactMatchMetric"]


class MultilabelExactMatchMetric(ThresholdedLabelsMetric):
    """The percentage of items whose labels are all predicted correctly (subset accuracy).

    Scores ``(N, L)`` are probabilities, a label predicted when its score is above
    ``threshold``; pass ``sigmoid=True`` to give logits (scores outside ``[0, 1]`` without it are
    reported as an error at the next read). Targets ``(N, L)`` are 0/1 (any dtype). The epoch
    value is the items matched over the epoch's items; TorchMetrics gives the same as a
    fraction.
    """

    title = "Exact Match"

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
