"""The top-k accuracy metric (Burn's ``TopKAccuracyMetric``, with its ``pad_token``)."""

from __future__ import annotations

from collections.abc import Sequence

from burnish.adaptor import TopKAccuracyInput
from burnish.functional.topk import topk_hits
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock
from burnish.metric.confusion import DecisionRule, TaskChecks, check_top_k
from burnish.metric.entry import BlockResult, FormatOptions
from burnish.metric.state import NumericMetricState, NumericStateMetric

__all__ = ["TopKAccuracyMetric"]


class TopKAccuracyMetric(
    BlockUpdateMixin[TopKAccuracyInput], NumericStateMetric[NumericMetricState]
):
    """The percentage of items whose target is among their ``k`` highest scores.

    Scores ``(N, C)`` may be logits or probabilities (top-k is unchanged by a monotonic
    activation); ties are broken as :func:`torch.topk` breaks them (``k=1``: the first maximum,
    like :class:`~burnish.metric.AccuracyMetric`). Scores of ``-inf`` (masked classes) are
    accepted; NaN and ``+inf`` are reported as errors at the next read. Items whose target is
    ``pad_token`` are ignored; the epoch value is hits / counted items over the whole epoch.
    """

    input_type = TopKAccuracyInput
    higher_is_better = True

    def __init__(self, k: int, pad_token: int | None = None, name: str | None = None) -> None:
        self.name = f"Top-{k} Accuracy" if name is None else name
        DecisionRule("multiclass", top_k=k).check(self.name)
        self.k = k
        self.pad_token = pad_token
        self._checks = TaskChecks(self.name, "multiclass", probabilities=False, masks="accepted")
        self._rule = DecisionRule("multiclass", top_k=k)
        self._state = NumericMetricState(
            FormatOptions(self.name).unit("%").precision(2), self._checks, scale=100.0
        )

    def update_block(
        self, block: InputBlock[TopKAccuracyInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        outputs, targets, segments = self._checks.join_block(
            block, "outputs", "targets", self.pad_token
        )
        try:
            check_top_k(self.name, self.k, outputs)
        except ValueError as error:
            block.check_failed(error)
            raise
        # Shared with precision/recall top-k rules (and, for k=1, with AccuracyMetric's argmax).
        hits = topk_hits(self._rule.decide(block, "outputs"), targets)
        if self.pad_token is None:
            return self._state.update_steps(segments.sums(hits), segments.sizes)
        counted = targets != self.pad_token
        return self._state.update_steps(segments.sums(hits & counted), segments.sums(counted))
