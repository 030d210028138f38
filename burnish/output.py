"""Typed step outputs, each adapting to every metric input it can feed (Burn's ``*Output``).

Each declares what it feeds in ``feeds`` (see :data:`burnish.adaptor.Feeds`): the input types,
and for each the reader of each field. Inputs adapted from one output share its memo (their
``derived`` field), so work several metrics need is done once per step.
"""

from __future__ import annotations

import operator
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import torch

from burnish.adaptor import (
    AccuracyInput,
    AurocInput,
    ConfusionStatsInput,
    DiceInput,
    Feeds,
    FieldReaders,
    HammingScoreInput,
    ImageInput,
    LossInput,
    PerplexityInput,
    RegressionInput,
    SequenceInput,
    TopKAccuracyInput,
    adapt_declared,
)
from burnish.functional.confusion import best_classes

__all__ = [
    "ClassificationOutput",
    "MultiLabelClassificationOutput",
    "RegressionOutput",
    "SegmentationOutput",
    "SequenceOutput",
]

InputT = TypeVar("InputT")


def _batch_size(output: _StepOutput) -> int:
    return output.targets.shape[0]


_scores, _targets, _memo = (operator.attrgetter(name) for name in ("output", "targets", "_derived"))
_LOSS: FieldReaders = {"tensor": operator.attrgetter("loss"), "batch_size": _batch_size}
# The inputs made of the scores and the targets, by the name each gives the scores.
_OUTPUTS: FieldReaders = {"outputs": _scores, "targets": _targets}
_PREDICTIONS: FieldReaders = {"predictions": _scores, "targets": _targets}


def _feeds(feeds: Feeds) -> Feeds:
    """``feeds``, each input sharing the output's memo."""
    return {kind: {**readers, "derived": _memo} for kind, readers in feeds.items()}


@dataclass(frozen=True, eq=False)
class _StepOutput:
    loss: torch.Tensor
    output: torch.Tensor
    targets: torch.Tensor
    # Shared by every input adapted from this output, so derived values are computed once.
    _derived: dict[Hashable, Any] = field(default_factory=dict, init=False, repr=False)

    feeds: ClassVar[Feeds]

    def adapt(self, kind: type[InputT], /) -> InputT:
        """This output as the input ``kind``, as its type's ``feeds`` says (or a registered
        adaptor); ``TypeError`` for an input it does not feed."""
        return adapt_declared(self, kind)


@dataclass(frozen=True, eq=False)
class ClassificationOutput(_StepOutput):
    """A multiclass step: ``output`` scores ``(N, C)``, ``targets`` class indices ``(N,)``."""

    feeds = _feeds(
        {
            LossInput: _LOSS,
            AccuracyInput: _OUTPUTS,
            TopKAccuracyInput: _OUTPUTS,
            ConfusionStatsInput: _PREDICTIONS,
            AurocInput: _PREDICTIONS,
            PerplexityInput: _OUTPUTS,
        }
    )


@dataclass(frozen=True, eq=False)
class MultiLabelClassificationOutput(_StepOutput):
    """A multilabel step: ``output`` scores ``(N, L)``, ``targets`` 0/1 labels ``(N, L)``."""

    feeds = _feeds(
        {
            LossInput: _LOSS,
            HammingScoreInput: _OUTPUTS,
            ConfusionStatsInput: _PREDICTIONS,
            AurocInput: _PREDICTIONS,
        }
    )


@dataclass(frozen=True, eq=False)
class RegressionOutput(_StepOutput):
    """A regression step: ``output`` and ``targets`` of the same shape; images
    ``(N, C, H, W)`` (a reconstruction) feed the image metrics (PSNR, SSIM)."""

    feeds = _feeds({LossInput: _LOSS, RegressionInput: _OUTPUTS, ImageInput: _OUTPUTS})


@dataclass(frozen=True, eq=False)
class SegmentationOutput(_StepOutput):
    """A segmentation step: ``output`` scores ``(N, C, H, W)`` per class (or ``(N, H, W)``
    binary), ``targets`` class indices ``(N, H, W)``."""

    feeds = _feeds({LossInput: _LOSS, DiceInput: _OUTPUTS})


def _token_ids(output: SequenceOutput) -> torch.Tensor:
    """The predicted token ids ``(N, T)``: the argmax of logits, or the ids as given."""
    scores = output.output
    if scores.ndim == 3 and scores.is_floating_point():
        return best_classes(scores.detach())
    return scores


def _token_logits(output: SequenceOutput) -> torch.Tensor:
    """The logits of every position as items ``(N * T, V)``."""
    scores = output.output
    if scores.ndim != 3 or not scores.is_floating_point():
        raise TypeError(
            "SequenceOutput: token metrics (accuracy, top-k, perplexity) need logits of shape "
            f"(N, T, vocabulary), received shape {tuple(scores.shape)}, {scores.dtype}; "
            "predicted token ids feed only the sequence metrics (SequenceInput)"
        )
    return scores.flatten(0, 1)


def _token_targets(output: SequenceOutput) -> torch.Tensor:
    """The targets of every position as items ``(N * T,)``."""
    return output.targets.flatten(0, 1)


_TOKENS: FieldReaders = {"outputs": _token_logits, "targets": _token_targets}
_SEQUENCES: FieldReaders = {
    "predictions": _token_ids,
    "targets": _targets,
    "pad_token": operator.attrgetter("pad_token"),
}


@dataclass(frozen=True, eq=False)
class SequenceOutput(_StepOutput):
    """A sequence-to-sequence step (Burn's ``SequenceOutput``).

    ``output`` is either the logits ``(N, T, V)`` of ``V`` tokens at each of ``T`` positions,
    or the predicted token ids ``(N, P)`` (a decoder's output, of any length ``P``).
    ``targets`` are the target token ids ``(N, T)``. Sequences shorter than the tensor are
    filled with ``pad_token`` (in predictions and targets alike), which the sequence metrics
    remove wherever it sits.

    It feeds :class:`~burnish.adaptor.SequenceInput` (CER, WER, BLEU: the argmax of logits, or
    the ids), and with logits the token metrics, every position an item: accuracy, top-k
    accuracy and perplexity, on logits ``(N * T, V)`` and targets ``(N * T,)``. Those do not
    drop padded positions themselves (the shape would then depend on the data): give them the
    same ``pad_token`` (``AccuracyMetric(pad_token=...)``), and they ignore those positions.
    """

    pad_token: int | None = None

    feeds = _feeds(
        {
            LossInput: _LOSS,
            SequenceInput: _SEQUENCES,
            AccuracyInput: _TOKENS,
            TopKAccuracyInput: _TOKENS,
            PerplexityInput: _TOKENS,
        }
    )
