"""Callbacks: code of yours run at a fit's boundaries, as Burn's event processor calls its
consumers, but on the training thread and never per step (a per-step hook would cost every
step what the metrics work to save)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from burnish.metric.entry import MetricEntry
from burnish.processor.events import Split

if TYPE_CHECKING:
    from burnish.learner.config import FitResult
    from burnish.learner.learner import Learner

__all__ = ["Callbacks", "LearnerCallback"]


class LearnerCallback(Protocol):
    """Subclass it and override what you need: every method does nothing by default.

    Each receives the learner; ``learner.stop()`` asks the fit to end gracefully, at the end of
    the epoch when asked from an epoch's hooks (with that epoch's checkpoint), after the current
    batch otherwise. An exception raised in a callback ends the fit with it.
    """

    def on_fit_start(self, learner: Learner[Any]) -> None:
        """Before the first epoch (after a checkpoint to resume from is loaded)."""

    def on_epoch_start(self, learner: Learner[Any], epoch: int) -> None:
        """Before the epoch's training."""

    def on_validation_end(
        self, learner: Learner[Any], epoch: int, entries: dict[str, MetricEntry]
    ) -> None:
        """After the epoch's validation, with its entries by metric name."""

    def on_epoch_end(
        self, learner: Learner[Any], epoch: int, entries: dict[Split, dict[str, MetricEntry]]
    ) -> None:
        """After the epoch (training and validation), with its entries by split and name,
        before its checkpoint is written."""

    def on_checkpoint(self, learner: Learner[Any], epoch: int, path: Path) -> None:
        """After a checkpoint was written (at an epoch's end, or at a stop within one)."""

    def on_fit_end(self, learner: Learner[Any], result: FitResult[Any]) -> None:
        """After the fit ended without an error, with what it returns."""

    def on_error(self, learner: Learner[Any], error: BaseException) -> None:
        """The fit is ending with ``error`` (raised after the callbacks ran)."""


class Callbacks:
    """The learner's callbacks, called in the order they were added."""

    def __init__(self, callbacks: Sequence[LearnerCallback], learner: Learner[Any]) -> None:
        self._callbacks = tuple(callbacks)
        self._learner = learner

    def fit_start(self) -> None:
        for callback in self._callbacks:
            callback.on_fit_start(self._learner)

    def epoch_start(self, epoch: int) -> None:
        for callback in self._callbacks:
            callback.on_epoch_start(self._learner, epoch)

    def validation_end(self, epoch: int, entries: dict[str, MetricEntry]) -> None:
        for callback in self._callbacks:
            callback.on_validation_end(self._learner, epoch, entries)

    def epoch_end(self, epoch: int, entries: dict[Split, dict[str, MetricEntry]]) -> None:
        for callback in self._callbacks:
            callback.on_epoch_end(self._learner, epoch, entries)

    def checkpoint(self, epoch: int, path: Path) -> None:
        for callback in self._callbacks:
            callback.on_checkpoint(self._learner, epoch, path)

    def fit_end(self, result: FitResult[Any]) -> None:
        for callback in self._callbacks:
            callback.on_fit_end(self._learner, result)

    def error(self, error: BaseException) -> None:
        for callback in self._callbacks:
            callback.on_error(self._learner, error)
