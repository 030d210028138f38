"""The fit loop: Burn's ``Learner``.

The training thread runs steps and publishes events; renderers and loggers read them on their
own threads. Nothing here reads a device value per step: the loss is checked for NaN/inf in
batches, about once a second, and metric values are read by whoever shows or logs them.

Inside an initialised process group of several processes (torchrun), the model trains wrapped
in ``DistributedDataParallel``, each process reads its share of the data, metrics sync at the
end of each split, and only rank 0 shows, logs and checkpoints.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import gc
import itertools
import logging
import random
import signal
import threading
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn, TypeVar, cast

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from burnish.distributed import (
    DistributedError,
    collective,
    is_communication_error,
    is_distributed,
    is_main_process,
    is_sharded,
    set_loader_epoch,
    shard_loader,
)
from burnish.distributed.process import failure
from burnish.learner.checkpoint import (
    CheckpointError,
    CheckpointingStrategy,
    FileCheckpointer,
    plan,
)
from burnish.learner.checkpoint.strategy import ActionKind
from burnish.learner.distributed import StepModule, StopVote, Verdict, control_group
from burnish.learner.early_stopping import EarlyStoppingStrategy
from burnish.learner.events import (
    Actor,
    EndEvent,
    EndSplitEvent,
    EpochEndEvent,
    EventConsumer,
    ProcessedItemEvent,
    Split,
    StartEvent,
    StartSplitEvent,
)
from burnish.learner.history import MetricHistory
from burnish.learner.interrupt import Interrupter
from burnish.learner.metrics import SplitMetrics
from burnish.learner.step import BatchTransfer, TrainOutput, batch_size_of, move_to_device
from burnish.learner.summary import LearnerSummary
from burnish.metric.base import MetricEntry

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup

__all__ = ["FitResult", "Learner", "LearnerConfig", "NonFiniteLoss", "NonFiniteLossError"]

log = logging.getLogger("burnish.learner")

ModelT = TypeVar("ModelT", bound=torch.nn.Module)
NonFiniteLoss = Literal["error", "skip", "stop"]
SchedulerInterval = Literal["iteration", "epoch"]
CHECKPOINT_FORMAT = 1
_ECHO_SECONDS = 1.0


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite."""


@dataclass
class LearnerConfig:
    """Everything :class:`~burnish.learner.builder.LearnerBuilder` collects."""

    directory: Path
    train_metrics: SplitMetrics
    valid_metrics: SplitMetrics
    num_epochs: int = 1
    grads_accumulation: int = 1
    clip_grad_norm: float | None = None
    clip_grad_value: float | None = None
    scheduler_interval: SchedulerInterval = "iteration"
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
class FitResult(Generic[ModelT]):
    """The trained model, each split's final epoch entries, the summary and why it ended."""

    model: ModelT
    metrics: dict[Split, dict[str, MetricEntry]]
    summary: LearnerSummary
    reason: str

    def value(self, split: Split, name: str) -> float:
        """A numeric metric's last epoch value."""
        return self.metrics[split][name].numeric.value


@dataclass(frozen=True)
class _Resume:
    """Where a checkpoint left off: after ``epoch``, or ``batches_done`` into it."""

    epoch: int
    batches_done: int
    items: int
    rng: dict[str, Any]
    epoch_rng: dict[str, Any] | None
    metric_states: dict[str, dict[str, Any]] | None


class _Stopped(Exception):  # noqa: N818 - control flow, not an error
    def __init__(self, reason: str) -> None:
        self.reason = reason


class _EventBus:
    """The actors of the renderer and the loggers; re-raises their errors on this thread."""

    def __init__(self, consumers: Sequence[EventConsumer]) -> None:
        self._actors = [
            Actor(consumer, f"burnish-{type(consumer).__name__}") for consumer in consumers
        ]
        self._ended = False

    def send(self, event: Any) -> None:
        for actor in self._actors:
            actor.send(event)

    def send_steps(self, events: list[ProcessedItemEvent]) -> None:
        for actor in self._actors:
            actor.send_steps(events)

    def raise_if_failed(self) -> None:
        for actor in self._actors:
            if actor.error is not None:
                raise actor.error

    def end(self, reason: str, timeout: float = 30.0) -> None:
        if self._ended:
            return
        self._ended = True
        self.send(EndEvent(reason, time.monotonic()))
        for actor in self._actors:
            # A persistent dashboard stays up until a key is pressed: wait for the person.
            persistent = getattr(actor.consumer, "persistent", False) is True
            actor.join(None if persistent else timeout)


