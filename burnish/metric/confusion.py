"""Precision, recall and F-beta (Burn's ``PrecisionMetric``, ``RecallMetric``, ``FBetaScore``).

Each metric composes a
:class:`~burnish.metric.confusion_state.ConfusionStatsState`: per-class counts of
predicted items, target items (support) and true positives, summed over the epoch. The epoch
value is computed from those sums, never averaged over batches (Burn bug #2758).

Decision rules. ``binary(threshold)``: an item is positive when its score ``(N,)`` is above
``threshold``. ``multilabel(threshold)``: the same per label ``(N, L)``. ``multiclass(top_k)``:
each item predicts one class from its scores ``(N, C)``: the argmax for ``top_k=1``; for
``top_k > 1`` its target when the target is among its ``top_k`` highest scores, else its highest
(TorchMetrics' rule since 1.6, so that micro precision, recall and F-beta at ``k`` are the top-k
accuracy). Ties are broken as :func:`torch.argmax` / :func:`torch.topk` break them.

Logits or probabilities. Argmax and top-k are unchanged by any monotonic activation, so
multiclass metrics take logits or probabilities alike. Threshold rules compare probabilities:
pass ``sigmoid=True`` to give logits; scores outside ``[0, 1]`` without it are reported as an
error (suggesting ``sigmoid=True``) at the next read of the metric.

Values are fractions in ``[0, 1]`` shown with 4 decimals. Zero division gives 0 (scikit-learn's
``zero_division=0``). Reductions: ``micro`` (from counts summed over classes), ``macro`` (the
mean over the label set: for multiclass, classes that occur among targets or predictions, as
scikit-learn's ``unique_labels``; for multilabel, every label), ``weighted`` (by support) and
``none`` (per class: the entry lists every class, ``n/a`` outside the label set, and the numeric
value is their mean, i.e. the macro value). At ``top_k > 1`` the label set of precision and
recall is the classes that occur among targets, as TorchMetrics has it (see
:func:`~burnish.functional.confusion.macro_labels`). Binary metrics score the positive class.

Work shared by configuration: what a metric derives from a block (an argmax, a rule's
decisions, its counts, the checks' value ranges) is kept in the block's memo under what it is
and the fields of the outputs it reads (:meth:`~burnish.metric.block.InputBlock.derive`), so
Precision, Recall and F1 of one rule count once, and Accuracy shares their argmax.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, get_args

import torch
from typing_extensions import Self

from burnish.adaptor import ConfusionStatsInput
from burnish.distributed.sync import StateSync
from burnish.functional.confusion import (
    Reduction,
    ScoreKind,
    Task,
    best_classes,
    confusion_score,
    macro_labels,
    multiclass_counts,
    threshold_counts,
    top_k_predicted,
)
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock, Segments, detached
from burnish.metric.confusion_state import ConfusionStatsState, SharedCounts
from burnish.metric.dtypes import widen
from burnish.metric.entry import BlockResult, DeferredValue, FormatOptions
from burnish.metric.state import NumericStateMetric
from burnish.metric.validation import (
    GuardBounds,
    RangeGuard,
    check_batch_sizes,
    check_integer,
    check_ndim,
    describe,
)

__all__ = [
    "SIMPLEX_TOLERANCE",
    "DecisionRule",
    "FBetaScoreMetric",
    "Masks",
    "PrecisionMetric",
    "RecallMetric",
    "TaskChecks",
    "block_argmax",
    "check_top_k",
    "confusion_counts",
]


def block_argmax(block: InputBlock[Any], field: str) -> torch.Tensor:
    """The best class ``(N,)`` of each item of the block's ``field`` scores ``(N, C)``, once per
    block and field for accuracy and every top-1 rule."""
    return block.derive("argmax", (field,), lambda: best_classes(block.cat(field)))


@dataclass(frozen=True, slots=True)
class DecisionRule:
    """How scores become predictions; equal rules share their work within a block."""

    task: Task = "multiclass"
    threshold: float = 0.5
    top_k: int = 1
    sigmoid: bool = False

    def check(self, metric: str) -> None:
        """Raise ``ValueError`` naming ``metric`` for an impossible rule."""
        if self.task not in get_args(Task):
            raise ValueError(
                f"{metric}: expected a task among {get_args(Task)}, received {self.task!r}"
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(
                f"{metric}: expected a threshold within [0, 1] (a probability; pass sigmoid=True "
                f"to give logits), received {self.threshold!r}"
            )
        if isinstance(self.top_k, bool) or not isinstance(self.top_k, int) or self.top_k < 1:
            raise ValueError(f"{metric}: expected top_k as an int >= 1, received {self.top_k!r}")

    def decide(self, block: InputBlock[Any], field: str) -> torch.Tensor:
        """The decisions for the block's ``field`` scores, once per block, field and rule: the
        ``top_k`` best classes ``(N, top_k)``, best first, or whether each score is positive."""
        if self.task == "multiclass":
            if self.top_k == 1:
                return block_argmax(block, field).unsqueeze(1)
            return block.derive(
                ("topk", self.top_k),
                (field,),
                lambda: block.cat(field).topk(self.top_k, dim=1).indices,
            )
        what = ("threshold", self.threshold, self.sigmoid)
        return block.derive(what, (field,), lambda: self._positive(block.cat(field)))

    def _positive(self, scores: torch.Tensor) -> torch.Tensor:
        # Half-precision scores are widened: their sigmoid, and the threshold rounded to them,
        # would move decisions near the threshold.
        return (widen(scores).sigmoid() if self.sigmoid else widen(scores)) > self.threshold


Masks = Literal["rejected", "accepted", "partial"]

# How far from 1 a row of probabilities may sum: a softmax computed in half precision and
# rounded to it is off by up to a few thousandths; logits or unnormalised scores by far more.
SIMPLEX_TOLERANCE = 1e-2


class TaskChecks:
    """A metric's input checks for one task: shapes and dtypes now, values deferred.

    Scores must be finite; with ``probabilities`` they must lie in ``[0, 1]`` (``hint`` says how
    to give logits instead). ``masks``: whether ``-inf`` scores (masked logits) are
    ``"rejected"``, ``"accepted"`` (argmax and top-k are defined with them), or accepted in
    ``"partial"`` rows only, every row keeping a score above ``-inf`` (a cross-entropy needs
    one; rows of padding are not watched). With ``simplex``, multiclass probabilities must
    also sum to 1 per row (within :data:`SIMPLEX_TOLERANCE`). Targets: class indices in
    ``[0, C)`` (multiclass) or 0/1 (binary, multilabel). A block's value ranges are computed
    once per block and pair of fields (in the block's memo) and folded as
    :class:`GuardBounds` does.
    Implements :class:`~burnish.metric.validation.DeferredChecks`.
    """

    # Synced with the metric, so that every process raises for any process's wrong input.
    state_reductions: ClassVar[dict[str, StateSync]] = {"bounds": "nested"}

    def __init__(
        self,
        metric: str,
        task: Task,
        *,
        probabilities: bool,
        hint: str = "pass sigmoid=True",
        masks: Masks = "rejected",
        simplex: bool = False,
    ) -> None:
        self.metric = metric
        self.task = task
        self.masks = masks
        self.simplex = simplex
        if probabilities:
            expected = f"within [0, 1] (probabilities; {hint} to give logits)"
            scores = RangeGuard(metric, "scores", 0.0, 1.0, expected)
        elif masks == "accepted":
            expected = "that are finite or -inf (masked)"
            scores = RangeGuard(metric, "scores", -math.inf, math.inf, expected, minus_inf=True)
        elif masks == "partial":
            # Watched by each row's maximum: -inf only where a whole row is masked.
            expected = "that are finite or -inf (masked), with a finite score in every row"
            scores = RangeGuard(
                metric, "scores", -math.inf, math.inf, expected, observed="row maxima"
            )
        else:
            scores = RangeGuard(metric, "scores", -math.inf, math.inf, "that are finite")
        if task == "multiclass":
            targets = RangeGuard(metric, "targets", 0, math.inf, "within [0, num_classes)")
        else:
            # Watched as "the target where it is not 1", which is 0 iff the target is 0 or 1.
            targets = RangeGuard(metric, "targets", 0, 0, "that are 0 or 1")
        self.scores, self.targets = scores, targets
        guards = [scores, targets]
        if simplex:
            expected = (
                f"on the probability simplex (rows summing to 1 within {SIMPLEX_TOLERANCE:g}; "
                f"{hint} to give logits or other scores)"
            )
            guards.append(
                RangeGuard(
                    metric, "scores", 0.0, SIMPLEX_TOLERANCE, expected, observed="|1 - row sum|"
                )
            )
        self.bounds = GuardBounds(guards)
        self.num_classes: int | None = None

    def pending(self) -> list[DeferredValue]:
        return self.bounds.pending()

    def verify(self, host: Sequence[list[float]]) -> None:
        self.bounds.verify(host)

    def join_block(
        self,
        block: InputBlock[Any],
        scores_field: str,
        targets_field: str,
        pad_token: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, Segments]:
        """A block's scores and targets, each joined over its steps, and where each step's
        items lie. Their shapes and dtypes are checked now (:meth:`check`), and their value
        ranges folded into the deferred checks (no host synchronisation); multiclass targets
        equal to ``pad_token`` are watched as class 0. Both are done once per block and pair of
        fields however many metrics of the task ask.

        A wrong shape or dtype raises the step's own error in a block of one step; with several
        steps, it and steps that cannot be joined raise
        :class:`~burnish.metric.block.RaggedBlockError` (see
        :meth:`~burnish.metric.block.InputBlock.check_failed`)."""
        scores, targets = block.cat(scores_field), block.cat(targets_field)
        sources = (block.source(scores_field), block.source(targets_field))
        # Rows are watched by their maxima for "partial" masks, else the scores themselves.
        key: tuple[Any, ...] = ("watched", self.task, pad_token, self.masks == "partial", *sources)
        try:
            bounds = block.derived.get(key)
            if bounds is None:
                self.check(scores, targets)
                bounds = block.derived[key] = self._step_bounds(scores, targets, pad_token)
            elif self.task != "binary" and scores.shape[1] != self.num_classes:
                self._expect_classes(scores.shape[1])
        except (TypeError, ValueError) as error:
            block.check_failed(error)
            raise
        if bounds and self.simplex:
            # Apart from the bounds, which the metrics of the task not watching rows' sums share.
            rows = block.memo(("row-sums", sources[0]), lambda: _simplex_bounds(scores))
            bounds, key = (*bounds, *rows), (key, "row-sums")
        if bounds:
            self.bounds.observe(bounds, (block, key))
        # After the checks: a step whose scores and targets differ in batch size fails them,
        # alone or when the block's steps are then updated one by one.
        return scores, targets, block.segments(scores_field, targets_field)

    def check(self, scores: torch.Tensor, targets: torch.Tensor) -> None:
        """Raise now for wrong shapes or dtypes, naming the metric, what was expected and got."""
        name = self.metric
        if not scores.is_floating_point():
            raise TypeError(
                f"{name}: expected scores as floating point, received {describe(scores)}"
            )
        if self.task == "multiclass":
            check_ndim(name, "scores", scores, (2,), "(N, num_classes)")
            check_ndim(name, "targets", targets, (1,), "(N,)")
            check_integer(name, "targets", targets)
            check_batch_sizes(name, ("scores", scores), ("targets", targets))
            self._expect_classes(scores.shape[1])
        elif self.task == "binary":
            for what, tensor in (("scores", scores), ("targets", targets)):
                if not (tensor.ndim == 1 or (tensor.ndim == 2 and tensor.shape[1] == 1)):
                    raise ValueError(
                        f"{name}: expected binary {what} of shape (N,) or (N, 1), received "
                        f"{describe(tensor)}"
                    )
            check_batch_sizes(name, ("scores", scores), ("targets", targets))
        else:
            check_ndim(name, "scores", scores, (2,), "(N, num_labels)")
            if targets.shape != scores.shape:
                raise ValueError(
                    f"{name}: expected multilabel targets of the scores' shape "
                    f"{tuple(scores.shape)}, received {describe(targets)}"
                )
            self._expect_classes(scores.shape[1])

    def _expect_classes(self, num_classes: int) -> None:
        if self.num_classes is None:
            self.num_classes = num_classes
            if self.task == "multiclass":
                self.targets.high = num_classes - 1
                self.targets.expected = f"within [0, {num_classes - 1}] ({num_classes} classes)"
        elif num_classes != self.num_classes:
            what = "classes" if self.task == "multiclass" else "labels"
            raise ValueError(
                f"{self.metric}: expected scores with {self.num_classes} {what} as in earlier "
                f"batches, received {num_classes}"
            )

    def _step_bounds(
        self, scores: torch.Tensor, targets: torch.Tensor, pad_token: int | None
    ) -> tuple[torch.Tensor, ...]:
        if scores.numel() == 0:
            return ()
        watched = targets
        if watched.dtype == torch.bool:
            watched = torch.zeros(1, dtype=torch.uint8, device=targets.device)
        elif self.task != "multiclass":
            watched = watched.masked_fill(watched == 1, 0)
        elif pad_token is not None:
            # Padding is mapped to class 0 rather than masked out: masking has a
            # data-dependent shape, which would synchronise with the device.
            watched = watched.masked_fill(watched == pad_token, 0)
        scores = detached(scores)
        if self.masks == "partial":
            # max() keeps NaN, so a NaN still shows; padding rows may be wholly masked.
            scores = scores.amax(dim=1)
            if pad_token is not None:
                scores = scores.masked_fill(targets == pad_token, 0.0)
        return (*torch.aminmax(scores), *torch.aminmax(watched))

    def clear(self) -> None:
        self.num_classes = None
        self.bounds.clear()

    def state_dict(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "bounds": self.bounds.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.clear()
        if state["num_classes"] is not None:
            self._expect_classes(int(state["num_classes"]))
        self.bounds.load_state_dict(state["bounds"])


def _simplex_bounds(scores: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The smallest and largest distance of a row's sum from 1 (what checkpoints keep)."""
    # Half precision summed in float32: its own rounding would be taken for the scores'.
    return tuple(torch.aminmax((widen(detached(scores)).sum(dim=1) - 1.0).abs()))


def check_top_k(metric: str, top_k: int, scores: torch.Tensor) -> None:
    """Raise ``ValueError`` when ``top_k`` exceeds the classes of multiclass ``scores``."""
    if scores.ndim == 2 and top_k > scores.shape[1]:
        raise ValueError(
            f"{metric}: expected top_k <= num_classes, received top_k={top_k} for scores of "
            f"{describe(scores)}"
        )


def confusion_counts(
    block: InputBlock[ConfusionStatsInput], rule: DecisionRule, segments: Segments
) -> tuple[torch.Tensor, SharedCounts]:
    """Each step's counts ``(steps, 3, C)`` under ``rule`` (see
    :mod:`burnish.functional.confusion`; a block of one step's, ``(3, C)``, as
    :class:`~burnish.metric.block.Segments` says), once per block and rule however many
    metrics ask, and how the states adding them share their work. Out-of-range multiclass
    targets are clamped here and reported by the targets guard.
    """
    steps = segments.steps

    def count() -> torch.Tensor:
        scores, targets = block.cat("predictions"), block.cat("targets")
        step_of_item = None if steps == 1 else segments.step_of_item
        if rule.task == "multiclass":
            classes = scores.shape[1]
            clamped = targets.clamp(0, classes - 1)
            # Top-1 decisions as the argmax gives them, (N,): no view to add a dimension that
            # multiclass_counts removes again, two device operations a step.
            if rule.top_k == 1:
                predicted = block_argmax(block, "predictions")
            else:
                predicted = top_k_predicted(rule.decide(block, "predictions"), clamped)
            return multiclass_counts(predicted, clamped, classes, step_of_item, steps)
        decided = rule.decide(block, "predictions")
        if rule.task == "binary":
            decided, actual = decided.reshape(-1, 1), targets.reshape(-1, 1)
            return threshold_counts(decided, actual, step_of_item, steps)
        return threshold_counts(decided, targets, step_of_item, steps)

    # The rule by its fields: its dataclass hash is computed in Python, on every lookup.
    what = ("confusion-counts", rule.task, rule.threshold, rule.top_k, rule.sigmoid)
    key = (what, block.source("predictions"), block.source("targets"))
    return block.memo(key, count), SharedCounts(block, key)


_TITLES: dict[ScoreKind, str] = {"precision": "Precision", "recall": "Recall", "fbeta": "F"}


class _ConfusionScoreMetric(
    BlockUpdateMixin[ConfusionStatsInput], NumericStateMetric[ConfusionStatsState]
):
    """What precision, recall and F-beta share: a rule, a reduction and a confusion state."""

    kind: ScoreKind
    input_type = ConfusionStatsInput
    higher_is_better = True

    def __init__(
        self,
        rule: DecisionRule | None = None,
        reduction: Reduction = "macro",
        *,
        beta: float = 1.0,
        name: str | None = None,
    ) -> None:
        rule = DecisionRule() if rule is None else rule
        title = _TITLES[self.kind] + (f"{beta:g} Score" if self.kind == "fbeta" else "")
        self.name = name if name is not None else self._default_name(title, rule, reduction)
        rule.check(self.name)
        if reduction not in get_args(Reduction):
            raise ValueError(
                f"{self.name}: expected a reduction among {get_args(Reduction)}, received "
                f"{reduction!r}"
            )
        if not beta > 0.0 or math.isinf(beta):
            raise ValueError(f"{self.name}: expected beta > 0, received {beta!r}")
        self.rule = rule
        self.reduction: Reduction = "micro" if rule.task == "binary" else reduction
        self.beta = beta
        self._checks = TaskChecks(
            self.name, rule.task, probabilities=rule.task != "multiclass" and not rule.sigmoid
        )
        kind, reduce_as = self.kind, self.reduction
        labels = macro_labels(rule.task, kind, rule.top_k)

        def reduce(counts: torch.Tensor) -> torch.Tensor:
            return confusion_score(counts, kind, reduce_as, beta, labels)

        self._state = ConfusionStatsState(
            FormatOptions(self.name).precision(4), reduce, self._checks
        )

    @staticmethod
    def _default_name(title: str, rule: DecisionRule, reduction: Reduction) -> str:
        if rule.task == "binary":
            return title
        top_k = f"@{rule.top_k}" if rule.top_k > 1 else ""
        label = "Per-class" if reduction == "none" else reduction.title()
        return f"{label} {title}{top_k}"

    @classmethod
    def binary(
        cls, threshold: float = 0.5, *, sigmoid: bool = False, name: str | None = None
    ) -> Self:
        """Scores ``(N,)`` and 0/1 targets ``(N,)``: the positive class's value."""
        return cls(DecisionRule("binary", threshold=threshold, sigmoid=sigmoid), name=name)

    @classmethod
    def multiclass(
        cls, top_k: int = 1, reduction: Reduction = "macro", *, name: str | None = None
    ) -> Self:
        """Scores ``(N, C)`` and class indices ``(N,)``: one class predicted per item, the
        target when among the ``top_k`` best (see the module text)."""
        return cls(DecisionRule("multiclass", top_k=top_k), reduction, name=name)

    @classmethod
    def multilabel(
        cls,
        threshold: float = 0.5,
        reduction: Reduction = "macro",
        *,
        sigmoid: bool = False,
        name: str | None = None,
    ) -> Self:
        """Scores ``(N, L)`` and 0/1 targets ``(N, L)``, each label decided by ``threshold``."""
        rule = DecisionRule("multilabel", threshold=threshold, sigmoid=sigmoid)
        return cls(rule, reduction, name=name)

    def update_block(
        self, block: InputBlock[ConfusionStatsInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        scores, _, segments = self._checks.join_block(block, "predictions", "targets")
        try:
            check_top_k(self.name, self.rule.top_k, scores)
        except ValueError as error:
            block.check_failed(error)
            raise
        counts, shared = confusion_counts(block, self.rule, segments)
        return self._state.update_steps(counts, segments.sizes, shared)

    def per_class(self) -> list[float]:
        """The epoch's value per class (``reduction="none"``; NaN outside the label set), or
        the single reduced value for other reductions."""
        return self._state.epoch_values()


class PrecisionMetric(_ConfusionScoreMetric):
    """Precision, ``tp / (tp + fp)``, from the epoch's counts (see the module text for the
    decision rules, logits vs probabilities, reductions and zero division)."""

    kind: ScoreKind = "precision"


class RecallMetric(_ConfusionScoreMetric):
    """Recall, ``tp / (tp + fn)``, from the epoch's counts (see the module text for the decision
    rules, logits vs probabilities, reductions and zero division)."""

    kind: ScoreKind = "recall"


class FBetaScoreMetric(_ConfusionScoreMetric):
    """F-beta, ``(1 + b^2) tp / ((1 + b^2) tp + b^2 fn + fp)``, from the epoch's counts; F1 for
    ``beta=1``. Per class it is 0 when ``tp + fp + fn == 0`` (see the module text)."""

    kind: ScoreKind = "fbeta"

    def __init__(
        self,
        beta: float = 1.0,
        rule: DecisionRule | None = None,
        reduction: Reduction = "macro",
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(rule, reduction, beta=beta, name=name)

    @classmethod
    def binary(
        cls,
        threshold: float = 0.5,
        *,
        sigmoid: bool = False,
        name: str | None = None,
        beta: float = 1.0,
    ) -> Self:
        """Scores ``(N,)`` and 0/1 targets ``(N,)``: the positive class's value."""
        return cls(beta, DecisionRule("binary", threshold=threshold, sigmoid=sigmoid), name=name)

    @classmethod
    def multiclass(
        cls,
        top_k: int = 1,
        reduction: Reduction = "macro",
        *,
        name: str | None = None,
        beta: float = 1.0,
    ) -> Self:
        """Scores ``(N, C)`` and class indices ``(N,)``: one class predicted per item, the
        target when among the ``top_k`` best (see the module text)."""
        return cls(beta, DecisionRule("multiclass", top_k=top_k), reduction, name=name)

    @classmethod
    def multilabel(
        cls,
        threshold: float = 0.5,
        reduction: Reduction = "macro",
        *,
        sigmoid: bool = False,
        name: str | None = None,
        beta: float = 1.0,
    ) -> Self:
        """Scores ``(N, L)`` and 0/1 targets ``(N, L)``, each label decided by ``threshold``."""
        rule = DecisionRule("multilabel", threshold=threshold, sigmoid=sigmoid)
        return cls(beta, rule, reduction, name=name)
