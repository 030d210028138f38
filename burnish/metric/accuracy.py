"""The accuracy metric (Burn's ``AccuracyMetric``, with its ``pad_token``)."""

from __future__ import annotations

from collections.abc import Sequence

from burnish.adaptor import AccuracyInput
from burnish.functional.accuracy import accuracy_hits
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock
from burnish.metric.confusion import TaskChecks, block_argmax
from burnish.metric.entry import BlockResult, FormatOptions
from burnish.metric.state import NumericMetricState, NumericStateMetric

__all__ = ["AccuracyMetric"]


class AccuracyMetric(BlockUpdateMixin[AccuracyInput], NumericStateMetric[NumericMetricState]):
    """The percentage of items whose highest score is at their target class.

    Scores ``(N, C)`` may be logits or probabilities (argmax is unchanged by either); ties go to
    the first maximum. Scores of ``-inf`` (masked classes) are accepted; NaN and ``+inf`` are
    reported as errors at the next read. Items whose target is ``pad_token`` are ignored
    (sequence models pad their targets). The epoch value is correct / counted over the whole
    epoch, so a half-padded batch weighs half.
    """

    input_type = AccuracyInput
    higher_is_better = True

    def __init__(self, pad_token: int | None = None, name: str = "Accuracy") -> None:
        self.name = name
        self.pad_token = pad_token
        self._checks = TaskChecks(name, "multiclass", probabilities=False, masks="accepted")
        self._state = NumericMetricState(
            FormatOptions(name).unit("%").precision(2), self._checks, scale=100.0
        )

    def update_block(
        self, block: InputBlock[AccuracyInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        _, targets, segments = self._checks.join_block(block, "outputs", "targets", self.pad_token)
        predicted = block_argmax(block, "outputs")
        correct, counted = accuracy_hits(predicted, targets, self.pad_token)
        counts = segments.sizes if counted is None else segments.sums(counted)
        return self._state.update_steps(segments.sums(correct), counts)