class _LossWatch:
    """Finds NaN/inf losses without reading the loss every step (which would wait for the
    device): losses are kept as device scalars and checked together about once a second."""

    def __init__(self, policy: NonFiniteLoss, every_seconds: float) -> None:
        self.policy = policy
        self.every_seconds = every_seconds
        self._pending: list[tuple[int, int, torch.Tensor]] = []
        # When the losses kept are next read: the training loop compares, without a call.
        self.due = time.monotonic() + every_seconds
        self.found: str | None = None

    def admit(self, loss: torch.Tensor, epoch: int, iteration: int) -> bool:
        """Whether to train on this batch. Only the ``skip`` policy reads the loss here."""
        if self.policy == "skip":
            if bool(torch.isfinite(loss.detach()).all()):
                return True
            log.warning(
                "skipping a batch with a non-finite loss (epoch %d, iteration %d)", epoch, iteration
            )
            return False
        self._pending.append((epoch, iteration, loss.detach()))
        return True

    def check(self, force: bool = False) -> None:
        """Act on the policy at the first non-finite loss found."""
        if self.look(force):
            self.fail(cast(str, self.found))

    def look(self, force: bool = False) -> bool:
        """Read the losses kept (about once a second, or now with ``force``); whether a
        non-finite one has been found, described by :attr:`found`."""
        if self.found is not None:
            return True
        now = time.monotonic()
        if not force and now < self.due:
            return False
        self.due = now + self.every_seconds
        if not self._pending:
            return False
        pending, self._pending = self._pending, []
        losses = [loss.reshape(-1) for _, _, loss in pending]
        finite = torch.cat(losses).isfinite()
        if bool(finite.all()):
            return False
        first_bad = int(finite.logical_not().nonzero()[0, 0])
        ends = list(itertools.accumulate(loss.numel() for loss in losses))
        epoch, iteration, loss = pending[next(i for i, end in enumerate(ends) if first_bad < end)]
        self.found = (
            f"the loss is {loss.reshape(-1)[0].item()} at epoch {epoch}, iteration {iteration}; "
            "lower the learning rate, clip gradients (LearnerBuilder.clip_grad_norm) or choose "
            "LearnerBuilder.on_nonfinite_loss('skip' or 'stop')"
        )
        return True

    def fail(self, message: str) -> NoReturn:
        if self.policy == "stop":
            log.error("stopping: %s", message)
            raise _Stopped("nonfinite_loss")
        raise NonFiniteLossError(message)


# Allocations between two passes over the youngest generation during a run (Python's default
# is 700).
_YOUNG_THRESHOLD = 20_000


@contextlib.contextmanager
def _quiet_collector(enabled: bool) -> Iterator[None]:
    """Keep the cyclic collector's passes off the objects training does not make, for the run.

    Every so often the collector's full pass walks every object in the process: with torch
    imported, hundreds of thousands, about 0.1 s each time. The objects already there are
    frozen (``gc.freeze``) for the run and unfrozen after it; cycles among them that become
    garbage meanwhile are collected then. A process that froze its own heap (a pre-fork
    server) keeps it as it is.

    A pass over the youngest generation walks every object alive that was made since the last
    one, and the learner keeps a block of steps' outputs and events alive (see
    :mod:`burnish.metric.block`): at Python's default of 700 allocations a pass came every few
    dozen steps and walked the same block again and again. During the run the youngest
    generation is collected every ``_YOUNG_THRESHOLD`` allocations (or the process's own, if
    higher); training makes few cycles, and their garbage waits a little longer.
    """
    if not enabled:
        yield
        return
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], _YOUNG_THRESHOLD), *thresholds[1:])
    freeze = not gc.get_freeze_count()
    if freeze:
        gc.freeze()
    try:
        yield
    finally:
        if freeze:
            gc.unfreeze()
        gc.set_threshold(*thresholds)


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    with contextlib.suppress(ImportError):
        import numpy as np  # noqa: PLC0415 - optional

        kind, keys, position, has_gauss, gauss = cast(
            tuple[str, Any, int, int, float], np.random.get_state()
        )
        state["numpy"] = [kind, keys.tolist(), position, has_gauss, gauss]
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        import numpy as np  # noqa: PLC0415 - present when it was saved

        kind, keys, position, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, gauss))


