"""MLflow logging through ``MlflowClient`` (the ``mlflow`` extra).

Epoch values go to ``<metric>/<split>_epoch`` at step ``epoch``; with ``steps``, each flush
sends, per split and metric, the latest step's value as ``<metric>/<split>`` at its iteration
(the keys the TensorBoard logger writes). One point per flush, not one per step: a tracking
server then gets a request a second whatever the step rate, and this thread, which shares the
interpreter with training, builds a handful of MLflow entities per flush instead of thousands.

The run's id is kept in the run directory (``mlflow_run_id``), so a resumed learner with a
logger on that directory continues the same MLflow run. The run is created or continued at the
first event, not in the constructor: under ``torchrun`` every process builds the logger, and
only the first one logs.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from burnish.logger.base import counts_nothing, numeric_values, write_atomically
from burnish.processor.events import (
    EndEvent,
    EndSplitEvent,
    LearnerEvent,
    Split,
    StartEvent,
    StepsEvent,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["MlflowMetricLogger"]

RUN_ID_FILE = "mlflow_run_id"

# How each way a fit ends (EndEvent.reason) is shown in MLflow; others are FAILED.
_STATUSES = {"completed": "FINISHED", "early_stopped": "FINISHED", "stopped": "KILLED"}

# MLflow takes letters, digits, _ - . space : and /; "/" separates the metric from the split,
# and ":" is refused on Windows.
_NOT_IN_KEYS = re.compile(r"[^\w.\- ]")

# The most metrics one MLflow log_batch request takes.
_BATCH = 1000


def _key(name: str, split: Split, suffix: str = "") -> str:
    return f"{_NOT_IN_KEYS.sub('_', name)}/{split.value}{suffix}"


class MlflowMetricLogger:
    """Logs each split's epoch values, and the latest step values at each flush, to an MLflow
    run that a resumed learner continues.

    ``directory``: the learner's run directory, where the run id is kept. ``tracking_uri``:
    where MLflow records (``None``: MLflow's default, ``MLFLOW_TRACKING_URI`` if set).
    ``experiment_name``: created if it does not exist. ``steps``: log step values as well.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        tracking_uri: str | None = None,
        experiment_name: str = "burnish",
        run_name: str | None = None,
        steps: bool = True,
        flush_seconds: float = 1.0,
    ) -> None:
        try:
            from mlflow import MlflowClient  # noqa: PLC0415
        except ImportError as error:
            raise ImportError(
                "MlflowMetricLogger needs the mlflow package: pip install 'burnish[mlflow]'"
            ) from error
        self.run_id_path = Path(directory) / RUN_ID_FILE
        self.experiment_name = experiment_name
        self.run_name = run_name
        self.steps = steps
        self.flush_seconds = flush_seconds
        # The client opens its store here: a tracking URI MLflow cannot use fails now, on the
        # caller's thread, rather than after training.
        self._client: MlflowClient = MlflowClient(tracking_uri)
        self._run_id: str | None = None
        self._status = "FINISHED"

    @property
    def tick_seconds(self) -> float:
        return self.flush_seconds

    @property
    def run_id(self) -> str | None:
        """The MLflow run logged to, once the first event has come."""
        return self._run_id

    def consume(self, events: Sequence[LearnerEvent]) -> None:
        if not events:
            return
        if self._run_id is None:
            fresh = any(isinstance(event, StartEvent) and event.fresh for event in events)
            self._run_id = self._start_run(fresh)
        from mlflow.entities import Metric  # noqa: PLC0415

        milliseconds = int(time.time() * 1000)
        metrics = [
            Metric(key, value, milliseconds, step) for key, value, step in self._values(events)
        ]
        for start in range(0, len(metrics), _BATCH):
            self._client.log_batch(self._run_id, metrics=metrics[start : start + _BATCH])
        for event in events:
            if isinstance(event, EndEvent):
                self._status = _STATUSES.get(event.reason, "FAILED")

    def close(self) -> None:
        """End the MLflow run with the status the fit ended with; a later fit or
        :meth:`~burnish.Learner.evaluate` with this logger continues it."""
        if self._run_id is not None:
            self._client.set_terminated(self._run_id, self._status)
            self._run_id = None

    def _values(self, events: Sequence[LearnerEvent]) -> list[tuple[str, float, int]]:
        """(key, value, step) of the events' epoch values and, with ``steps``, the latest
        value of each split's metrics among the events' steps."""
        values = []
        latest: dict[tuple[Split, str], tuple[float, int]] = {}
        complete: set[Split] = set()  # splits whose every metric has its latest value
        # Latest first: once a split's metrics all have a value, its earlier steps are skipped.
        for event in reversed(events):
            if isinstance(event, EndSplitEvent):
                values += [
                    (_key(name, event.split, "_epoch"), entry.value, event.epoch)
                    for name, entry in numeric_values(event.metrics).items()
                ]
            elif self.steps and isinstance(event, StepsEvent) and event.split not in complete:
                for name, column in event.numbers.items():
                    if (event.split, name) in latest:
                        continue
                    for step in reversed(range(len(column))):
                        entry = column.entry(step)
                        if not counts_nothing(entry):  # a system sample already logged
                            latest[(event.split, name)] = (entry.value, event.iterations[step])
                            break
                if all((event.split, name) in latest for name in event.numbers):
                    complete.add(event.split)
        steps = [(_key(name, split), *point) for (split, name), point in latest.items()]
        return values + steps

    def _start_run(self, fresh: bool) -> str:
        """The stored run, set running again, or for a fresh fit (or none stored) a new run
        whose id is stored."""
        if not fresh and self.run_id_path.exists():
            return self._continue_run(self.run_id_path.read_text(encoding="utf-8").strip())
        experiment = self._client.get_experiment_by_name(self.experiment_name)
        experiment_id = (
            self._client.create_experiment(self.experiment_name)
            if experiment is None
            else experiment.experiment_id
        )
        run_id: str = self._client.create_run(experiment_id, run_name=self.run_name).info.run_id

        def write(file: TextIO) -> None:
            file.write(run_id + "\n")

        write_atomically(self.run_id_path, write)
        return run_id

    def _continue_run(self, run_id: str) -> str:
        try:
            self._client.update_run(run_id, status="RUNNING")
        except Exception as error:
            raise RuntimeError(
                f"{self.run_id_path} names MLflow run {run_id!r:.40}, which "
                f"{self._client.tracking_uri} cannot continue ({error}): give the tracking URI "
                "the run was logged to, or delete the file to start a new run"
            ) from error
        return run_id
