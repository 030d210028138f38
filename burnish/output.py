"""Typed step outputs, each adapting to every metric input it can feed (Burn's ``*Output``)."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import torch
from typing_extensions import overload

from burnish.adaptor import (
    AccuracyInput,
    AurocInput,
    ConfusionStatsInput,
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
        return self._scores_and_targets(
            kind,
            (AccuracyInput, TopKAccuracyInput, ConfusionStatsInput, AurocInput, PerplexityInput),
        )


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
        return self._scores_and_targets(kind, (HammingScoreInput, ConfusionStatsInput, AurocInput))


@dataclass(frozen=True, eq=False)
class RegressionOutput(_StepOutput):
    """A regression step: ``output`` and ``targets`` of the same shape."""

    def adapt(self, kind: type[LossInput], /) -> LossInput:
        if kind is LossInput:
            return self._loss()
        return adapt_registered(self, kind)
