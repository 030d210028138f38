"""``LearnerBuilder``: Burn's builder, option for option, and the one place that wires the
learner to its metrics, checkpoints, loggers and renderer."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import torch
import torch.distributed as dist
from typing_extensions import Self

from burnish.distributed import collective, is_distributed, is_main_process
from burnish.learner.callbacks import LearnerCallback
from burnish.learner.checkpoint import (
    CheckpointingStrategy,
    ComposedCheckpointingStrategy,
    FileCheckpointer,
    KeepLastNCheckpoints,
    MetricCheckpointingStrategy,
)
from burnish.learner.checkpoint.strategy import watched_by
from burnish.learner.config import LearnerConfig
from burnish.learner.directory import clear_run, refuse_earlier_run, versioned_directory
from burnish.learner.early_stopping import EarlyStoppingStrategy
from burnish.learner.guards import NonFiniteLoss
from burnish.learner.history import Aggregate, Direction
from burnish.learner.interrupt import Interrupter
from burnish.learner.learner import Learner
from burnish.learner.optimization import (
    MixedPrecision,
    OptimizationOptions,
    SchedulerInterval,
    check_scheduler,
)
from burnish.logger.jsonl import FILE_NAME as LOG_FILE
from burnish.logger.jsonl import JsonlMetricLogger
from burnish.metric.base import Metric
from burnish.processor.events import EventConsumer, Split
from burnish.processor.split import BlockLimits, RegisteredMetric, SplitMetrics
from burnish.renderer.base import MetricsRenderer

__all__ = ["LearnerBuilder"]

ModelT = TypeVar("ModelT", bound=torch.nn.Module)


class LearnerBuilder:
    """Collects a learner's options; :meth:`build` makes the :class:`Learner`.

    Everything is written under ``directory``: ``metrics.jsonl`` (always) and ``checkpoint/``
    (with :meth:`with_file_checkpointer`).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._directory = Path(directory)
        self._train: list[RegisteredMetric] = []
        self._valid: list[RegisteredMetric] = []
        self._num_epochs = 1
        self._optimization = OptimizationOptions()
        self._compile: dict[str, Any] | None = None
        self._callbacks: list[LearnerCallback] = []
        # Made at build(), when the metrics it may watch are known.
        self._checkpointing: Callable[[], CheckpointingStrategy] | None = None
        self._resume_from: int | Literal["latest"] | None = None
        self._overwrite = False
        self._versioned = False
        self._early_stopping: EarlyStoppingStrategy | None = None
        self._warmup = 0
        self._interrupter = Interrupter()
        self._renderer: MetricsRenderer | None = None
        self._persistent = False
        self._loggers: list[EventConsumer | Callable[[Path], EventConsumer]] = []
        self._device: torch.device | None = None
        self._nonfinite: NonFiniteLoss = "error"
        self._summary = False
        self._ddp_options: dict[str, Any] = {}
        self._blocks = BlockLimits()
        self._gc_freeze = True

    # -- metrics -----------------------------------------------------------------------------

    def metric_train(self, metric: Metric[Any]) -> Self:
        """Show a metric's entries for training (as text; use the numeric form to plot)."""
        return self._register(self._train, metric, plotted=False)

    def metric_valid(self, metric: Metric[Any]) -> Self:
        return self._register(self._valid, metric, plotted=False)

    def metric_train_numeric(self, metric: Metric[Any]) -> Self:
        """A numeric metric for training: plotted, summarised, usable by strategies."""
        return self._register(self._train, metric, plotted=True)

    def metric_valid_numeric(self, metric: Metric[Any]) -> Self:
        return self._register(self._valid, metric, plotted=True)

    def _register(self, target: list[RegisteredMetric], metric: Metric[Any], plotted: bool) -> Self:
        if any(registered.metric is metric for registered in (*self._train, *self._valid)):
            raise ValueError(
                f"metric {metric.name!r} is already registered: each split needs its own "
                "instance (one object would mix the splits' state), e.g. "
                f"metric_train_numeric({type(metric).__qualname__}()) and "
                f"metric_valid_numeric({type(metric).__qualname__}())"
            )
        target.append(RegisteredMetric.of(metric, plotted))
        return self

    # -- training ----------------------------------------------------------------------------

    def metric_blocks(
        self,
        steps: int = 512,
        seconds: float = 0.25,
        max_bytes: int = 64 * 2**20,
    ) -> Self:
        """Update metrics in blocks of at most ``steps`` steps, spanning at most ``seconds``,
        whose outputs hold at most ``max_bytes`` (kept alive on their device until the update).

        Values and logs are the same as updating every step; a block costs about what one
        step's update does, so small models train faster. ``steps=1`` updates every step:
        choose it when a step's output tensors are reused in place afterwards (a static
        buffer), which a block would read too late. Metrics that take no input (system use,
        learning rate, speed) are always updated at their step.
        """
        _positive("metric_blocks(steps)", steps)
        _positive("metric_blocks(seconds)", seconds)
        _positive("metric_blocks(max_bytes)", max_bytes)
        self._blocks = BlockLimits(steps, seconds, max_bytes)
        return self

    def gc_freeze(self, enabled: bool = True) -> Self:
        """Whether the cyclic collector is kept quiet while training: the objects that exist
        when training starts are frozen (``gc.freeze``) until it ends, so that the collector's
        full passes walk only what training makes (with torch imported, each pass over the
        whole heap costs about 0.1 s), and the youngest generation is collected every 20,000
        allocations rather than 700, so that its passes do not walk the block of steps kept
        for the metrics again and again. On by default; a heap the process froze itself stays
        frozen either way."""
        self._gc_freeze = enabled
        return self

    def num_epochs(self, num_epochs: int) -> Self:
        _positive("num_epochs", num_epochs)
        self._num_epochs = num_epochs
        return self

    def grads_accumulation(self, steps: int) -> Self:
        """Step the optimizer every ``steps`` batches, on the mean of their gradients."""
        _positive("grads_accumulation", steps)
        self._optimization = replace(self._optimization, grads_accumulation=steps)
        return self

    def clip_grad_norm(self, max_norm: float) -> Self:
        _positive("clip_grad_norm", max_norm)
        self._optimization = replace(self._optimization, clip_grad_norm=max_norm)
        return self

    def clip_grad_value(self, clip_value: float) -> Self:
        _positive("clip_grad_value", clip_value)
        self._optimization = replace(self._optimization, clip_grad_value=clip_value)
        return self

    def lr_scheduler_interval(self, interval: SchedulerInterval) -> Self:
        """Step the scheduler every optimizer step (``iteration``, Burn's way) or every epoch."""
        if interval not in ("iteration", "epoch"):
            raise ValueError(f"expected 'iteration' or 'epoch', received {interval!r}")
        self._optimization = replace(self._optimization, scheduler_interval=interval)
        return self

    def lr_scheduler_metric(self, name: str, split: Split = Split.VALID) -> Self:
        """Step the scheduler at each epoch's end on that epoch's value of a numeric metric (as
        ``ReduceLROnPlateau`` needs), after validation."""
        self._optimization = replace(self._optimization, scheduler_metric=(split, name))
        return self

    def mixed_precision(self, precision: MixedPrecision) -> Self:
        """Run the steps under ``torch.autocast`` in ``"bf16"`` (bfloat16) or ``"fp16"``
        (float16, with a ``GradScaler`` whose state is checkpointed; it skips optimizer steps
        whose gradients overflowed, counted in the fit's log)."""
        if precision not in ("bf16", "fp16"):
            raise ValueError(f"expected 'bf16' or 'fp16', received {precision!r}")
        self._optimization = replace(self._optimization, mixed_precision=precision)
        return self

    def compile(self, **options: Any) -> Self:
        """Compile the steps the learner calls (``train_step``, ``valid_step``) with
        ``torch.compile(step, **options)``. Pass the module itself to :meth:`build`, not
        ``torch.compile(model)``: the learner calls its steps, not its ``forward``."""
        self._compile = options
        return self

    def with_callback(self, callback: LearnerCallback) -> Self:
        """Call ``callback`` at the fit's boundaries (see :class:`LearnerCallback`)."""
        self._callbacks.append(callback)
        return self

    def on_nonfinite_loss(self, policy: NonFiniteLoss) -> Self:
        """``error`` (default): raise, naming the epoch and iteration. ``stop``: end training
        gracefully, keeping the last checkpoint. ``skip``: leave the batch out; this reads the
        loss every step, which waits for the device."""
        if policy not in ("error", "skip", "stop"):
            raise ValueError(f"expected 'error', 'skip' or 'stop', received {policy!r}")
        self._nonfinite = policy
        return self

    def devices(self, devices: list[torch.device | str]) -> Self:
        if len(devices) != 1:
            raise ValueError(
                f"expected one device, received {len(devices)}: for several, launch one process "
                "per device with torchrun"
            )
        self._device = torch.device(devices[0])
        return self

    def with_ddp_options(self, **options: Any) -> Self:
        """Keyword arguments for ``DistributedDataParallel`` in a distributed run, e.g.
        ``find_unused_parameters=True`` for a model whose step leaves parameters unused."""
        self._ddp_options = options
        return self

    # -- checkpoints and stopping ------------------------------------------------------------

    def with_file_checkpointer(self, strategy: CheckpointingStrategy | None = None) -> Self:
        """Checkpoint to ``directory/checkpoint``. By default Burn's strategy: keep the last
        two epochs and the best by validation loss (when ``metric_valid_numeric(LossMetric())``
        is registered; without it, the last two epochs only)."""
        self._checkpointing = self._default_checkpointing if strategy is None else lambda: strategy
        return self

    def _default_checkpointing(self) -> CheckpointingStrategy:
        last = KeepLastNCheckpoints(2)
        # A run without a validation loss keeps what Burn's strategy would keep (its best is
        # unknown, so the current epoch), and must not be refused for watching what it lacks.
        if "Loss" not in self._numeric_names(Split.VALID):
            return last
        best = MetricCheckpointingStrategy("Loss", Aggregate.MEAN, Direction.LOWEST, Split.VALID)
        return ComposedCheckpointingStrategy(last, best)

    def checkpoint(self, epoch: int) -> Self:
        """Resume from the checkpoint of ``epoch`` (training continues with the next one)."""
        _positive("checkpoint", epoch)
        self._resume_from = epoch
        return self

    def overwrite(self) -> Self:
        """Start afresh in a directory that holds an earlier run: its log and checkpoints are
        deleted at :meth:`build`. Without it (or :meth:`resume`), such a directory is refused."""
        self._overwrite = True
        return self

    def versioned(self) -> Self:
        """Write each fresh run to a directory of its own, ``directory/version-N`` with the next
        free N; with :meth:`resume`, continue the highest N."""
        self._versioned = True
        return self

    def resume(self) -> Self:
        """Resume from the latest checkpoint on disk."""
        self._resume_from = "latest"
        return self

    def early_stopping(self, strategy: EarlyStoppingStrategy, warmup_epochs: int = 0) -> Self:
        """Stop when ``strategy`` says so, never during the first ``warmup_epochs``."""
        if warmup_epochs < 0:
            raise ValueError(
                f"LearnerBuilder.early_stopping: expected warmup_epochs >= 0, received "
                f"{warmup_epochs}"
            )
        self._early_stopping = strategy
        self._warmup = warmup_epochs
        return self

    def with_interrupter(self, interrupter: Interrupter) -> Self:
        self._interrupter = interrupter
        return self

    # -- what the run shows and writes -------------------------------------------------------

    def renderer(self, renderer: MetricsRenderer) -> Self:
        self._renderer = renderer
        return self

    def persistent_dashboard(self) -> Self:
        """Keep the final dashboard on screen until a key is pressed."""
        self._persistent = True
        return self

    def with_metric_logger(self, logger: EventConsumer | Callable[[Path], EventConsumer]) -> Self:
        """Log to ``logger`` as well, or to what ``logger(run_directory)`` makes at
        :meth:`build` (e.g. ``CsvMetricLogger``): the run directory is known only then with
        :meth:`versioned`."""
        self._loggers.append(logger)
        return self

    def summary(self) -> Self:
        """Print Burn's summary table when training ends."""
        self._summary = True
        return self

    def build(
        self,
        model: ModelT,
        optimizer: torch.optim.Optimizer,
        lr_scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    ) -> Learner[ModelT]:
        # Imported here: the dashboard is only loaded when a learner needs it.
        from burnish.renderer import default_renderer  # noqa: PLC0415

        checkpointing = None if self._checkpointing is None else self._checkpointing()
        self._check_watched("with_file_checkpointer", checkpointing)
        self._check_watched("early_stopping", self._early_stopping)
        scheduled_by = self._optimization.scheduler_metric
        check_scheduler(lr_scheduler, scheduled_by)
        if scheduled_by is not None:
            self._check_watched("lr_scheduler_metric", lr_scheduler, [scheduled_by])
        directory = self._run_directory()
        # A resumed run's dashboard draws the run from its start, read from its log.
        history = directory / LOG_FILE if self._resume_from is not None else None
        renderer = self._renderer or default_renderer(self._interrupter, self._persistent, history)
        config = LearnerConfig(
            directory=directory,
            train_metrics=SplitMetrics(Split.TRAIN, self._train, self._blocks),
            valid_metrics=SplitMetrics(Split.VALID, self._valid, self._blocks),
            num_epochs=self._num_epochs,
            optimization=self._optimization,
            compile_options=self._compile,
            callbacks=list(self._callbacks),
            checkpointing=checkpointing,
            resume_from=self._resume_from,
            early_stopping=self._early_stopping,
            early_stopping_warmup=self._warmup,
            interrupter=self._interrupter,
            renderer=renderer,
            loggers=[
                JsonlMetricLogger(directory),
                *(_logger(logger, directory) for logger in self._loggers),
            ],
            device=self._device,
            on_nonfinite_loss=self._nonfinite,
            summary=self._summary,
            ddp_options=self._ddp_options,
            gc_freeze=self._gc_freeze,
        )
        return Learner(model, optimizer, lr_scheduler, config)

    def _run_directory(self) -> Path:
        """Where this run writes: never over an earlier run, unless resumed or overwritten.

        In a distributed run rank 0 decides, and every process learns its answer (or its
        error): the others write nothing, and deciding alone they could see rank 0's first
        files, or its new version directory.
        """
        if not is_distributed():
            return self._decide_directory()
        decided: list[Path | Exception | None] = [None]
        if is_main_process():
            try:
                decided[0] = self._decide_directory()
            except (ValueError, OSError) as error:
                decided[0] = error
        with collective("agreeing on the run directory"):
            dist.broadcast_object_list(decided, src=0)
        if isinstance(decided[0], Exception):
            raise decided[0]
        assert decided[0] is not None
        return decided[0]

    def _decide_directory(self) -> Path:
        resume = self._resume_from is not None
        if resume and self._overwrite:
            raise ValueError("LearnerBuilder: resume() and overwrite() exclude each other")
        directory = (
            versioned_directory(self._directory, resume) if self._versioned else self._directory
        )
        if not resume:
            log, checkpointer = directory / LOG_FILE, FileCheckpointer(directory / "checkpoint")
            if not self._overwrite:
                refuse_earlier_run(directory, log, checkpointer)
            else:
                clear_run(log, checkpointer)
        return directory

    def _numeric_names(self, split: Split) -> list[str]:
        """The names of the split's numeric metrics: those whose epoch values are recorded."""
        registered = {Split.TRAIN: self._train, Split.VALID: self._valid}.get(split, [])
        return [r.metric.name for r in registered if r.higher_is_better is not None]

    def _check_watched(
        self, option: str, strategy: object, watched: list[tuple[Split, str]] | None = None
    ) -> None:
        """Refuse a strategy that watches a metric whose epoch values are never recorded: it
        would never fire, and say nothing."""
        for split, name in watched_by(strategy) if watched is None else watched:
            numeric = self._numeric_names(split)
            if name in numeric:
                continue
            if numeric:
                known = f"the numeric {split.value} metrics are {', '.join(map(repr, numeric))}"
            elif split is Split.TEST:
                known = "fit() runs the train and valid splits only"
            else:
                known = (
                    f"there are no numeric {split.value} metrics: register one with "
                    f"metric_{split.value}_numeric()"
                )
            raise ValueError(
                f"{option}: {type(strategy).__qualname__} watches {name!r} of the "
                f"{split.value} split, which is not a registered numeric metric, so it would "
                f"never act; {known}"
            )


def _logger(
    logger: EventConsumer | Callable[[Path], EventConsumer], directory: Path
) -> EventConsumer:
    """A logger, or the one a logger class or factory makes for the run directory."""
    if isinstance(logger, type) or not hasattr(logger, "consume"):
        return cast(Callable[[Path], EventConsumer], logger)(directory)
    return cast(EventConsumer, logger)


def _positive(option: str, value: float) -> None:
    if value <= 0:
        raise ValueError(f"LearnerBuilder.{option}: expected a positive value, received {value}")
