"""The learner: steps, the fit loop, checkpoints, early stopping and events."""

from typing import TYPE_CHECKING

from burnish.lazy import lazy_exports

if TYPE_CHECKING:
    from burnish.learner.callbacks import LearnerCallback
    from burnish.learner.checkpoint import (
        CheckpointError,
        CheckpointingStrategy,
        ComposedCheckpointingStrategy,
        FileCheckpointer,
        KeepLastNCheckpoints,
        MetricCheckpointingStrategy,
    )
    from burnish.learner.config import (
        BestCheckpoint,
        FitResult,
    )
    from burnish.learner.directory import RunDirectoryError
    from burnish.learner.early_stopping import (
        EarlyStoppingStrategy,
        MetricEarlyStoppingStrategy,
        NoImprovementSince,
    )
    from burnish.learner.guards import NonFiniteLossError
    from burnish.learner.history import (
        Aggregate,
        Direction,
        MetricHistory,
    )
    from burnish.learner.interrupt import Interrupter
    from burnish.learner.learner import Learner
    from burnish.learner.step import (
        TrainOutput,
        TrainStep,
        ValidStep,
        move_to_device,
    )
    from burnish.learner.summary import LearnerSummary
    from burnish.processor.events import (
        LearnerEvent,
        MetricUpdate,
        Split,
        TrainingProgress,
    )


__all__ = [
    "Aggregate",
    "BestCheckpoint",
    "CheckpointError",
    "CheckpointingStrategy",
    "ComposedCheckpointingStrategy",
    "Direction",
    "EarlyStoppingStrategy",
    "FileCheckpointer",
    "FitResult",
    "Interrupter",
    "KeepLastNCheckpoints",
    "Learner",
    "LearnerCallback",
    "LearnerEvent",
    "LearnerSummary",
    "MetricCheckpointingStrategy",
    "MetricEarlyStoppingStrategy",
    "MetricHistory",
    "MetricUpdate",
    "NoImprovementSince",
    "NonFiniteLossError",
    "RunDirectoryError",
    "Split",
    "TrainOutput",
    "TrainStep",
    "TrainingProgress",
    "ValidStep",
    "move_to_device",
]

__getattr__, __dir__ = lazy_exports(__name__, __file__)
