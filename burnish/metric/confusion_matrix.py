"""The confusion matrix, a text metric (shown, not plotted): Burn's ``ConfusionMatrix``."""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from typing_extensions import Self

from burnish.adaptor import ConfusionStatsInput
from burnish.distributed.sync import StateSync, SyncOnCompute, compute_view
from burnish.functional.confusion import confusion_matrix
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock
from burnish.metric.confusion import DecisionRule, TaskChecks
from burnish.metric.entry import BlockEntries, BlockResult, MetricEntry, StepNumbers, Text
from burnish.metric.mixins import MetricMixin, check_state
from burnish.metric.values import read_checked

__all__ = ["ConfusionMatrixMetric", "format_matrix"]


def format_matrix(rows: Sequence[Sequence[int]], labels: Sequence[str] | None = None) -> str:
    """A small text table: one row per target class, one column per predicted class."""
    size = len(rows)
    names = [str(index) for index in range(size)] if labels is None else list(labels)
    corner = "true\\pred"
    cells = [[str(value) for value in row] for row in rows]
    width = max([len(name) for name in names] + [len(cell) for row in cells for cell in row] + [1])
    head = max(len(corner), *(len(name) for name in names)) if names else len(corner)
    lines = [f"{corner:>{head}} " + " ".join(f"{name:>{width}}" for name in names)]
    lines += [
        f"{names[index]:>{head}} " + " ".join(f"{cell:>{width}}" for cell in row)
        for index, row in enumerate(cells)
    ]
    return "\n".join(lines)


class ConfusionMatrixMetric(BlockUpdateMixin[ConfusionStatsInput], MetricMixin, SyncOnCompute):
    """Counts of (target class, predicted class) pairs over the epoch, as a text table.

    ``multiclass()``: scores ``(N, C)`` (logits or probabilities; the argmax is the prediction)
    and class indices ``(N,)``. ``binary(threshold)``: scores ``(N,)`` above ``threshold`` are
    class 1 (probabilities, or logits with ``sigmoid=True``) and 0/1 targets. Rows are targets,
    columns predictions. The entry's display text is the table, its log text the matrix as JSON;
    :meth:`matrix` returns the epoch's matrix as a tensor.
    """

    input_type = ConfusionStatsInput
    state_reductions: ClassVar[dict[str, StateSync]] = {"_matrix": "sum", "_checks": "nested"}

    def __init__(self, rule: DecisionRule | None = None, name: str = "Confusion Matrix") -> None:
        rule = DecisionRule() if rule is None else rule
        self.name = name
        rule.check(name)
        if rule.task == "multilabel" or rule.top_k != 1:
            raise ValueError(
                f"{name}: expected a binary or a top-1 multiclass rule, received {rule!r}"
            )
        self.rule = rule
        self._checks = TaskChecks(
            name, rule.task, probabilities=rule.task == "binary" and not rule.sigmoid
        )
        self._matrix: torch.Tensor | None = None

    @classmethod
    def binary(
        cls, threshold: float = 0.5, *, sigmoid: bool = False, name: str = "Confusion Matrix"
    ) -> Self:
        return cls(DecisionRule("binary", threshold=threshold, sigmoid=sigmoid), name)

    @classmethod
    def multiclass(cls, *, name: str = "Confusion Matrix") -> Self:
        return cls(DecisionRule("multiclass"), name)

    def update_block(
        self, block: InputBlock[ConfusionStatsInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`): a display
        shows the last step's matrix, the epoch's so far."""
        scores, targets, segments = self._checks.join_block(block, "predictions", "targets")
        decided = self.rule.decide(block, "predictions").reshape(-1)
        if self.rule.task == "multiclass":
            classes = scores.shape[1]
            safe_targets = targets.clamp(0, classes - 1)
        else:
            classes = 2
            safe_targets = (targets.reshape(-1) != 0).long()
        batch = confusion_matrix(decided, safe_targets, classes)
        # Out of place: entries handed out keep the matrix they were given.
        self._matrix = batch if self._matrix is None else self._matrix + batch
        reader = _MatrixSteps(classes, segments.steps)
        return BlockEntries(self.name, segments.steps, (), (self._matrix,), reader, self._checks)

    def matrix(self) -> torch.Tensor | None:
        """The epoch's ``(C, C)`` counts (rows: targets); ``None`` before the first update.

        Raises ``ValueError`` for a deferred input error, as every read does.
        """
        read_checked([], self._checks)
        return self._matrix

    def compute(self) -> MetricEntry:
        """The epoch's table; ``n/a`` in an empty epoch."""
        view = compute_view(self)
        matrix, checks = view._matrix, view._checks
        if matrix is None:
            read_checked([], checks)
            return MetricEntry(self.name, "n/a", "null")
        classes = int(matrix.shape[0])
        (values,) = read_checked([matrix], checks)
        rows = [[int(v) for v in values[i * classes : (i + 1) * classes]] for i in range(classes)]
        formatted, serialized = format_matrix(rows), json.dumps(rows)
        return MetricEntry(self.name, formatted, serialized)

    def clear(self) -> None:
        self._matrix = None
        self._checks.clear()

    def state_dict(self) -> dict[str, Any]:
        return {"matrix": self._matrix, "checks": self._checks.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state)
        self._matrix = state["matrix"]
        self._checks.load_state_dict(state["checks"])


class _MatrixSteps:
    """How a block of a confusion matrix reads: a text metric, without numbers; the last
    step's texts are the epoch's matrix so far."""

    def __init__(self, classes: int, steps: int) -> None:
        self.classes = classes
        self.steps = steps

    def numbers(self, host: Sequence[list[float]]) -> StepNumbers:
        return StepNumbers([math.nan] * self.steps, [0] * self.steps, "value")

    def last_texts(self, host: Sequence[list[float]]) -> tuple[Text, Text]:
        (values,) = host
        classes = self.classes
        rows = [[int(v) for v in values[i * classes : (i + 1) * classes]] for i in range(classes)]
        return functools.partial(format_matrix, rows), functools.partial(json.dumps, rows)
