"""What a learner is built with, and what a fit returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import torch

from burnish.learner.callbacks import LearnerCallback
from burnish.learner.checkpoint import CheckpointingStrategy, FileCheckpointer
from burnish.learner.checkpoint.strategy import best_of
from burnish.learner.early_stopping import EarlyStoppingStrategy
from burnish.learner.guards import NonFiniteLoss
from burnish.learner.history import MetricHistory
from burnish.learner.interrupt import Interrupter
from burnish.learner.optimization import OptimizationOptions
from burnish.learner.step import device_of
from burnish.learner.summary import LearnerSummary
from burnish.metric.entry import MetricEntry
from burnish.processor.events import EventConsumer, Split
from burnish.processor.split import SplitMetrics

__all__ = ["BestCheckpoint", "FitResult", "LearnerConfig", "best_kept"]

ModelT = TypeVar("ModelT", bound=torch.nn.Module)


@dataclass
class LearnerConfig:
    """Everything :class:`~burnish.builder.LearnerBuilder` collects."""

    directory: Path
    train_metrics: SplitMetrics
    valid_metrics: SplitMetrics
    num_epochs: int = 1
    optimization: OptimizationOptions = field(default_factory=OptimizationOptions)
    # torch.compile's options for the steps; None: not compiled.
    compile_options: dict[str, Any] | None = None
    callbacks: list[LearnerCallback] = field(default_factory=list)
    checkpointing: CheckpointingStrategy | None = None
    resume_from: int | Literal["latest"] | None = None
    early_stopping: EarlyStoppingStrategy | None = None
    early_stopping_warmup: int = 0
    interrupter: Interrupter = field(default_factory=Interrupter)
    renderer: EventConsumer | None = None
    loggers: list[EventConsumer] = field(default_factory=list)
    device: torch.device | None = None
    on_nonfinite_loss: NonFiniteLoss = "error"
    loss_check_seconds: float = 1.0
    summary: bool = True
    ddp_options: dict[str, Any] = field(default_factory=dict)
    gc_freeze: bool = True


@dataclass(frozen=True)
class BestCheckpoint:
    """The checkpoint of the best epoch by a metric: where it is, which epoch, and its value."""

    path: Path
    epoch: int
    split: Split
    metric: str
    value: float

    def load_into(self, model: torch.nn.Module) -> torch.nn.Module:
        """Load the checkpoint's weights (verified) into ``model``; the model."""
        record = FileCheckpointer(self.path.parent).load(self.epoch, device_of(model))
        model.load_state_dict(record["model"])
        return model


def best_kept(
    strategy: CheckpointingStrategy | None, history: MetricHistory, checkpointer: FileCheckpointer
) -> BestCheckpoint | None:
    """The best epoch's checkpoint by ``strategy``'s metric, when it is on disk."""
    watched = best_of(strategy)
    epoch = None if watched is None else watched.best_epoch(history)
    if watched is None or epoch is None or epoch not in checkpointer.epochs():
        return None
    value = history.value(watched.split, watched.name, epoch)
    assert value is not None  # the best epoch is one with a value
    return BestCheckpoint(checkpointer.path(epoch), epoch, watched.split, watched.name, value)


@dataclass(frozen=True)
class FitResult(Generic[ModelT]):
    """The trained model, each split's final epoch entries, the summary and why it ended."""

    model: ModelT
    metrics: dict[Split, dict[str, MetricEntry]]
    summary: LearnerSummary
    reason: str
    # The checkpoint of the best epoch by the checkpointing strategy's metric, if kept.
    best_checkpoint: BestCheckpoint | None = None

    def value(self, split: Split, name: str) -> float:
        """A numeric metric's last epoch value."""
        entries = self.metrics.get(split, {})
        entry = entries.get(name)
        if entry is None:
            raise KeyError(
                f"no metric {name!r} in the {split.value} split's results; it has "
                f"{', '.join(map(repr, entries)) if entries else 'none'}"
            )
        return entry.numeric.value
