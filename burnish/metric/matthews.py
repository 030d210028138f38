"""The Matthews correlation coefficient (TorchMetrics' ``MatthewsCorrCoef``, scikit-learn's
``matthews_corrcoef``), from the confusion counts precision and recall keep.

Multiclass: the coefficient of the epoch's ``C x C`` confusion matrix, computed from its
marginals and trace (each class's predicted, target and true-positive items), which are the
counts :func:`~burnish.metric.confusion.confusion_counts` gives for the argmax rule: a
precision, recall or F-beta of that rule and this metric count once per block and share their
running sums. Binary: the coefficient of the 2 x 2 matrix. Multilabel: TorchMetrics'
definition, the binary coefficient of the labels' 2 x 2 matrices summed (every label of every
item is one decision).

A zero denominator (a single class among the targets or among the predictions) gives 0, as
scikit-learn does; TorchMetrics gives 1 (binary, all decisions right) or -1 (all wrong) there,
and otherwise 0 or a value within 1e-3 of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from typing_extensions import Self

from burnish.adaptor import ConfusionStatsInput
from burnish.functional.confusion import matthews_from_counts, matthews_totals
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock, Segments
from burnish.metric.confusion import DecisionRule, TaskChecks, confusion_counts
from burnish.metric.confusion_state import ConfusionStatsState, SharedCounts
from burnish.metric.entry import BlockResult, FormatOptions
from burnish.metric.state import NumericStateMetric

__all__ = ["MatthewsCorrCoefMetric"]


class MatthewsCorrCoefMetric(
    BlockUpdateMixin[ConfusionStatsInput], NumericStateMetric[ConfusionStatsState]
):
    """The Matthews correlation coefficient, in ``[-1, 1]``, of the epoch's confusion counts.

    Decisions as precision and recall take them (:class:`~burnish.metric.confusion.DecisionRule`):
    ``binary(threshold)`` and ``multilabel(threshold)`` compare probabilities (``sigmoid=True``
    for logits; scores outside ``[0, 1]`` without it are an error at the next read),
    ``multiclass()`` predicts the argmax of logits or probabilities. See the module text for
    the multilabel definition and zero denominators.
    """

    input_type = ConfusionStatsInput
    higher_is_better = True

    def __init__(self, rule: DecisionRule | None = None, *, name: str | None = None) -> None:
        rule = DecisionRule() if rule is None else rule
        if name is None:
            name = "MCC" if rule.task == "binary" else f"{rule.task.title()} MCC"
        self.name = name
        rule.check(name)
        if rule.task == "multiclass" and rule.top_k != 1:
            raise ValueError(
                f"{name}: expected a multiclass rule with top_k=1 (the coefficient compares one "
                f"predicted class per item), received top_k={rule.top_k}"
            )
        self.rule = rule
        self._checks = TaskChecks(
            name, rule.task, probabilities=rule.task != "multiclass" and not rule.sigmoid
        )
        task = rule.task

        def reduce(counts: torch.Tensor) -> torch.Tensor:
            return matthews_from_counts(counts, task)

        self._state = ConfusionStatsState(FormatOptions(name).precision(4), reduce, self._checks)

    @classmethod
    def binary(
        cls, threshold: float = 0.5, *, sigmoid: bool = False, name: str | None = None
    ) -> Self:
        """Scores ``(N,)`` and 0/1 targets ``(N,)``, positive above ``threshold``."""
        return cls(DecisionRule("binary", threshold=threshold, sigmoid=sigmoid), name=name)

    @classmethod
    def multiclass(cls, *, name: str | None = None) -> Self:
        """Scores ``(N, C)`` and class indices ``(N,)``, the argmax predicted."""
        return cls(DecisionRule("multiclass"), name=name)

    @classmethod
    def multilabel(
        cls, threshold: float = 0.5, *, sigmoid: bool = False, name: str | None = None
    ) -> Self:
        """Scores ``(N, L)`` and 0/1 targets ``(N, L)``, each label decided by ``threshold``."""
        return cls(DecisionRule("multilabel", threshold=threshold, sigmoid=sigmoid), name=name)

    def update_block(
        self, block: InputBlock[ConfusionStatsInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        scores, _, segments = self._checks.join_block(block, "predictions", "targets")
        counts, shared = confusion_counts(block, self.rule, segments)
        if self.rule.task == "multiclass":
            return self._state.update_steps(counts, segments.sizes, shared)
        labels = 1 if scores.ndim == 1 else scores.shape[1]
        # The totals with the items counted, once per block and rule for every such metric.
        totals_of = SharedCounts(block, ("matthews-totals", shared.key))
        totals = totals_of.derive("totals", lambda: _totals(counts, segments, labels))
        return self._state.update_steps(totals, segments.sizes, totals_of)


def _totals(counts: torch.Tensor, segments: Segments, labels: int) -> torch.Tensor:
    device = counts.device
    items: torch.Tensor
    if segments.steps == 1:
        items = torch.full((), segments.items * labels, dtype=torch.long, device=device)
    else:
        # Built on the host, where the sizes are: the copy to the device waits for nothing.
        on_host = torch.tensor([size * labels for size in segments.sizes])
        items = on_host.to(device, non_blocking=True)
    return matthews_totals(counts, items)
