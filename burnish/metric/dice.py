"""The Dice score for segmentation (Burn's ``DiceMetric``, behind its ``vision`` feature),
with TorchMetrics' ``DiceScore`` values for global aggregation.

A :class:`~burnish.adaptor.DiceInput` (fed by a :class:`~burnish.output.SegmentationOutput`):
scores ``(N, C, H, W)``, each pixel predicted as its best class (logits or probabilities alike),
or binary scores ``(N, H, W)`` above a threshold; targets ``(N, H, W)`` of class indices. Per
class, the epoch's counts are summed (twice the pixels where prediction and target are the
class, and the pixels where either is) and Dice is computed from the sums: TorchMetrics'
``aggregation_level="global"``. (TorchMetrics' default, ``"samplewise"``, averages each image's
Dice instead; it is not offered here.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, cast, get_args

import torch
from typing_extensions import Self

from burnish.adaptor import DiceInput
from burnish.functional.vision import dice_counts, dice_score
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock, Segments
from burnish.metric.confusion_state import ConfusionStatsState, SharedCounts
from burnish.metric.dtypes import widen
from burnish.metric.entry import BlockResult, FormatOptions
from burnish.metric.state import NumericStateMetric
from burnish.metric.validation import GuardBounds, RangeGuard, check_integer, describe
from burnish.metric.vision import joined_runs

__all__ = ["DiceAverage", "DiceMetric"]

DiceAverage = Literal["micro", "macro", "none"]
"""``micro``: Dice of the counts summed over classes; ``macro``: the mean of the classes'
Dice, over classes among the epoch's predictions or targets; ``none``: per class."""


