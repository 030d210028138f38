"""Burn's metric processor: the one stage between the learner and the display.

The learner records each step's output (:class:`SplitMetrics`); a block of steps updates every
metric once; one reading thread turns each block into a plain event
(:class:`~burnish.processor.events.StepsEvent`) and hands it to the renderer and the loggers
(:class:`~burnish.processor.bus.EventBus`).
"""

from typing import TYPE_CHECKING

from burnish.lazy import lazy_exports

if TYPE_CHECKING:
    from burnish.processor.bus import EventBus
    from burnish.processor.events import (
        EndEvent,
        EndSplitEvent,
        EpochEndEvent,
        EventConsumer,
        LearnerEvent,
        MetricUpdate,
        NumericColumn,
        Split,
        StartEvent,
        StartSplitEvent,
        StepsEvent,
        TrainingProgress,
    )
    from burnish.processor.split import (
        BlockLimits,
        RegisteredMetric,
        SplitMetrics,
    )


__all__ = [
    "BlockLimits",
    "EndEvent",
    "EndSplitEvent",
    "EpochEndEvent",
    "EventBus",
    "EventConsumer",
    "LearnerEvent",
    "MetricUpdate",
    "NumericColumn",
    "RegisteredMetric",
    "Split",
    "SplitMetrics",
    "StartEvent",
    "StartSplitEvent",
    "StepsEvent",
    "TrainingProgress",
]

__getattr__, __dir__ = lazy_exports(__name__, __file__)
