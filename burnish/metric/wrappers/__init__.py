"""Wrappers: per-class names, running values, bootstrap intervals and usage modes."""

from burnish.metric.wrappers.bootstrap import BootStrapper, BootstrapResult, Sampling
from burnish.metric.wrappers.classwise import Classwise
from burnish.metric.wrappers.running import Running
from burnish.metric.wrappers.usage import BatchWise, RunningEpochWise

__all__ = [
    "BatchWise",
    "BootStrapper",
    "BootstrapResult",
    "Classwise",
    "Running",
    "RunningEpochWise",
    "Sampling",
]