def _items_total(loader: Iterable[Any]) -> int | None:
    sampler = getattr(loader, "sampler", None)
    if is_sharded(sampler):
        return len(sampler)  # type: ignore[arg-type]
    dataset = getattr(loader, "dataset", None)
    try:
        return len(dataset) if dataset is not None else len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def _batches_total(loader: Iterable[Any]) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def _step_method(model: object, method: str, mixin: str) -> Callable[[Any], Any]:
    step = getattr(model, method, None)
    if not callable(step):
        name = type(model).__qualname__
        raise TypeError(
            f"{name} has no {method}(batch): subclass {mixin} "
            f"(class {name}(nn.Module, {mixin}[Batch, Output])) and implement it"
        )
    return cast(Callable[[Any], Any], step)


def _output_type(model: object, method: str) -> type[Any] | None:
    """The item type a step method declares it returns, if its annotation says."""
    function = getattr(type(model), method, None)
    if function is None:
        return None
    try:
        declared = typing.get_type_hints(function).get("return")
    except (NameError, TypeError):
        return None
    if typing.get_origin(declared) is TrainOutput:
        (declared,) = typing.get_args(declared) or (None,)
    origin = typing.get_origin(declared) or declared
    return origin if isinstance(origin, type) and origin is not TrainOutput else None


# Reusable: a training step outside a distributed run needs no collectives.
_NO_COLLECTIVES = contextlib.nullcontext()


