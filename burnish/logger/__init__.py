"""Metric loggers: JSON Lines and CSV files, memory, TensorBoard, MLflow, and the protocol for
your own."""

from typing import TYPE_CHECKING

from burnish.lazy import lazy_exports

if TYPE_CHECKING:
    from burnish.logger.base import MetricLogger
    from burnish.logger.csv import CsvMetricLogger
    from burnish.logger.jsonl import (
        JsonlMetricLogger,
        RunLog,
        read_run,
    )
    from burnish.logger.memory import InMemoryMetricLogger
    from burnish.logger.mlflow import MlflowMetricLogger
    from burnish.logger.tensorboard import TensorBoardMetricLogger


__all__ = [
    "CsvMetricLogger",
    "InMemoryMetricLogger",
    "JsonlMetricLogger",
    "MetricLogger",
    "MlflowMetricLogger",
    "RunLog",
    "TensorBoardMetricLogger",
    "read_run",
]

__getattr__, __dir__ = lazy_exports(__name__, __file__)
