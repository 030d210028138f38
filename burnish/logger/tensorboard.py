"""TensorBoard logging through ``torch.utils.tensorboard`` (the ``tensorboard`` extra)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from burnish.logger.base import numeric_values, step_values
from burnish.processor.events import EndSplitEvent, LearnerEvent, StepsEvent

__all__ = ["TensorBoardMetricLogger"]


class TensorBoardMetricLogger:
    """Per-step values as ``<metric>/<split>`` and epoch values as ``<metric>/<split>_epoch``."""

    tick_seconds = 1.0

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415
        except ImportError as error:
            raise ImportError(
                "TensorBoardMetricLogger needs the tensorboard package: "
                "pip install 'burnish[tensorboard]'"
            ) from error
        self._writer: Any = SummaryWriter(log_dir=os.fspath(directory))

    def consume(self, events: Sequence[LearnerEvent]) -> None:
        for event in events:
            if isinstance(event, StepsEvent):
                for step, iteration in enumerate(event.iterations):
                    for name, entry in step_values(event, step).items():
                        tag = f"{name}/{event.split.value}"
                        self._writer.add_scalar(tag, entry.value, iteration)
            elif isinstance(event, EndSplitEvent):
                for name, entry in numeric_values(event.metrics).items():
                    self._writer.add_scalar(
                        f"{name}/{event.split.value}_epoch", entry.value, event.epoch
                    )
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
