"""A run's training state as a checkpoint record, and back; the last finite state.

A record holds everything a resumed run needs to continue as if never interrupted: the model,
the optimizer and scheduler (with their classes, so that a record is never loaded into another
kind), the random states, the learner's counters and history, and, when a run stopped inside an
epoch, where it stopped, its metrics' state and the gradients accumulated since the last
optimizer step.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import torch
import torch.distributed as dist

from burnish.distributed import collective
from burnish.learner.checkpoint import CheckpointError, FileCheckpointer
from burnish.learner.history import MetricHistory
from burnish.metric.entry import MetricEntry, NumericEntry, format_value
from burnish.processor.events import Split

__all__ = [
    "CHECKPOINT_FORMAT",
    "Position",
    "ResumePoint",
    "TrainingState",
    "accumulated_gradients",
    "epoch_entries",
    "host_copy",
    "loader_generators",
    "replay_epoch",
    "rng_state",
    "set_rng_state",
]

CHECKPOINT_FORMAT = 1


def loader_generators(loader: object) -> list[torch.Generator]:
    """The generators a data loader draws its order (and its workers' seeds) from, when it
    has its own rather than the global one."""
    found: list[torch.Generator] = []
    sampler = getattr(loader, "sampler", None)
    batch_sampler = getattr(loader, "batch_sampler", None)
    for owner in (loader, sampler, getattr(batch_sampler, "sampler", None)):
        generator = getattr(owner, "generator", None)
        if isinstance(generator, torch.Generator) and all(generator is not g for g in found):
            found.append(generator)
    return found


def rng_state(generators: Sequence[torch.Generator] = ()) -> dict[str, Any]:
    """The random states: the global ones, and those of ``generators`` (a loader's own)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    state["generators"] = [generator.get_state() for generator in generators]
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    with contextlib.suppress(ImportError):
        import numpy as np  # noqa: PLC0415 - optional

        kind, keys, position, has_gauss, gauss = cast(
            tuple[str, Any, int, int, float], np.random.get_state()
        )
        state["numpy"] = [kind, keys.tolist(), position, has_gauss, gauss]
    return state


def set_rng_state(state: dict[str, Any], generators: Sequence[torch.Generator] = ()) -> None:
    torch.set_rng_state(state["torch"])
    saved = state.get("generators", [])
    if len(saved) == len(generators):
        for generator, generator_state in zip(generators, saved, strict=True):
            generator.set_state(generator_state)
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        import numpy as np  # noqa: PLC0415 - present when it was saved

        kind, keys, position, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), position, has_gauss, gauss))


_SCALARS = frozenset({int, float, bool, str, bytes, type(None)})
# The parts of a record that training changes in place (see TrainingState.keep_finite).
_TRAINED = ("model", "optimizer", "lr_scheduler", "grad_scaler", "gradients")


