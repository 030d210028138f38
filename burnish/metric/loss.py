"""The loss metric (Burn's ``LossMetric``)."""

from __future__ import annotations

from collections.abc import Sequence

from burnish.adaptor import LossInput
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock
from burnish.metric.dtypes import widen
from burnish.metric.entry import BlockResult, FormatOptions
from burnish.metric.host import accumulator_dtype
from burnish.metric.state import NumericMetricState, NumericStateMetric
from burnish.metric.validation import check_ndim

__all__ = ["LossMetric"]


class LossMetric(BlockUpdateMixin[LossInput], NumericStateMetric[NumericMetricState]):
    """The mean loss, weighted by batch size over the epoch.

    A NaN or infinite loss is a value like any other here, and makes the mean NaN or infinite:
    what to do about it is the learner's non-finite loss policy
    (:meth:`~burnish.LearnerBuilder.on_nonfinite_loss`), not a check of the metric's.
    """

    input_type = LossInput
    higher_is_better = False

    def __init__(self, name: str = "Loss") -> None:
        self.name = name
        self._state = NumericMetricState(FormatOptions(name).precision(4))

    def update_block(
        self, block: InputBlock[LossInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`): mean losses
        weighted by their batch sizes, or per-item losses summed per step."""
        if all(tensor.ndim == 0 for tensor in block.column("tensor")):
            means = widen(block.stack("tensor"))
            sizes = [1 if size is None else size for size in block.column("batch_size")]
            return self._state.update_steps(means, sizes, is_mean=True)
        losses = widen(block.cat("tensor"))
        try:
            check_ndim(self.name, "the loss", losses, (0, 1), "() or (N,)")
        except ValueError as error:
            block.check_failed(error)
            raise
        segments = block.segments("tensor")
        # Summed in the accumulator's precision: then any grouping of the items in steps gives
        # the same sums.
        sums = segments.sums(losses, accumulator_dtype(losses.device))
        return self._state.update_steps(sums, segments.sizes)