class DiceMetric(BlockUpdateMixin[DiceInput], NumericStateMetric[ConfusionStatsState]):
    """The Dice score ``2 |P ∩ T| / (|P| + |T|)`` from the epoch's counts (see the module).

    :meth:`multiclass` (TorchMetrics' ``DiceScore(num_classes=C, average=...,
    aggregation_level="global", input_format="index")`` of the argmax) or :meth:`binary` (the
    foreground's Dice, class 1 of 2 without the background). ``include_background=False``
    leaves class 0 out. A class absent from both predictions and targets has no Dice (NaN,
    ``n/a``), and is left out of the macro mean, as TorchMetrics does. Values in ``[0, 1]``
    with 4 decimals. Scores must be finite (binary ones within ``[0, 1]`` unless
    ``sigmoid=True``), targets integers within ``[0, C)`` (0/1, or bool, for binary):
    checked when the metric is next read.
    """

    input_type = DiceInput
    higher_is_better = True

    def __init__(
        self,
        average: DiceAverage = "macro",
        *,
        include_background: bool = True,
        task: Literal["multiclass", "binary"] = "multiclass",
        threshold: float = 0.5,
        sigmoid: bool = False,
        name: str | None = None,
    ) -> None:
        binary = task == "binary"
        label = "Per-class" if average == "none" else average.title()
        self.name = name if name is not None else ("Dice" if binary else f"{label} Dice")
        if task not in ("multiclass", "binary"):
            raise ValueError(
                f"{self.name}: expected task 'multiclass' or 'binary', received {task!r}"
            )
        if average not in get_args(DiceAverage):
            raise ValueError(
                f"{self.name}: expected average among {get_args(DiceAverage)}, received {average!r}"
            )
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(
                f"{self.name}: expected a threshold within [0, 1] (a probability; pass "
                f"sigmoid=True to give logits), received {threshold!r}"
            )
        self.average: DiceAverage = "micro" if binary else average
        self.include_background = False if binary else include_background
        self.task = task
        self.threshold = threshold
        self.sigmoid = sigmoid
        if binary and not sigmoid:
            expected = "within [0, 1] (probabilities; pass sigmoid=True to give logits)"
            scores = RangeGuard(self.name, "scores", 0.0, 1.0, expected)
        else:
            scores = RangeGuard(self.name, "scores", -math.inf, math.inf, "that are finite")
        self._targets = RangeGuard(self.name, "targets", 0, 1, "within [0, 1]")
        self._checks = GuardBounds((scores, self._targets))
        skip = 0 if self.include_background else 1
        reduce_as = self.average

        def reduce(counts: torch.Tensor) -> torch.Tensor:
            return dice_score(counts[..., skip:], reduce_as)

        self._state = ConfusionStatsState(
            FormatOptions(self.name).precision(4), reduce, self._checks
        )

    @classmethod
    def multiclass(
        cls,
        average: DiceAverage = "macro",
        *,
        include_background: bool = True,
        name: str | None = None,
    ) -> Self:
        """Scores ``(N, C, H, W)`` and class indices ``(N, H, W)``: each pixel's best class."""
        return cls(average, include_background=include_background, name=name)

    @classmethod
    def binary(
        cls, threshold: float = 0.5, *, sigmoid: bool = False, name: str | None = None
    ) -> Self:
        """Scores ``(N, H, W)`` and 0/1 targets ``(N, H, W)``: a pixel is foreground when its
        score (after a sigmoid with ``sigmoid``) is above ``threshold``."""
        return cls(task="binary", threshold=threshold, sigmoid=sigmoid, name=name)

    def _classes(self, scores: torch.Tensor, targets: torch.Tensor) -> int:
        """Check shapes and dtypes now; the number of classes."""
        name = self.name
        if not scores.is_floating_point():
            raise TypeError(
                f"{name}: expected scores as floating point, received {describe(scores)}"
            )
        if targets.dtype != torch.bool:
            check_integer(name, "targets", targets)
        expected_ndim = 3 if self.task == "binary" else 4
        if scores.ndim != expected_ndim:
            form = "(N, H, W)" if self.task == "binary" else "(N, num_classes, H, W)"
            raise ValueError(
                f"{name}: expected scores of shape {form}, received {describe(scores)}"
            )
        spatial = scores.shape if self.task == "binary" else (scores.shape[0], *scores.shape[2:])
        if targets.shape != spatial:
            raise ValueError(
                f"{name}: expected targets of shape {tuple(spatial)} (N, H, W) for scores of "
                f"{describe(scores)}, received {describe(targets)}"
            )
        classes = 2 if self.task == "binary" else scores.shape[1]
        if not self.include_background and classes < 2:
            raise ValueError(
                f"{name}: expected at least 2 classes without the background, received scores "
                f"of {describe(scores)}"
            )
        counts = self._state.epoch_counts()
        if counts is not None and counts.shape[-1] != classes:
            raise ValueError(
                f"{name}: expected scores with {counts.shape[-1]} classes as in earlier batches, "
                f"received {classes}"
            )
        self._targets.high = classes - 1
        self._targets.expected = f"within [0, {classes - 1}] ({classes} classes)"
        return classes

    def _predicted(self, scores: torch.Tensor) -> torch.Tensor:
        if self.task != "binary":
            # max's indices are argmax's, at two thirds of its cost on a CPU.
            return scores.max(dim=1).indices
        probabilities = widen(scores).sigmoid() if self.sigmoid else scores
        return probabilities > self.threshold

    def update_block(
        self, block: InputBlock[DiceInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        try:
            sizes = {
                self._classes(scores, targets)
                for scores, targets in zip(
                    block.column("outputs"), block.column("targets"), strict=True
                )
            }
            if len(sizes) > 1:
                raise ValueError(f"{self.name}: the steps' numbers of classes differ: {sizes}")
        except (TypeError, ValueError) as error:
            block.check_failed(error)
            raise
        (classes,) = sizes
        segments = block.segments("outputs", "targets")
        runs = joined_runs(block, ("outputs", "targets"))
        key = ("dice-bounds", block.source("outputs"), block.source("targets"))
        bounds = block.memo(key, lambda: _bounds(runs))
        if bounds:
            self._checks.observe(bounds, (block, key))
        counts, shared = self._counts(block, runs, classes, segments)
        return self._state.update_steps(counts, segments.sizes, shared)

    def _counts(
        self,
        block: InputBlock[DiceInput],
        runs: list[tuple[torch.Tensor, ...]],
        classes: int,
        segments: Segments,
    ) -> tuple[torch.Tensor, SharedCounts]:
        """Each step's counts, once per block and decision rule however many Dice metrics
        ask (a micro and a macro one share them, and their running sums)."""
        binary = self.task == "binary"
        rule = ("dice-counts", binary, self.threshold if binary else None, self.sigmoid)
        key = (rule, block.source("outputs"), block.source("targets"))

        def count() -> torch.Tensor:
            total: torch.Tensor | None = None
            first = 0
            for scores, targets in runs:
                # Out-of-range targets are clamped so that counting never fails on the device;
                # the targets guard reports them.
                clamped = targets.long().clamp(0, classes - 1)
                last = first + targets.shape[0]
                steps = None if segments.steps == 1 else segments.step_of_item[first:last]
                counts = dice_counts(
                    self._predicted(scores), clamped, classes, steps, segments.steps
                )
                total = counts if total is None else total + counts
                first = last
            return cast("torch.Tensor", total)

        return block.memo(key, count), SharedCounts(block, key)

    def per_class(self) -> list[float]:
        """The epoch's Dice per class (``average="none"``; NaN for a class in neither
        predictions nor targets), or the single averaged value."""
        return self._state.epoch_values()


def _bounds(runs: list[tuple[torch.Tensor, ...]]) -> list[torch.Tensor]:
    """Each run's smallest and largest scores, then targets, one after the other."""
    bounds: list[torch.Tensor] = []
    for scores, targets in runs:
        if scores.numel():
            bounds += (*torch.aminmax(scores), *torch.aminmax(targets.long()))
    return bounds