def host_copy(value: Any) -> Any:
    """``value`` with every tensor in it copied to the host: a copy that later training steps
    cannot change."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, Mapping):
        return {key: host_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        if set(map(type, value)) <= _SCALARS:
            # A random state is hundreds of numbers: copied as a whole, not a call per number.
            return type(value)(value)
        return type(value)(host_copy(item) for item in value)
    return value


@dataclass(frozen=True, slots=True)
class Position:
    """Where training stands in an epoch: ``done`` batches and ``items`` into it (none: at its
    end), and the random state it started with."""

    epoch: int
    done: int = 0
    items: int = 0
    rng: dict[str, Any] | None = None


@dataclass(frozen=True)
class ResumePoint:
    """Where a record left off: after ``epoch``, or ``batches_done`` into it."""

    epoch: int
    batches_done: int
    items: int
    iteration: int
    history: dict[str, Any]
    rng: dict[str, Any]
    epoch_rng: dict[str, Any] | None
    metric_states: dict[str, dict[str, Any]] | None
    gradients: dict[str, torch.Tensor] | None

    @property
    def position(self) -> tuple[int, int, int]:
        """The epoch, and the batches and items done into it."""
        return self.epoch, self.batches_done, self.items

    @property
    def epoch_done(self) -> int:
        """The last epoch trained to its end."""
        return self.epoch if self.batches_done == 0 else self.epoch - 1


class TrainingState:
    """The model, optimizer and scheduler a learner trains and its metric history: written to
    and read from records, and the last of them known to train on finite losses."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        lr_scheduler: torch.optim.lr_scheduler.LRScheduler | None,
        history: MetricHistory,
        checkpointer: FileCheckpointer,
        *,
        grad_scaler: torch.amp.GradScaler | None = None,
    ) -> None:
        self.model = model
        self.grad_scaler = grad_scaler
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.history = history
        self.checkpointer = checkpointer
        # The train loader's own generators, whose states records keep with the global ones.
        self.generators: list[torch.Generator] = []
        # A host copy of a record, and what it is (see keep_finite).
        self._finite: tuple[dict[str, Any], str] | None = None
        # Off where no checkpoint is written: only a checkpoint resumes with the random states
        # (the last finite state is the model's and optimizer's), and reading them costs more
        # than the rest of a small model's record.
        self.keeps_rng = True

    def record(
        self,
        epoch: int,
        iteration: int,
        *,
        batches_done: int = 0,
        items: int = 0,
        epoch_rng: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A checkpoint record of the state now: after ``epoch``, or ``batches_done`` into it;
        with the random states unless :attr:`keeps_rng` is off."""
        return {
            "format": CHECKPOINT_FORMAT,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "optimizer_class": _class_name(self.optimizer),
            "lr_scheduler": None if self.lr_scheduler is None else self.lr_scheduler.state_dict(),
            "lr_scheduler_class": _class_name(self.lr_scheduler),
            "grad_scaler": None if self.grad_scaler is None else self.grad_scaler.state_dict(),
            # Set by a learner stopped between two optimizer steps (accumulated_gradients).
            "gradients": None,
            "learner": {
                "epoch": epoch,
                "batches_done": batches_done,
                "items": items,
                "iteration": iteration,
                "history": self.history.state_dict(),
                "rng": rng_state(self.generators) if self.keeps_rng else {},
                "epoch_rng": epoch_rng,
                "train_metrics": None,
            },
        }

    def restore(self, requested: int | Literal["latest"], device: torch.device) -> ResumePoint:
        """Load the checkpoint of epoch ``requested``, or the latest; where it left off."""
        epoch = self.checkpointer.latest() if requested == "latest" else requested
        if epoch is None:
            raise CheckpointError(f"no checkpoint to resume from in {self.checkpointer.directory}")
        record = self.checkpointer.load(epoch, device)
        point = self.load(record, str(self.checkpointer.path(epoch)))
        set_rng_state(point.rng, self.generators)
        return point

    def load(self, record: dict[str, Any], source: str) -> ResumePoint:
        """Load ``record`` (read from ``source``, which errors name); where it left off. A
        record that is not a burnish checkpoint of this model, optimizer and scheduler is a
        :class:`CheckpointError`."""
        if record.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{source} is not a burnish checkpoint of a known format")
        for key, owner in (
            ("optimizer_class", self.optimizer),
            ("lr_scheduler_class", self.lr_scheduler),
        ):
            saved, ours = record.get(key, _class_name(owner)), _class_name(owner)
            if saved != ours:
                raise CheckpointError(
                    f"{source} was written with {key.removesuffix('_class')} {saved}, and this "
                    f"learner has {ours}: build the learner with the same kind to resume"
                )
        try:
            point = _resume_point(record["learner"], record.get("gradients"))
            self._check_gradients(point.gradients)
            self.model.load_state_dict(record["model"])
            self.optimizer.load_state_dict(record["optimizer"])
            if self.lr_scheduler is not None and record["lr_scheduler"] is not None:
                self.lr_scheduler.load_state_dict(record["lr_scheduler"])
            if self.grad_scaler is not None and record.get("grad_scaler"):
                self.grad_scaler.load_state_dict(record["grad_scaler"])
            self.history.load_state_dict(point.history)
        except (KeyError, TypeError, ValueError, IndexError, RuntimeError, OverflowError) as error:
            raise CheckpointError(
                f"{source} does not fit {type(self.model).__qualname__} and its optimizer: "
                f"{type(error).__name__}: {error}"
            ) from error
        return point

    def keep_finite(self, record: dict[str, Any], what: str) -> None:
        """Keep ``record`` as the last state known to train on finite losses.

        A host copy of what training changes (the model's, optimizer's, scheduler's and
        scaler's states), which later steps cannot change; it waits for the device once an
        epoch, where the epoch's metrics have already waited for it. The learner's part is
        built afresh for each record (the history's lists, new random states) and is kept as it
        is: copying it costs a call per epoch of history, every epoch.
        """
        trained = {key: host_copy(record[key]) for key in _TRAINED}
        self._finite = ({**record, **trained}, what)

    def go_back(self) -> tuple[dict[str, Any], str] | None:
        """Load the last finite state (see :meth:`keep_finite`); its record, and what the model
        now holds."""
        if self._finite is None:
            return None
        record, _ = self._finite
        self.load(record, "the last finite state")
        return self._finite

    def set_gradients(self, gradients: dict[str, torch.Tensor]) -> None:
        """Give the parameters the gradients a record accumulated (checked when it was loaded)."""
        for name, parameter in self.model.named_parameters():
            gradient = gradients.get(name)
            if gradient is not None:
                parameter.grad = gradient.to(parameter.device, parameter.dtype, copy=True)

    def _check_gradients(self, gradients: dict[str, torch.Tensor] | None) -> None:
        parameters = dict(self.model.named_parameters())
        for name, gradient in (gradients or {}).items():
            if name not in parameters:
                raise KeyError(f"a gradient of {name!r}, a parameter the model does not have")
            if not isinstance(gradient, torch.Tensor) or gradient.shape != parameters[name].shape:
                raise ValueError(
                    f"the gradient of {name} is not a tensor of {tuple(parameters[name].shape)}"
                )


def replay_epoch(
    loader: Iterable[Any], resume: ResumePoint | None, keep_rng: bool = True
) -> tuple[dict[str, Any] | None, Iterator[Any], tuple[int, int, int]]:
    """The epoch's starting random state (``None`` unless ``keep_rng``: for a run that writes
    no checkpoint), its batches, and where it stands.

    Resuming mid-epoch replays the interrupted epoch's order and skips what was already trained
    on. The skip is eager: samplers draw their shuffle seed on the first batch, which must
    happen under the epoch's starting random state, not the interrupted one.
    """
    generators = loader_generators(loader)
    if resume is not None and resume.epoch_rng is not None:
        set_rng_state(resume.epoch_rng, generators)
    epoch_rng = rng_state(generators) if keep_rng else None
    batches = iter(loader)
    if resume is None:
        return epoch_rng, batches, (0, 0, 0)
    collections.deque(itertools.islice(batches, resume.batches_done), maxlen=0)
    set_rng_state(resume.rng, generators)
    return epoch_rng, batches, resume.position


def accumulated_gradients(model: torch.nn.Module, average: bool) -> dict[str, torch.Tensor]:
    """The gradients accumulated since the last optimizer step, for a resumed run to step on.

    ``average``: their mean over the processes of a distributed run (a collective). Every
    resumed process starts from it, and the next gradient all-reduce averages what each adds:
    the mean of the uninterrupted run's sums.
    """
    gradients = {
        name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None
    }
    if average:
        with collective("averaging the accumulated gradients for a checkpoint"):
            for gradient in gradients.values():
                dist.all_reduce(gradient)
                gradient.div_(dist.get_world_size())
    return gradients


def epoch_entries(history: MetricHistory, epoch: int) -> dict[Split, dict[str, MetricEntry]]:
    """Each split's values of ``epoch`` as entries (a resumed run's, until its own epochs
    replace them)."""
    entries: dict[Split, dict[str, MetricEntry]] = {}
    for split in history.splits():
        for name in history.names(split):
            value = history.value(split, name, epoch)
            if value is not None:
                # The history keeps values, not formats: four digits, as the log replay shows.
                text = format_value(value, 4)
                numeric = NumericEntry(value, kind="final")
                entries.setdefault(split, {})[name] = MetricEntry(name, text, numeric)
    return entries


def _class_name(value: object | None) -> str | None:
    return None if value is None else type(value).__qualname__


def _resume_point(
    learner: dict[str, Any], gradients: dict[str, torch.Tensor] | None
) -> ResumePoint:
    metric_states = learner.get("train_metrics")
    if metric_states is not None and not isinstance(metric_states, dict):
        raise TypeError(f"train_metrics is a {type(metric_states).__name__}, not a dict")
    history, rng, epoch_rng = learner["history"], learner["rng"], learner["epoch_rng"]
    for name, value in (("history", history), ("rng", rng), ("gradients", gradients or {})):
        if not isinstance(value, dict):
            raise TypeError(f"{name} is a {type(value).__name__}, not a dict")
    point = ResumePoint(
        epoch=int(learner["epoch"]),
        batches_done=int(learner["batches_done"]),
        items=int(learner["items"]),
        iteration=int(learner["iteration"]),
        history=history,
        rng=rng,
        epoch_rng=epoch_rng,
        metric_states=metric_states,
        gradients=gradients,
    )
    if min(point.epoch, point.batches_done, point.items, point.iteration) < 0:
        raise ValueError("negative epoch, batch, item or iteration counts")
    return point
