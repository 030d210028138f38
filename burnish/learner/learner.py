"""The fit loop: Burn's ``Learner``.

The training thread runs steps and publishes events; renderers and loggers read them on their
own threads. Nothing here reads a device value per step: the loss is checked for NaN/inf in
batches, about once a second, and metric values are read by whoever shows or logs them.

Inside an initialised process group of several processes (torchrun), the model trains wrapped
in ``DistributedDataParallel``, each process reads its share of the data, metrics sync at the
end of each split, and only rank 0 shows, logs and checkpoints.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any, Generic, NoReturn, TypeVar, cast

import torch
import torch.distributed as dist

from burnish.distributed import (
    collective,
    is_distributed,
    is_main_process,
    set_loader_epoch,
    shard_loader,
)
from burnish.learner.callbacks import Callbacks
from burnish.learner.checkpoint import FileCheckpointer, plan
from burnish.learner.checkpoint.strategy import ActionKind
from burnish.learner.config import FitResult, LearnerConfig, best_kept
from burnish.learner.distributed import DistributedTraining, StopVote, Verdict
from burnish.learner.early_stopping import stops_early
from burnish.learner.guards import (
    LossWatch,
    NonFiniteLossError,
    Stopped,
    quiet_collector,
    stop_signals,
)
from burnish.learner.history import MetricHistory
from burnish.learner.optimization import Optimization
from burnish.learner.resume import (
    Position,
    ResumePoint,
    TrainingState,
    accumulated_gradients,
    epoch_entries,
    loader_generators,
    replay_epoch,
)
from burnish.learner.step import (
    batch_size_of,
    batch_transfer,
    batches_total,
    check_train_output,
    declared_output,
    device_of,
    items_total,
    model_steps,
    nonempty_size,
    step_method,
)
from burnish.learner.summary import LearnerSummary
from burnish.metric.entry import MetricEntry
from burnish.processor.bus import EventBus
from burnish.processor.events import (
    EndSplitEvent,
    EpochEndEvent,
    Split,
    StartEvent,
    StartSplitEvent,
)
from burnish.processor.split import SplitMetrics

__all__ = ["FitResult", "Learner", "LearnerConfig", "NonFiniteLossError"]

log = logging.getLogger("burnish.learner")

ModelT = TypeVar("ModelT", bound=torch.nn.Module)
# Under torchrun a terminal's Ctrl-C reaches each process twice (see stop_signals).
_ECHO_SECONDS = 1.0


# Reusable: a training step outside a distributed run needs no collectives.
_NO_COLLECTIVES = contextlib.nullcontext()


class Learner(Generic[ModelT]):
    """Trains a model with an optimizer and an optional learning-rate scheduler.

    Built by :class:`~burnish.builder.LearnerBuilder`; see its options.
    """

    def __init__(
        self,
        model: ModelT,
        optimizer: torch.optim.Optimizer,
        lr_scheduler: torch.optim.lr_scheduler.LRScheduler | None,
        config: LearnerConfig,
    ) -> None:
        self.model = model
        self._train_step, self._valid_step = model_steps(model, config.compile_options)
        self._transfer = batch_transfer(model)
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.config = config
        self.device = config.device or device_of(model)
        self.model.to(self.device)
        self.history = MetricHistory()
        self.iteration = 0
        self.checkpointer = FileCheckpointer(config.directory / "checkpoint")
        self._optimization = Optimization(optimizer, lr_scheduler, config.optimization, self.device)
        self._state = TrainingState(
            model,
            optimizer,
            lr_scheduler,
            self.history,
            self.checkpointer,
            grad_scaler=self._optimization.scaler,
        )
        self._callbacks = Callbacks(config.callbacks, self)
        # Made at the first distributed step: wrapping the model is a collective.
        self._distributed = DistributedTraining(
            model,
            self._train_step,
            config.ddp_options,
            config.on_nonfinite_loss,
            lambda: self.iteration,
        )
        # The current fit's vote on stopping: None outside a distributed run.
        self._vote: StopVote | None = None
        # Whether gradients were accumulated since the last optimizer step.
        self._pending_grads = False
        self._fitted = False
        # The last epoch whose end was checkpointed, which a stop there need not write again.
        self._written: int | None = None
        for split_metrics, method in (
            (config.train_metrics, "train_step"),
            (config.valid_metrics, "valid_step"),
        ):
            declared = declared_output(model, method)
            if declared is not None:
                split_metrics.check_adaptable(declared)

    # -- public API --------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the fit to end gracefully: after the current batch, or at the end of the epoch
        when asked from a callback's epoch hooks; a checkpoint is written either way."""
        self.config.interrupter.stop()

    def fit(
        self, train_loader: Iterable[Any], valid_loader: Iterable[Any] | None = None
    ) -> FitResult[ModelT]:
        """Train for the configured epochs, validating after each when a loader is given.

        In a distributed run every process calls it: ``DataLoader``s with the default sampler
        are given one that shares the data among the processes (see
        :func:`~burnish.distributed.shard_loader`), the model trains wrapped in
        ``DistributedDataParallel``, and every process returns the same synced results.
        """
        if self._fitted:
            raise RuntimeError(
                "this learner has fit already: a second fit would start its run over in "
                f"{self.config.directory}; build a new learner (with resume() to continue)"
            )
        self._fitted = True
        self.config.interrupter.reset()
        if valid_loader is not None:
            step_method(self.model, "valid_step", "ValidStep")
        try:
            finals, reason = self._run(train_loader, valid_loader)
        except BaseException as error:
            self._callbacks.error(error)
            raise
        result = self._result(finals, reason)
        self._callbacks.fit_end(result)
        return result

    def _run(
        self, train_loader: Iterable[Any], valid_loader: Iterable[Any] | None
    ) -> tuple[dict[Split, dict[str, MetricEntry]], str]:
        """The fit: each split's last epoch entries, and why it ended."""
        config = self.config
        self._vote = StopVote(self._distributed.control_group) if is_distributed() else None
        resume = self._begin(train_loader)
        first_epoch = 1 if resume is None else resume.epoch_done + 1
        # Each split's last epoch entries: those of the checkpoint resumed from until replaced.
        finals = epoch_entries(self.history, first_epoch - 1)
        self._callbacks.fit_start()
        if first_epoch > config.num_epochs:
            log.warning(
                "nothing to train: the checkpoint resumed from ends epoch %d, and the run has "
                "%d epochs (LearnerBuilder.num_epochs); raise it to train further",
                first_epoch - 1,
                config.num_epochs,
            )
            return finals, "completed"
        if self._vote is not None:
            train_loader = shard_loader(train_loader, pad=True)
            if valid_loader is not None:
                valid_loader = shard_loader(valid_loader, pad=False)
        splits = (Split.TRAIN, Split.VALID) if valid_loader is not None else (Split.TRAIN,)
        with self._bus() as bus, quiet_collector(config.gc_freeze):
            # Signals are ours only while training: a persistent dashboard that waits for a key
            # at the end leaves at the first Ctrl-C.
            with stop_signals(config.interrupter, _ECHO_SECONDS if is_distributed() else 0):
                bus.send(StartEvent(config.num_epochs, splits, time.monotonic(), resume is None))
                reason = self._epochs(bus, finals, first_epoch, resume, train_loader, valid_loader)
            bus.end(reason)
            if self._vote is not None:
                # Every process returns once rank 0 has written the run's files: a process
                # resuming at once must find the last checkpoint.
                with collective("waiting for rank 0 to write its files"):
                    dist.barrier(group=self._distributed.control_group)
            if reason == "nonfinite_loss":
                # A consumer's check of the steps that followed the non-finite loss (NaN scores
                # from NaN weights) failed because of it: the policy has acted.
                bus.log_failures()
            else:
                bus.raise_if_failed()
        return finals, reason

    def _epochs(  # noqa: PLR0917 - the fit's state, passed on once
        self,
        bus: EventBus,
        finals: dict[Split, dict[str, MetricEntry]],
        first_epoch: int,
        resume: ResumePoint | None,
        train_loader: Iterable[Any],
        valid_loader: Iterable[Any] | None,
    ) -> str:
        """Train (and validate) the epochs from ``first_epoch``, keeping each split's last
        entries in ``finals``; why they ended."""
        watch = LossWatch(self.config.on_nonfinite_loss, self.config.loss_check_seconds)
        try:
            for epoch in range(first_epoch, self.config.num_epochs + 1):
                self._callbacks.epoch_start(epoch)
                partial = resume if resume is not None and resume.epoch == epoch else None
                set_loader_epoch(train_loader, epoch)
                finals[Split.TRAIN] = self._train_epoch(epoch, train_loader, bus, watch, partial)
                if valid_loader is not None:
                    set_loader_epoch(valid_loader, epoch)
                    finals[Split.VALID] = self._valid_epoch(epoch, valid_loader, bus)
                    self._callbacks.validation_end(epoch, finals[Split.VALID])
                bus.send(EpochEndEvent(epoch))
                self._callbacks.epoch_end(epoch, finals)
                self._epoch_done(epoch, watch)
                config = self.config
                if stops_early(
                    config.early_stopping, config.early_stopping_warmup, epoch, self.history
                ):
                    return "early_stopped"
                self._stop_at_epoch_end(epoch)
        except Stopped as stopped:
            return stopped.reason
        return "completed"

    def _begin(self, train_loader: Iterable[Any]) -> ResumePoint | None:
        """Load the checkpoint to resume from, if any; where it left off. The state this fit
        starts from is the first one known to train on finite losses."""
        config = self.config
        # Their states are the loader's part of the random state: a resumed epoch draws the
        # same order only if they are restored with the global ones.
        self._state.generators = loader_generators(train_loader)
        if is_main_process() and (
            config.checkpointing is not None or config.resume_from is not None
        ):
            self.checkpointer.ensure_writable()
        resume = None
        if config.resume_from is not None:
            resume = self._state.restore(config.resume_from, self.device)
            self.iteration = resume.iteration
        # Records hold the random states only where checkpoints are written from them.
        self._state.keeps_rng = config.checkpointing is not None and is_main_process()
        if config.on_nonfinite_loss != "skip":
            at = (0, 0, 0) if resume is None else resume.position
            record = self._state.record(at[0], self.iteration, batches_done=at[1], items=at[2])
            self._state.keep_finite(record, "its weights when this fit started")
        return resume

    def evaluate(self, loader: Iterable[Any]) -> dict[str, MetricEntry]:
        """Run a test split through ``valid_step`` with the validation metrics.

        Returns each metric's entry for the split; empty when stopped before its end.
        """
        step_method(self.model, "valid_step", "ValidStep")
        self.config.interrupter.reset()
        if is_distributed():
            loader = shard_loader(loader, pad=False)
        finals: dict[str, MetricEntry] = {}
        reason = "completed"
        with self._bus() as bus, quiet_collector(self.config.gc_freeze):
            with stop_signals(self.config.interrupter, _ECHO_SECONDS if is_distributed() else 0):
                bus.send(StartEvent(1, (Split.TEST,), time.monotonic()))
                try:
                    finals = self._valid_epoch(1, loader, bus, Split.TEST)
                except Stopped as stopped:
                    reason = stopped.reason
            bus.end(reason)
            bus.raise_if_failed()
        return finals

    def _result(
        self, finals: dict[Split, dict[str, MetricEntry]], reason: str
    ) -> FitResult[ModelT]:
        summary = LearnerSummary.from_history(self.history, type(self.model).__qualname__)
        if self.config.summary and is_main_process():
            print(summary, flush=True)
        self._optimization.report()
        best = best_kept(self.config.checkpointing, self.history, self.checkpointer)
        return FitResult(self.model, finals, summary, reason, best)

    # -- epochs ------------------------------------------------------------------------------

    def _train_epoch(
        self,
        epoch: int,
        loader: Iterable[Any],
        bus: EventBus,
        watch: LossWatch,
        resume: ResumePoint | None,
    ) -> dict[str, MetricEntry]:
        config, model, vote = self.config, self.model, self._vote
        metrics = config.train_metrics
        model.train()
        step = self._train_step if vote is None else self._distributed.wrapped()
        total_items, total_batches = items_total(loader), batches_total(loader)
        metrics.start(bus.send, epoch, config.num_epochs, total_items)
        bus.send(StartSplitEvent(Split.TRAIN, epoch, total_items))
        self.optimizer.zero_grad(set_to_none=True)
        epoch_rng, batches, (_, done, items) = replay_epoch(loader, resume, self._state.keeps_rng)
        self._pending_grads = self._continue(resume)
        optimization = self._optimization
        accumulation = optimization.accumulation
        for host_batch in batches:
            batch = self._transfer(host_batch, self.device)
            batch_size = nonempty_size(batch, epoch, done + 1)
            steps_optimizer = (done + 1) % accumulation == 0 or done + 1 == total_batches
            collectives = (
                _NO_COLLECTIVES
                if vote is None
                else self._distributed.step(epoch, sync_gradients=steps_optimizer)
            )
            with collectives:
                with optimization.autocast():
                    output = step(batch)
                check_train_output(model, output)
                if done == (0 if resume is None else resume.batches_done):
                    metrics.check_adaptable(type(output.item))
                done += 1
                items += batch_size
                self.iteration += 1
                # The rates this step trains with, before the scheduler moves them.
                lrs = optimization.lrs()
                admitted = watch.admit(output.loss, epoch, self.iteration)
                if vote is not None and watch.policy == "skip":
                    # Every process skips the batch, or none: DDP syncs every backward pass.
                    admitted = vote.everyone(admitted)
                if admitted:
                    optimization.backward(output.loss)
                    self._pending_grads = True
            now = time.monotonic()
            # A window's optimizer step comes at its end, on the batches admitted: a skipped
            # batch (non-finite loss) is left out of training and metrics alike.
            if steps_optimizer and self._pending_grads:
                optimization.step()
                self._pending_grads = False
            if admitted:
                metrics.record(output.item, items, self.iteration, lrs, now)
            if vote is not None or now >= watch.due or config.interrupter.should_stop():
                self._after_step(watch, bus, Position(epoch, done, items, epoch_rng))
        self._train_epoch_end(watch, Position(epoch, done, items, epoch_rng))
        return self._end_split(Split.TRAIN, epoch, metrics, bus)

    def _train_epoch_end(self, watch: LossWatch, at: Position) -> None:
        """Step on what the last window accumulated, and check every loss before the epoch's
        values are computed (a NaN loss explains a metric's failed check)."""
        if at.done == 0:
            raise ValueError(
                f"the train loader yielded no batches in epoch {at.epoch}: is the dataset empty, "
                "or drop_last=True with fewer items than one batch?"
            )
        if self._pending_grads:
            self._optimization.step()
            self._pending_grads = False
        vote = self._vote
        if vote is None:
            self._check_losses(watch, force=True)
        else:
            verdict = vote.agree(self.config.interrupter.should_stop(), watch.look(force=True))
            self._obey(verdict, watch, at)
        self._optimization.train_epoch_done()

    def _after_step(self, watch: LossWatch, bus: EventBus, at: Position) -> None:
        """Act on non-finite losses, a consumer's error and stop requests: on one process, when
        a check is due (:attr:`LossWatch.due`) or a stop asked for; in a distributed run, on
        the vote, which every process reads at the same step."""
        vote, interrupter = self._vote, self.config.interrupter
        if bus.failed():
            # Every loss of the steps a consumer has seen is in the watch: a non-finite one
            # explains the consumer's error (a check of NaN scores), and its policy comes first.
            self._check_losses(watch, force=True)
            bus.raise_if_failed()
        if vote is None:
            self._check_losses(watch)
            if interrupter.should_stop():
                self._check_losses(watch, force=True)
                self._save(at)
                raise Stopped("stopped")
            return
        verdict = vote.cast(interrupter.should_stop(), watch.look())
        if verdict.stop:
            # The last losses are checked before the state is saved, as on one process.
            verdict = vote.agree(True, watch.look(force=True))
        self._obey(verdict, watch, at)

    def _obey(self, verdict: Verdict, watch: LossWatch, at: Position) -> None:
        if verdict.nonfinite_rank is not None:
            self._nonfinite(
                watch,
                watch.found
                or f"the loss became non-finite on rank {verdict.nonfinite_rank}: its own "
                "error says where",
            )
        if verdict.stop:
            self._save(at)
            raise Stopped("stopped")

    def _check_losses(self, watch: LossWatch, force: bool = False) -> None:
        if watch.look(force):
            self._nonfinite(watch, cast(str, watch.found))

    def _nonfinite(self, watch: LossWatch, message: str) -> NoReturn:
        """Act on the policy, with the model sent back to the last state known to train on
        finite losses: steps after a non-finite loss may have made its weights NaN, and no NaN
        must reach the model returned or a checkpoint."""
        finite = self._state.go_back()
        if finite is not None:
            record, what = finite
            self._pending_grads = False
            message = f"{message} (the model now holds {what})"
            epoch = int(record["learner"]["epoch"])
            # A stop ends with a checkpoint: that state's, if its epoch has none.
            if (
                watch.policy == "stop"
                and self.config.checkpointing is not None
                and is_main_process()
                and epoch > 0
                and epoch not in self.checkpointer.epochs()
            ):
                self._write(epoch, record)
        watch.fail(message)

    def _stop_at_epoch_end(self, epoch: int) -> None:
        """A stop asked for by an epoch's callbacks, or in a distributed run during validation,
        takes effect at the end of the epoch, with its checkpoint. In a distributed run every
        process agrees first: shares of validation data differ, so no validation step is a
        collective."""
        vote, asked = self._vote, self.config.interrupter.should_stop()
        if not (vote.agree(asked, False).stop if vote is not None else asked):
            return
        if epoch == self.config.num_epochs:
            return  # the last epoch: the run is complete, not stopped
        if self._written != epoch:
            self._save(Position(epoch))
        raise Stopped("stopped")

    def _continue(self, resume: ResumePoint | None) -> bool:
        """Give a resumed epoch its metrics' state and the gradients accumulated since its last
        optimizer step; whether there are such gradients."""
        if resume is None:
            return False
        self._state.set_gradients(resume.gradients or {})
        # Saved merged over every process: rank 0 continues it, the others start afresh.
        if resume.metric_states is not None and is_main_process():
            self.config.train_metrics.load_state_dict(resume.metric_states)
        return bool(resume.gradients)

    def _valid_epoch(
        self, epoch: int, loader: Iterable[Any], bus: EventBus, split: Split = Split.VALID
    ) -> dict[str, MetricEntry]:
        config, model = self.config, self.model
        # The model itself, not its DDP wrapper: validation needs no gradient sync, and shares
        # of validation data may differ by a batch, which no collective could wait for.
        valid_step = self._valid_step or step_method(model, "valid_step", "ValidStep")
        metrics = config.valid_metrics
        model.eval()
        # A stop asked for meanwhile waits for the end of the split (see _stop_at_epoch_end).
        stoppable = not is_distributed()
        total_items = items_total(loader)
        metrics.start(bus.send, epoch, config.num_epochs, total_items, split)
        bus.send(StartSplitEvent(split, epoch, total_items))
        items = 0
        with torch.no_grad():
            for iteration, host_batch in enumerate(loader, start=1):
                batch = self._transfer(host_batch, self.device)
                with self._optimization.autocast():
                    output = valid_step(batch)
                if iteration == 1:
                    metrics.check_adaptable(type(output))
                items += batch_size_of(batch)
                metrics.record(output, items, iteration, self._optimization.lrs(), time.monotonic())
                bus.raise_if_failed()
                if stoppable and config.interrupter.should_stop():
                    metrics.flush()
                    if split is Split.VALID:
                        # This epoch's training is complete; its partial validation is not kept.
                        self._save(Position(epoch))
                    raise Stopped("stopped")
        return self._end_split(split, epoch, metrics, bus)

    def _end_split(
        self, split: Split, epoch: int, metrics: SplitMetrics, bus: EventBus
    ) -> dict[str, MetricEntry]:
        updates = metrics.compute()
        bus.send(EndSplitEvent(split, epoch, updates, time.monotonic()))
        for update in updates:
            if update.numeric:
                value = update.entry.numeric.value
                self.history.record(split, update.entry.name, epoch, value)
        return {update.entry.name: update.entry for update in updates}

    # -- checkpoints -------------------------------------------------------------------------

    def _epoch_done(self, epoch: int, watch: LossWatch) -> None:
        """At an epoch's end: its state becomes the last finite one, and its checkpoint is
        written or older ones deleted as the strategy plans."""
        # The scheduler steps on the epoch's values first: its state in the checkpoint is the
        # one the next epoch starts from.
        self._optimization.epoch_done(epoch, self.history)
        record = self._state.record(epoch, self.iteration)
        if watch.policy != "skip":
            self._state.keep_finite(record, f"its weights at the end of epoch {epoch}")
        strategy = self.config.checkpointing
        if strategy is None or not is_main_process():
            return
        for action in plan(strategy, epoch, self.history, self.checkpointer.epochs()):
            if action.kind is ActionKind.SAVE:
                self._write(epoch, record)
            else:
                self.checkpointer.delete(action.epoch)

    def _save(self, at: Position) -> None:
        """Checkpoint a stop: at an epoch's end, or ``at.done`` batches into it."""
        # Every step trained on so far is logged before stopping, checkpoint or not.
        self.config.train_metrics.flush()
        if self.config.checkpointing is None:
            return
        record = self._state.record(
            at.epoch, self.iteration, batches_done=at.done, items=at.items, epoch_rng=at.rng
        )
        if at.done:
            # Mid-epoch, the epoch's metrics continue from here on resume. In a distributed run,
            # every process's (a collective), merged: rank 0 continues them.
            record["learner"]["train_metrics"] = self.config.train_metrics.state_dict()
            if self._pending_grads:
                record["gradients"] = accumulated_gradients(self.model, self._vote is not None)
        if is_main_process():
            self._write(at.epoch, record)

    def _write(self, epoch: int, record: dict[str, Any]) -> None:
        self._callbacks.checkpoint(epoch, self.checkpointer.save(epoch, record))
        self._written = epoch if record["learner"]["batches_done"] == 0 else None

    # -- plumbing ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _bus(self) -> Iterator[EventBus]:
        # Only rank 0 shows and logs: the other processes are quiet.
        renderer = [self.config.renderer] if self.config.renderer is not None else []
        with EventBus.running(
            [*renderer, *self.config.loggers] if is_main_process() else []
        ) as bus:
            for metrics in (self.config.train_metrics, self.config.valid_metrics):
                metrics.look_seconds = bus.look_seconds
            try:
                yield bus
            finally:
                # Metrics holding resources (the system sampler's thread) let them go.
                self.config.train_metrics.close()
                self.config.valid_metrics.close()
