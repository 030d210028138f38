"""Ranking metrics: AUROC and average precision (Burn's ``AurocMetric`` and ``AucPrMetric``).

Exact by default: every batch's scores are kept (a
:class:`~burnish.metric.predictions.PredictionAccumulator`) and the epoch value is computed from
all of them, ties handled exactly as scikit-learn's ``roc_auc_score`` /
``average_precision_score``. With ``bins=B`` the metric instead keeps per-class histograms of
``B`` score bins (:class:`~burnish.metric.predictions.ScoreHistogram`, built with
``scatter_add_``): its memory does not grow with the number of samples, and its value is the
exact value of the scores rounded down to the thresholds ``j / (B - 1)``.

Tasks: ``binary`` (scores ``(N,)``, 0/1 targets), ``multiclass`` (scores ``(N, C)``, class
indices ``(N,)``, one-vs-rest) and ``multilabel`` (scores and 0/1 targets ``(N, L)``). Averages:
``macro``, ``weighted`` (by each class's positives), ``micro`` (all columns as one binary
problem) and ``none`` (per class; the numeric value is then their mean). A class without
positives or without negatives in the epoch has no AUROC (one without positives no average
precision): it is left out of the averages and shown as n/a; the value is n/a when no class is
defined (scikit-learn raises, or warns and returns 0, there).

Logits or probabilities: a ranking is unchanged by a monotonic activation, so exact binary and
multilabel metrics take either. One-vs-rest scores of a multiclass model are not: the softmax
reorders items within a class column, so ``softmax=True`` applies it to logits before ranking.
Without it, multiclass scores must be probabilities on the simplex (within ``[0, 1]``, each row
summing to 1 within 0.01, as scikit-learn requires): other scores are reported as an error,
naming ``softmax=True``, at the next read. They are never softmaxed silently, as TorchMetrics
does with scores outside ``[0, 1]`` (and not with unnormalised scores within it): scores that
are not probabilities are most often a missing ``softmax=True``, and ranking them as given
or softmaxing them without saying so would both report a number the user did not mean.
Binned metrics need probabilities, as their bins span ``[0, 1]``: pass ``sigmoid=True``
(binary, multilabel) to give logits; scores outside ``[0, 1]`` otherwise are reported as an
error at the next read.

Values are fractions in ``[0, 1]`` shown with 4 decimals. Update entries show the batch's value
(computed only when read); :meth:`running_value` is the epoch's value, a ``final`` entry (cached
until the next update, since the exact value sorts every sample seen).
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, get_args

import torch
from typing_extensions import Self

from burnish.adaptor import AurocInput
from burnish.distributed.sync import StateSync, SyncOnCompute, compute_view
from burnish.functional.binned import binned_counts, binned_ranking_scores
from burnish.functional.confusion import Task
from burnish.functional.ranking import (
    RankingAverage,
    average_ranking_scores,
    one_vs_rest,
    ranking_scores,
    rows_ranking_scores,
)
from burnish.metric.arithmetic import NumericMetricMixin
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock
from burnish.metric.confusion import TaskChecks
from burnish.metric.dtypes import widen
from burnish.metric.entry import (
    BlockEntries,
    BlockResult,
    FormatOptions,
    LogText,
    MetricEntry,
    NumericEntry,
    StepNumbers,
    Text,
)
from burnish.metric.mixins import check_state
from burnish.metric.predictions import PredictionAccumulator, ScoreHistogram
from burnish.metric.values import format_values, nan_mean, read_checked, read_values

__all__ = ["AucPrMetric", "AurocMetric", "UndefinedMetricWarning"]


class UndefinedMetricWarning(UserWarning):
    """A value is undefined for the epoch's data (scikit-learn's warning of the same name):
    an AUROC of a column whose targets are all of one class, an average precision of one
    without positives. The column shows n/a and is left out of the averages."""


_NO_STEP_VALUE = NumericEntry(math.nan, 0, "aggregated")


class _RankingMetric(BlockUpdateMixin[AurocInput], NumericMetricMixin, SyncOnCompute):
    """What AUROC and average precision share; ``_which`` picks the curve (0 ROC, 1 PR)."""

    _which: int
    _title: str
    input_type = AurocInput
    higher_is_better = True
    state_reductions: ClassVar[dict[str, StateSync]] = {
        "_accumulator": "nested",
        "_histogram": "nested",
        "_checks": "nested",
    }

    def __init__(
        self,
        task: Task = "binary",
        average: RankingAverage = "macro",
        *,
        bins: int | None = None,
        sigmoid: bool = False,
        softmax: bool = False,
        name: str | None = None,
    ) -> None:
        if name is None:
            label = "Per-class" if average == "none" else average.title()
            name = self._title if task == "binary" else f"{label} {self._title}"
        self.name = name
        if task not in get_args(Task):
            raise ValueError(f"{name}: expected a task among {get_args(Task)}, received {task!r}")
        if average not in get_args(RankingAverage):
            raise ValueError(
                f"{name}: expected an average among {get_args(RankingAverage)}, received "
                f"{average!r}"
            )
        if bins is not None and (isinstance(bins, bool) or not isinstance(bins, int) or bins < 2):
            raise ValueError(f"{name}: expected bins as an int >= 2 (or None), received {bins!r}")
        if softmax and task != "multiclass":
            raise ValueError(f"{name}: softmax=True applies to multiclass scores, task is {task!r}")
        if sigmoid and task == "multiclass":
            raise ValueError(
                f"{name}: sigmoid=True applies to binary or multilabel scores; use softmax=True "
                "for multiclass logits"
            )
        self.task: Task = task
        self.average: RankingAverage = "micro" if task == "binary" else average
        self.bins = bins
        self.sigmoid = sigmoid
        self.softmax = softmax
        hint = "pass softmax=True" if task == "multiclass" else "pass sigmoid=True"
        simplex = task == "multiclass" and not softmax
        needs_probabilities = simplex or (bins is not None and not (sigmoid or softmax))
        self._checks = TaskChecks(
            name, task, probabilities=needs_probabilities, hint=hint, simplex=simplex
        )
        self._options = FormatOptions(name).precision(4)
        self._accumulator = PredictionAccumulator()
        self._histogram = ScoreHistogram()
        self._last: Callable[[], tuple[torch.Tensor, ...]] = _no_batch
        self._cached: tuple[tuple[torch.Tensor, ...], list[float]] | None = None
        # Shared by the synced copies that compute() reads (shallow copies): one warning.
        self._warned: list[bool] = [False]

    @classmethod
    def binary(
        cls, *, bins: int | None = None, sigmoid: bool = False, name: str | None = None
    ) -> Self:
        """Scores ``(N,)`` and 0/1 targets ``(N,)``."""
        return cls("binary", bins=bins, sigmoid=sigmoid, name=name)

    @classmethod
    def multiclass(
        cls,
        average: RankingAverage = "macro",
        *,
        bins: int | None = None,
        softmax: bool = False,
        name: str | None = None,
    ) -> Self:
        """Scores ``(N, C)`` and class indices ``(N,)``, one class against the rest."""
        return cls("multiclass", average, bins=bins, softmax=softmax, name=name)

    @classmethod
    def multilabel(
        cls,
        average: RankingAverage = "macro",
        *,
        bins: int | None = None,
        sigmoid: bool = False,
        name: str | None = None,
    ) -> Self:
        """Scores and 0/1 targets ``(N, L)``, one column per label."""
        return cls("multilabel", average, bins=bins, sigmoid=sigmoid, name=name)

    @property
    def state_nbytes(self) -> int:
        """Bytes of epoch state: grows with samples when exact, fixed when binned."""
        return self._histogram.nbytes if self.bins is not None else self._accumulator.nbytes

    def _activate(self, scores: torch.Tensor) -> torch.Tensor:
        scores = widen(scores)
        if self.softmax:
            return scores.softmax(dim=1)
        return scores.sigmoid() if self.sigmoid else scores

    def update_block(
        self, block: InputBlock[AurocInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        scores, targets, segments = self._checks.join_block(block, "predictions", "targets")
        state_of = self._add(block, scores, targets)
        self._last = functools.partial(state_of, segments.slice(segments.steps - 1))
        if segments.steps == 1:
            # A step alone (a metric's own update()): its entry is rendered as other steps'
            # alone are, with no block of entries to build.
            step = functools.partial(self._render_update, self._last)
            return [MetricEntry.deferred(self.name, (), step, self._checks)]
        reader = _RankingSteps(self, self._last, segments.steps)
        return BlockEntries(self.name, segments.steps, (), (), reader, self._checks)

    def _add(
        self, block: InputBlock[AurocInput], scores: torch.Tensor, targets: torch.Tensor
    ) -> Callable[[slice], tuple[torch.Tensor, ...]]:
        """Add the items (a block's joined tensors, detached) to the epoch's state; what gives
        the state tensors of a slice of them (a step's), when a reader asks."""
        joined = (scores, targets)
        if self.bins is None:
            self._accumulator.append(*joined)
            return functools.partial(_sliced, joined)
        what = ("ranking-histogram", self.task, self.bins, self.sigmoid, self.softmax)
        counts = block.derive(
            what, ("predictions", "targets"), functools.partial(self._histogram_of, *joined)
        )
        self._histogram.add(counts, scores.shape[0])
        return functools.partial(self._binned_slice, joined, counts)

    def _binned_slice(
        self, tensors: tuple[torch.Tensor, torch.Tensor], counts: torch.Tensor, items: slice
    ) -> tuple[torch.Tensor, ...]:
        if items == slice(None):
            return (counts,)
        return (self._histogram_of(*_sliced(tensors, items)),)

    def _histogram_of(self, scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        assert self.bins is not None
        probabilities = self._activate(scores)
        if self.task == "multiclass":  # each item's class, not a mask of them all
            return binned_counts(probabilities, targets, self.bins)
        positives = one_vs_rest(probabilities, targets, self.task)
        return binned_counts(probabilities.reshape(positives.shape), positives, self.bins)

    def _values(self, tensors: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-column values (or one micro value) from the state's tensors, on their device,
        and how many columns are undefined ``(1,)``."""
        if self.bins is not None:
            (counts,) = tensors
            if self.average == "micro":
                counts = counts.sum(dim=1, keepdim=True)
            result = binned_ranking_scores(counts)
        else:
            *rows, targets = tensors
            wanted = {"with_auroc": self._which == 0, "with_ap": self._which == 1}
            if self.average == "micro":
                probabilities = self._activate(torch.cat(rows) if len(rows) > 1 else rows[0])
                positives = one_vs_rest(probabilities, targets, self.task).reshape(-1, 1)
                result = ranking_scores(probabilities.reshape(-1, 1), positives, **wanted)
            else:
                result = rows_ranking_scores(rows, targets, self.task, self._activate, **wanted)
        values = result[self._which]
        undefined = values.isnan().sum().reshape(1)
        if self.average in ("micro", "none"):
            return values, undefined
        return average_ranking_scores(values, result[2], self.average).reshape(1), undefined

    def _render_update(
        self, batch_state: Callable[[], tuple[torch.Tensor, ...]], host: Sequence[list[float]]
    ) -> tuple[Text, NumericEntry]:
        def formatted() -> str:
            (batch,) = read_values([self._values(batch_state())[0]])
            return f"batch {format_values(self._options, batch)}"

        # A step logs no value: one batch's ranking says little about the epoch's, and ranking
        # every step would cost the reader far more than the step itself.
        return formatted, _NO_STEP_VALUE

    def _read(self, tensors: Sequence[torch.Tensor], *, epoch: bool = False) -> list[float]:
        if not tensors:
            read_checked([], self._checks)
            return [math.nan]
        values, (undefined,) = read_checked(list(self._values(tensors)), self._checks)
        if epoch and undefined and not self._warned[0]:
            self._warned[0] = True
            self._warn(int(undefined))
        return values

    def _warn(self, undefined: int) -> None:
        """Say once per metric that columns of an epoch had one class only: a silent n/a would
        read as a missing value rather than as data that cannot rank."""
        lacking = "positives or negatives" if self._which == 0 else "positives"
        if self.task == "binary" or self.average == "micro":
            message = f"{self.name} is undefined: the epoch's targets lack {lacking}; it is n/a"
        else:
            columns = "label" if self.task == "multilabel" else "class"
            columns += "" if undefined == 1 else ("s" if columns == "label" else "es")
            message = (
                f"{self.name} is undefined for {undefined} {columns} whose one-vs-rest targets "
                f"lack {lacking} in the epoch; they are n/a and left out of the average"
            )
        message += " (warned once per metric)"
        warnings.warn(message, UndefinedMetricWarning, stacklevel=5)

    def epoch_values(self) -> list[float]:
        """The epoch's value: one number, or one per class for ``average="none"``."""
        state: tuple[torch.Tensor, ...]
        if self.bins is not None:
            counts = self._histogram.counts
            state = () if counts is None else (counts,)
        else:
            kept = self._accumulator.batches()
            state = () if kept is None else (*kept[0], kept[1])
        # Cached by the state's tensors, which every update replaces, so that a synced copy of
        # this metric (holding other tensors) never reads this process's value.
        cached = self._cached
        if cached is not None and _same_tensors(cached[0], state):
            read_checked([], self._checks)  # deferred checks still run on every read
            return cached[1]
        values = self._read(state, epoch=True)
        self._cached = (state, values)
        return values

    def value(self) -> float:
        """The latest batch's value; NaN before the first update."""
        return nan_mean(self._read(self._last()))

    def running_value(self) -> NumericEntry:
        """The epoch's value so far, a ``final`` entry; NaN in an empty epoch."""
        return NumericEntry(nan_mean(self.epoch_values()), self._items(), "final")

    def compute(self) -> MetricEntry:
        view = compute_view(self)
        values = view.epoch_values()
        entry = NumericEntry(nan_mean(values), view._items(), "final")
        return MetricEntry(self.name, format_values(self._options, values), entry.serialize())

    def _items(self) -> int:
        return self._histogram.items if self.bins is not None else self._accumulator.items

    def clear(self) -> None:
        self._accumulator.clear()
        self._histogram.clear()
        self._checks.clear()
        self._last = _no_batch
        self._cached = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "accumulator": self._accumulator.state_dict(),
            "histogram": self._histogram.state_dict(),
            "checks": self._checks.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state)
        self.clear()
        self._accumulator.load_state_dict(state["accumulator"])
        self._histogram.load_state_dict(state["histogram"])
        self._checks.load_state_dict(state["checks"])


class _RankingSteps:
    """How a block of a ranking metric reads: a step's number is none (see
    ``_render_update``), and the last step's text ranks its own items."""

    def __init__(
        self,
        metric: _RankingMetric,
        last: Callable[[], tuple[torch.Tensor, ...]],
        steps: int,
    ) -> None:
        self.metric = metric
        self.last = last
        self.steps = steps

    def numbers(self, host: Sequence[list[float]]) -> StepNumbers:
        none = _NO_STEP_VALUE
        return StepNumbers([none.value] * self.steps, [none.count] * self.steps, none.kind)

    def last_texts(self, host: Sequence[list[float]]) -> tuple[Text, LogText]:
        return self.metric._render_update(self.last, host)


def _no_batch() -> tuple[torch.Tensor, ...]:
    return ()


def _sliced(tensors: tuple[torch.Tensor, ...], step: slice) -> tuple[torch.Tensor, ...]:
    return tuple(tensor[step] for tensor in tensors)


def _same_tensors(first: Sequence[torch.Tensor], second: Sequence[torch.Tensor]) -> bool:
    return len(first) == len(second) and all(a is b for a, b in zip(first, second, strict=True))


class AurocMetric(_RankingMetric):
    """Area under the ROC curve (see the module text for tasks, averages, ties, binning and
    logits vs probabilities)."""

    _which = 0
    _title = "AUROC"


class AucPrMetric(_RankingMetric):
    """Average precision, the area under the precision-recall curve as scikit-learn's
    ``average_precision_score`` computes it (see the module text)."""

    _which = 1
    _title = "AUC-PR"
