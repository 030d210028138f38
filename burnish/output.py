"""Typed step outputs, each adapting to every metric input it can feed (Burn's ``*Output``)."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import torch
from typing_extensions import overload

from burnish.adaptor import (
    AccuracyInput,
    AurocInput,
    ConfusionStatsInput,
    FieldReaders,
    HammingScoreInput,
    LossInput,
    PerplexityInput,
    TopKAccuracyInput,
    adapt_registered,
)

__all__ = ["ClassificationOutput", "MultiLabelClassificationOutput", "RegressionOutput"]

_ScoresAndTargets = (
    type[AccuracyInput]
    | type[TopKAccuracyInput]
    | type[ConfusionStatsInput]
    | type[AurocInput]
    | type[HammingScoreInput]
    | type[PerplexityInput]
)

# The inputs made of the scores and targets alone, by output type.
_CLASSIFICATION_FEEDS = (
    AccuracyInput,
    TopKAccuracyInput,
    ConfusionStatsInput,
    AurocInput,
    PerplexityInput,
)
_MULTILABEL_FEEDS = (HammingScoreInput, ConfusionStatsInput, AurocInput)


def _batch_size(output: _StepOutput) -> int:
    return output.targets.shape[0]


_LOSS_FIELDS: FieldReaders = {"tensor": operator.attrgetter("loss"), "batch_size": _batch_size}
_READ_SCORES, _READ_TARGETS = operator.attrgetter("output"), operator.attrgetter("targets")


@dataclass(frozen=True, eq=False)
class _StepOutput:
    loss: torch.Tensor
    output: torch.Tensor
    targets: torch.Tensor
    # Shared by every input adapted from this output, so derived values are computed once.
    _derived: dict[Hashable, Any] = field(default_factory=dict, init=False, repr=False)

    def _loss(self) -> LossInput:
        return LossInput(self.loss, batch_size=self.targets.shape[0], derived=self._derived)

    def _scores_and_targets(self, kind: _ScoresAndTargets, feeds: tuple[type[Any], ...]) -> Any:
        if kind not in feeds:
            return adapt_registered(self, kind)
        return kind(self.output, self.targets, derived=self._derived)

    @staticmethod
    def _fields(kind: type[Any], feeds: tuple[type[Any], ...]) -> FieldReaders | None:
        """The readers of ``kind``'s fields that :meth:`_loss` and :meth:`_scores_and_targets`
        fill (see :func:`burnish.adaptor.field_readers`)."""
        if kind is LossInput:
            return _LOSS_FIELDS
        if kind not in feeds:
            return None
        scores, targets = (f.name for f in dataclasses.fields(kind) if f.init and not f.kw_only)
        return {scores: _READ_SCORES, targets: _READ_TARGETS}


@dataclass(frozen=True, eq=False)
class ClassificationOutput(_StepOutput):
    """A multiclass step: ``output`` scores ``(N, C)``, ``targets`` class indices ``(N,)``."""

    @overload
    def adapt(self, kind: type[LossInput], /) -> LossInput: ...
    @overload
    def adapt(self, kind: type[AccuracyInput], /) -> AccuracyInput: ...
    @overload
    def adapt(self, kind: type[TopKAccuracyInput], /) -> TopKAccuracyInput: ...
    @overload
    def adapt(self, kind: type[ConfusionStatsInput], /) -> ConfusionStatsInput: ...
    @overload
    def adapt(self, kind: type[AurocInput], /) -> AurocInput: ...
    @overload
    def adapt(self, kind: type[PerplexityInput], /) -> PerplexityInput: ...
    def adapt(self, kind: type[Any], /) -> Any:
        if kind is LossInput:
            return self._loss()
        return self._scores_and_targets(kind, _CLASSIFICATION_FEEDS)

    @classmethod
    def input_fields(cls, kind: type[Any]) -> FieldReaders | None:
        return cls._fields(kind, _CLASSIFICATION_FEEDS)


@dataclass(frozen=True, eq=False)
class MultiLabelClassificationOutput(_StepOutput):
    """A multilabel step: ``output`` scores ``(N, L)``, ``targets`` 0/1 labels ``(N, L)``."""

    @overload
    def adapt(self, kind: type[LossInput], /) -> LossInput: ...
    @overload
    def adapt(self, kind: type[HammingScoreInput], /) -> HammingScoreInput: ...
    @overload
    def adapt(self, kind: type[ConfusionStatsInput], /) -> ConfusionStatsInput: ...
    @overload
    def adapt(self, kind: type[AurocInput], /) -> AurocInput: ...
    def adapt(self, kind: type[Any], /) -> Any:
        if kind is LossInput:
            return self._loss()
        return self._scores_and_targets(kind, _MULTILABEL_FEEDS)

    @classmethod
    def input_fields(cls, kind: type[Any]) -> FieldReaders | None:
        return cls._fields(kind, _MULTILABEL_FEEDS)


@dataclass(frozen=True, eq=False)
class RegressionOutput(_StepOutput):
    """A regression step: ``output`` and ``targets`` of the same shape."""

    def adapt(self, kind: type[LossInput], /) -> LossInput:
        if kind is LossInput:
            return self._loss()
        return adapt_registered(self, kind)

    @classmethod
    def input_fields(cls, kind: type[Any]) -> FieldReaders | None:
        return cls._fields(kind, ())