class Learner(Generic[ModelT]):
    """Trains a model with an optimizer and an optional learning-rate scheduler.

    Built by :class:`~burnish.learner.builder.LearnerBuilder`; see its options.
    """

    def __init__(
        self,
        model: ModelT,
        optimizer: torch.optim.Optimizer,
        lr_scheduler: torch.optim.lr_scheduler.LRScheduler | None,
        config: LearnerConfig,
    ) -> None:
        self.model = model
        self._train_step = _step_method(model, "train_step", "TrainStep")
        hook: Callable[[Any, torch.device], Any] = getattr(model, "transfer_batch", move_to_device)
        # The default hook is called directly: a call less every step.
        default = getattr(type(model), "transfer_batch", None) is BatchTransfer.transfer_batch
        self._transfer = move_to_device if default else hook
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.config = config
        self.device = config.device or next(
            (p.device for p in model.parameters()), torch.device("cpu")
        )
        self.model.to(self.device)
        self.history = MetricHistory()
        self.iteration = 0
        self.checkpointer = FileCheckpointer(config.directory / "checkpoint")
        self._ddp: DistributedDataParallel | None = None
        # The current fit's vote on stopping: None outside a distributed run.
        self._vote: StopVote | None = None
        for split_metrics, method in (
            (config.train_metrics, "train_step"),
            (config.valid_metrics, "valid_step"),
        ):
            declared = _output_type(model, method)
            if declared is not None:
                split_metrics.check_adaptable(declared)

    # -- public API --------------------------------------------------------------------------

    def fit(
        self, train_loader: Iterable[Any], valid_loader: Iterable[Any] | None = None
    ) -> FitResult[ModelT]:
        """Train for the configured epochs, validating after each when a loader is given.

        In a distributed run every process calls it: ``DataLoader``s with the default sampler
        are given one that shares the data among the processes (see
        :func:`~burnish.distributed.shard_loader`), the model trains wrapped in
        ``DistributedDataParallel``, and every process returns the same synced results.
        """
        config = self.config
        config.interrupter.reset()
        if valid_loader is not None:
            _step_method(self.model, "valid_step", "ValidStep")
        self._vote = StopVote(self._control_group) if is_distributed() else None
        if is_main_process() and (
            config.checkpointing is not None or config.resume_from is not None
        ):
            self.checkpointer.ensure_writable()
        resume = self._restore() if config.resume_from is not None else None
        if self._vote is not None:
            train_loader = shard_loader(train_loader, pad=True)
            if valid_loader is not None:
                valid_loader = shard_loader(valid_loader, pad=False)
        first_epoch = 1 if resume is None else resume.epoch + (resume.batches_done == 0)
        splits = (Split.TRAIN, Split.VALID) if valid_loader is not None else (Split.TRAIN,)
        watch = _LossWatch(config.on_nonfinite_loss, config.loss_check_seconds)
        finals: dict[Split, dict[str, MetricEntry]] = {}
        reason = "completed"
        with self._bus() as bus, _quiet_collector(config.gc_freeze):
            # Signals are ours only while training: a persistent dashboard that waits for a key
            # at the end leaves at the first Ctrl-C.
            with self._signals():
                bus.send(StartEvent(config.num_epochs, splits, time.monotonic()))
                try:
                    for epoch in range(first_epoch, config.num_epochs + 1):
                        partial = resume if resume is not None and resume.epoch == epoch else None
                        set_loader_epoch(train_loader, epoch)
                        finals[Split.TRAIN] = self._train_epoch(
                            epoch, train_loader, bus, watch, partial
                        )
                        if valid_loader is not None:
                            set_loader_epoch(valid_loader, epoch)
                            finals[Split.VALID] = self._valid_epoch(epoch, valid_loader, bus)
                        bus.send(EpochEndEvent(epoch))
                        self._checkpoint(epoch)
                        if self._should_stop_early(epoch):
                            reason = "early_stopped"
                            break
                        self._stop_if_agreed(epoch)
                except _Stopped as stopped:
                    reason = stopped.reason
            bus.end(reason)
            if self._vote is not None:
                # Every process returns once rank 0 has written the run's files: a process
                # resuming at once must find the last checkpoint.
                with collective("waiting for rank 0 to write its files"):
                    dist.barrier(group=self._control_group)
            bus.raise_if_failed()
        summary = LearnerSummary.from_history(
            self.history, config.num_epochs, type(self.model).__qualname__
        )
        if config.summary and is_main_process():
            print(summary, flush=True)
        return FitResult(self.model, finals, summary, reason)

    def evaluate(self, loader: Iterable[Any]) -> dict[str, MetricEntry]:
        """Run a test split through ``valid_step`` with the validation metrics.

        Returns each metric's entry for the split; empty when stopped before its end.
        """
        _step_method(self.model, "valid_step", "ValidStep")
        if is_distributed():
            loader = shard_loader(loader, pad=False)
        finals: dict[str, MetricEntry] = {}
        reason = "completed"
        with self._bus() as bus, _quiet_collector(self.config.gc_freeze):
            with self._signals():
                bus.send(StartEvent(1, (Split.TEST,), time.monotonic()))
                try:
                    finals = self._valid_epoch(1, loader, bus, Split.TEST)
                except _Stopped as stopped:
                    reason = stopped.reason
            bus.end(reason)
            bus.raise_if_failed()
        return finals

    # -- epochs ------------------------------------------------------------------------------

    def _train_epoch(
        self,
        epoch: int,
        loader: Iterable[Any],
        bus: _EventBus,
        watch: _LossWatch,
        resume: _Resume | None,
    ) -> dict[str, MetricEntry]:
        config, model, vote = self.config, self.model, self._vote
        metrics = config.train_metrics
        model.train()
        step = self._train_step if vote is None else self._wrapped()
        items_total, batches_total = _items_total(loader), _batches_total(loader)
        metrics.start(bus.send_steps, epoch, config.num_epochs, items_total)
        bus.send(StartSplitEvent(Split.TRAIN, epoch, items_total))
        epoch_rng, batches, done, items = self._epoch_batches(loader, resume)
        accumulation = config.grads_accumulation
        self.optimizer.zero_grad(set_to_none=True)
        pending_grads = False
        for host_batch in batches:
            batch = self._transfer(host_batch, self.device)
            steps_optimizer = (done + 1) % accumulation == 0 or done + 1 == batches_total
            collectives = (
                _NO_COLLECTIVES
                if vote is None
                else self._step_collectives(epoch, sync_gradients=steps_optimizer)
            )
            with collectives:
                output = step(batch)
                if not isinstance(output, TrainOutput):
                    raise TypeError(
                        f"{type(model).__qualname__}.train_step must return TrainOutput(loss, "
                        f"item), got {type(output).__qualname__}"
                    )
                if done == (0 if resume is None else resume.batches_done):
                    metrics.check_adaptable(type(output.item))
                done += 1
                items += batch_size_of(batch)
                self.iteration += 1
                # The rates this step trains with, before the scheduler moves them.
                lrs = self._lrs()
                admitted = watch.admit(output.loss, epoch, self.iteration)
                if vote is not None and watch.policy == "skip":
                    # Every process skips the batch, or none: DDP syncs every backward pass.
                    admitted = vote.everyone(admitted)
                if admitted:
                    loss = output.loss / accumulation if accumulation > 1 else output.loss
                    loss.backward()  # type: ignore[no-untyped-call]
                    pending_grads = True
            now = time.monotonic()
            # A skipped batch (non-finite loss) is left out of training and metrics alike.
            if admitted:
                if steps_optimizer:
                    self._optimizer_step()
                    pending_grads = False
                metrics.record(output.item, items, self.iteration, lrs, now)
            if vote is not None or now >= watch.due or config.interrupter.should_stop():
                self._after_step(watch, bus, epoch=epoch, done=done, items=items, rng=epoch_rng)
        if pending_grads:
            self._optimizer_step()
        if vote is None:
            watch.check(force=True)
        else:
            verdict = vote.agree(config.interrupter.should_stop(), watch.look(force=True))
            self._obey(verdict, watch, epoch=epoch, done=done, items=items, epoch_rng=epoch_rng)
        if done == 0:
            raise ValueError(
                f"the train loader yielded no batches in epoch {epoch}: is the dataset empty, "
                "or drop_last=True with fewer items than one batch?"
            )
        if self.lr_scheduler is not None and config.scheduler_interval == "epoch":
            self.lr_scheduler.step()
        return self._end_split(Split.TRAIN, epoch, metrics, bus)

    @contextlib.contextmanager
    def _step_collectives(self, epoch: int, sync_gradients: bool) -> Iterator[None]:
        """Around a training step's forward and backward passes in a distributed run: no
        gradient all-reduce for a step that only accumulates gradients, and a failed collective
        raised as a :class:`DistributedError` that says which step it was."""
        ddp = self._wrapped()
        # Skipping batches makes gradients that were never all-reduced unrecoverable: with
        # that policy every backward pass syncs.
        accumulate = not sync_gradients and self.config.on_nonfinite_loss != "skip"
        with ddp.no_sync() if accumulate else contextlib.nullcontext():
            try:
                yield
            except RuntimeError as error:
                if isinstance(error, DistributedError) or not is_communication_error(error):
                    raise
                what = f"training step {self.iteration} of epoch {epoch} (its gradient all-reduce)"
                raise failure(what, error) from error

    def _after_step(
        self,
        watch: _LossWatch,
        bus: _EventBus,
        *,
        epoch: int,
        done: int,
        items: int,
        rng: dict[str, Any],
    ) -> None:
        """Act on non-finite losses, a consumer's error and stop requests: on one process, when
        a check is due (:attr:`_LossWatch.due`) or a stop asked for; in a distributed run, on
        the vote, which every process reads at the same step."""
        vote, interrupter = self._vote, self.config.interrupter
        bus.raise_if_failed()
        if vote is None:
            watch.check()
            if interrupter.should_stop():
                watch.check(force=True)
                self._save(epoch, done, items, rng)
                raise _Stopped("stopped")
            return
        verdict = vote.cast(interrupter.should_stop(), watch.look())
        if verdict.stop:
            # The last losses are checked before the state is saved, as on one process.
            verdict = vote.agree(True, watch.look(force=True))
        self._obey(verdict, watch, epoch=epoch, done=done, items=items, epoch_rng=rng)

    def _obey(
        self,
        verdict: Verdict,
        watch: _LossWatch,
        *,
        epoch: int,
        done: int,
        items: int,
        epoch_rng: dict[str, Any] | None,
    ) -> None:
        if verdict.nonfinite_rank is not None:
            watch.fail(
                watch.found
                or f"the loss became non-finite on rank {verdict.nonfinite_rank}: its own "
                "error says where"
            )
        if verdict.stop:
            self._save(epoch, done, items, epoch_rng)
            raise _Stopped("stopped")

    def _stop_if_agreed(self, epoch: int) -> None:
        """In a distributed run, a stop asked for during validation takes effect at the end of
        the epoch: shares of validation data differ, so no validation step is a collective."""
        vote = self._vote
        if vote is not None and vote.agree(self.config.interrupter.should_stop(), False).stop:
            self._save(epoch, 0, 0, None)
            raise _Stopped("stopped")

    def _epoch_batches(
        self, loader: Iterable[Any], resume: _Resume | None
    ) -> tuple[dict[str, Any], Iterator[Any], int, int]:
        """The epoch's starting random state, its batches, and the batches and items done.

        Resuming mid-epoch replays the interrupted epoch's order and skips what was already
        trained on. The skip is eager: samplers draw their shuffle seed on the first batch,
        which must happen under the epoch's starting random state, not the interrupted one.
        The epoch's metrics continue from their saved state.
        """
        if resume is not None and resume.epoch_rng is not None:
            _set_rng_state(resume.epoch_rng)
        epoch_rng = _rng_state()
        batches = iter(loader)
        if resume is None:
            return epoch_rng, batches, 0, 0
        collections.deque(itertools.islice(batches, resume.batches_done), maxlen=0)
        _set_rng_state(resume.rng)
        # Saved merged over every process: rank 0 continues it, the others start afresh.
        if resume.metric_states is not None and is_main_process():
            self.config.train_metrics.load_state_dict(resume.metric_states)
        return epoch_rng, batches, resume.batches_done, resume.items

    def _valid_epoch(
        self, epoch: int, loader: Iterable[Any], bus: _EventBus, split: Split = Split.VALID
    ) -> dict[str, MetricEntry]:
        config, model = self.config, self.model
        # The model itself, not its DDP wrapper: validation needs no gradient sync, and shares
        # of validation data may differ by a batch, which no collective could wait for.
        valid_step = _step_method(model, "valid_step", "ValidStep")
        metrics = config.valid_metrics
        model.eval()
        # A stop asked for meanwhile waits for the end of the split (see _stop_if_agreed).
        stoppable = not is_distributed()
        items_total = _items_total(loader)
        metrics.start(bus.send_steps, epoch, config.num_epochs, items_total)
        bus.send(StartSplitEvent(split, epoch, items_total))
        items = 0
        with torch.no_grad():
            for iteration, host_batch in enumerate(loader, start=1):
                batch = self._transfer(host_batch, self.device)
                output = valid_step(batch)
                if iteration == 1:
                    metrics.check_adaptable(type(output))
                items += batch_size_of(batch)
                metrics.record(output, items, iteration, self._lrs(), time.monotonic())
                bus.raise_if_failed()
                if stoppable and config.interrupter.should_stop():
                    metrics.flush()
                    if split is Split.VALID:
                        # This epoch's training is complete; its partial validation is not kept.
                        self._save(epoch, 0, 0, None)
                    raise _Stopped("stopped")
        return self._end_split(split, epoch, metrics, bus)

    def _end_split(
        self, split: Split, epoch: int, metrics: SplitMetrics, bus: _EventBus
    ) -> dict[str, MetricEntry]:
        updates = metrics.compute()
        bus.send(EndSplitEvent(split, epoch, updates, time.monotonic()))
        for update in updates:
            if update.numeric:
                value = update.entry.numeric.value
                self.history.record(split, update.entry.name, epoch, value)
        return {update.entry.name: update.entry for update in updates}

    def _optimizer_step(self) -> None:
        config = self.config
        if config.clip_grad_value is not None or config.clip_grad_norm is not None:
            parameters = [p for group in self.optimizer.param_groups for p in group["params"]]
            if config.clip_grad_value is not None:
                torch.nn.utils.clip_grad_value_(parameters, config.clip_grad_value)
            if config.clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(parameters, config.clip_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.lr_scheduler is not None and self.config.scheduler_interval == "iteration":
            self.lr_scheduler.step()

    def _lrs(self) -> tuple[float, ...]:
        return tuple([float(group["lr"]) for group in self.optimizer.param_groups])

    def _should_stop_early(self, epoch: int) -> bool:
        strategy = self.config.early_stopping
        if strategy is None or epoch <= self.config.early_stopping_warmup:
            return False
        return strategy.should_stop(epoch, self.history)

    # -- checkpoints -------------------------------------------------------------------------

    def _checkpoint(self, epoch: int) -> None:
        strategy = self.config.checkpointing
        if strategy is None or not is_main_process():
            return
        for action in plan(strategy, epoch, self.history, self.checkpointer.epochs()):
            if action.kind is ActionKind.SAVE:
                self._save(epoch, 0, 0, None)
            else:
                self.checkpointer.delete(action.epoch)

    def _save(
        self, epoch: int, batches_done: int, items: int, epoch_rng: dict[str, Any] | None
    ) -> None:
        # Every step trained on so far is logged before stopping, checkpoint or not.
        self.config.train_metrics.flush()
        if self.config.checkpointing is None:
            return
        # Mid-epoch, the epoch's metrics continue from here on resume. In a distributed run,
        # every process's (a collective), merged: rank 0 continues them.
        metric_states = self.config.train_metrics.state_dict() if batches_done else None
        if not is_main_process():
            return
        self.checkpointer.save(
            epoch,
            {
                "format": CHECKPOINT_FORMAT,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "lr_scheduler": None
                if self.lr_scheduler is None
                else self.lr_scheduler.state_dict(),
                "learner": {
                    "epoch": epoch,
                    "batches_done": batches_done,
                    "items": items,
                    "iteration": self.iteration,
                    "history": self.history.state_dict(),
                    "rng": _rng_state(),
                    "epoch_rng": epoch_rng,
                    "train_metrics": metric_states,
                },
            },
        )

    def _restore(self) -> _Resume:
        requested = self.config.resume_from
        epoch = self.checkpointer.latest() if requested == "latest" else requested
        if epoch is None:
            raise CheckpointError(f"no checkpoint to resume from in {self.checkpointer.directory}")
        assert isinstance(epoch, int)
        record = self.checkpointer.load(epoch, self.device)
        path = self.checkpointer.path(epoch)
        if record.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path} is not a burnish checkpoint of a known format")
        try:
            self.model.load_state_dict(record["model"])
        except RuntimeError as error:
            raise CheckpointError(
                f"{path} does not fit {type(self.model).__qualname__}: {error}"
            ) from error
        try:
            self.optimizer.load_state_dict(record["optimizer"])
        except (ValueError, KeyError) as error:
            raise CheckpointError(f"{path}: the optimizer state does not fit: {error}") from error
        if self.lr_scheduler is not None and record["lr_scheduler"] is not None:
            self.lr_scheduler.load_state_dict(record["lr_scheduler"])
        learner = record["learner"]
        self.iteration = int(learner["iteration"])
        self.history.load_state_dict(learner["history"])
        _set_rng_state(learner["rng"])
        return _Resume(
            int(learner["epoch"]),
            int(learner["batches_done"]),
            int(learner["items"]),
            learner["rng"],
            learner["epoch_rng"],
            learner.get("train_metrics"),
        )

    # -- plumbing ----------------------------------------------------------------------------

    @functools.cached_property
    def _control_group(self) -> ProcessGroup | None:
        # Made once: creating a group is itself a collective.
        return control_group()

    def _wrapped(self) -> DistributedDataParallel:
        """The model in ``DistributedDataParallel``, its forward the model's ``train_step``
        (wrapped once: DDP broadcasts rank 0's weights to every process then)."""
        if self._ddp is None:
            with collective("wrapping the model in DistributedDataParallel"):
                module = StepModule(self.model, self._train_step)
                self._ddp = DistributedDataParallel(module, **self.config.ddp_options)
        return self._ddp

    @contextlib.contextmanager
    def _bus(self) -> Iterator[_EventBus]:
        # Only rank 0 shows and logs: the other processes are quiet.
        consumers = [
            *([self.config.renderer] if self.config.renderer is not None else []),
            *self.config.loggers,
        ]
        bus = _EventBus(consumers if is_main_process() else [])
        try:
            yield bus
        finally:
            bus.end("error")
            # Metrics holding resources (the system sampler's thread) let them go.
            self.config.train_metrics.close()
            self.config.valid_metrics.close()

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """First Ctrl-C (or SIGTERM): stop after the batch and checkpoint. Second: abort now.

        Under torchrun, the launcher passes the terminal's Ctrl-C on to every process, which
        so gets it twice: in a distributed run, a second signal within a second of the first
        is taken for the same one.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        interrupter = self.config.interrupter
        echo = _ECHO_SECONDS if is_distributed() else 0.0
        first: list[float] = []

        def handle(signum: int, frame: FrameType | None) -> None:
            if interrupter.should_stop():
                if first and time.monotonic() - first[0] < echo:
                    return
                raise KeyboardInterrupt
            first.append(time.monotonic())
            log.warning("stopping after this batch (press Ctrl-C again to abort at once)")
            interrupter.stop()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
