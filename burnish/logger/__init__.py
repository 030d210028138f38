"""Metric loggers: JSON Lines files, memory, TensorBoard, and the protocol for your own."""

from burnish.logger.base import MetricLogger
from burnish.logger.jsonl import JsonlMetricLogger, RunLog, read_run
from burnish.logger.memory import InMemoryMetricLogger
from burnish.logger.tensorboard import TensorBoardMetricLogger

__all__ = [
    "InMemoryMetricLogger",
    "JsonlMetricLogger",
    "MetricLogger",
    "RunLog",
    "TensorBoardMetricLogger",
    "read_run",
]
