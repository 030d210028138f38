"""Checkpoints: strategies decide which epochs to keep; the checkpointer writes them."""

from burnish.learner.checkpoint.file import CheckpointError, FileCheckpointer
from burnish.learner.checkpoint.strategy import (
    CheckpointingAction,
    CheckpointingStrategy,
    ComposedCheckpointingStrategy,
    KeepLastNCheckpoints,
    MetricCheckpointingStrategy,
    plan,
)

__all__ = [
    "CheckpointError",
    "CheckpointingAction",
    "CheckpointingStrategy",
    "ComposedCheckpointingStrategy",
    "FileCheckpointer",
    "KeepLastNCheckpoints",
    "MetricCheckpointingStrategy",
    "plan",
]
