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
    Feeds,
    FieldReaders,
    HammingScoreInput,
    LossInput,
    PerplexityInput,
    TopKAccuracyInput,
    adapt_declared,
)

__all__ = ["ClassificationOutput", "MultiLabelClassificationOutput", "RegressionOutput"]

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
    """A regression step: ``output`` and ``targets`` of the same shape."""

    feeds = _feeds({LossInput: _LOSS})
