"""The learner's side of a distributed run: the model DDP wraps, its steps' collectives,
and the stop vote.

Every process trains the same number of steps and must take part in the same collectives, so
a decision to stop (a key press on rank 0, Ctrl-C, a non-finite loss seen by one process) is
agreed by all of them before anyone acts on it.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from burnish.distributed.process import (
    DistributedError,
    collective,
    failure,
    is_communication_error,
    process_rank,
)

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup, Work

__all__ = ["DistributedTraining", "StepModule", "StopVote", "Verdict", "control_group"]


class StepModule(nn.Module):
    """DDP synchronises gradients around ``forward``: here, ``forward`` is the model's
    ``train_step`` (``step``), so that a step written as a method still syncs."""

    def __init__(self, model: nn.Module, step: Callable[[Any], Any]) -> None:
        super().__init__()
        self.model = model
        self.step = step

    def forward(self, batch: Any) -> Any:
        return self.step(batch)


class DistributedTraining:
    """The model wrapped in ``DistributedDataParallel``, and the collectives of its steps."""

    def __init__(
        self,
        model: nn.Module,
        train_step: Callable[[Any], Any],
        ddp_options: dict[str, Any],
        nonfinite_policy: str,
        iteration: Callable[[], int],
    ) -> None:
        self._model, self._train_step, self._options = model, train_step, ddp_options
        # The learner's step count, which it moves on once a step's forward pass has run.
        self._iteration = iteration
        # Skipping batches makes gradients that were never all-reduced unrecoverable: with
        # that policy every backward pass syncs.
        self._syncs_always = nonfinite_policy == "skip"
        self._ddp: DistributedDataParallel | None = None

    @functools.cached_property
    def control_group(self) -> ProcessGroup | None:
        # Made once: creating a group is itself a collective.
        return control_group()

    def wrapped(self) -> DistributedDataParallel:
        """The model in ``DistributedDataParallel``, its forward the model's ``train_step``
        (wrapped once: DDP broadcasts rank 0's weights to every process then)."""
        if self._ddp is None:
            with collective("wrapping the model in DistributedDataParallel"):
                module = StepModule(self._model, self._train_step)
                self._ddp = DistributedDataParallel(module, **self._options)
        return self._ddp

    @contextlib.contextmanager
    def step(self, epoch: int, sync_gradients: bool) -> Iterator[None]:
        """Around a training step's forward and backward passes: no gradient all-reduce for a
        step that only accumulates gradients, and a failed collective raised as a
        :class:`DistributedError` that says which step it was and in which pass."""
        ddp = self.wrapped()
        accumulate = not sync_gradients and not self._syncs_always
        iteration = self._iteration() + 1
        with ddp.no_sync() if accumulate else contextlib.nullcontext():
            try:
                yield
            except RuntimeError as error:
                if isinstance(error, DistributedError) or not is_communication_error(error):
                    raise
                # DDP broadcasts buffers in the forward pass, reduces gradients in the backward.
                counted = self._iteration() == iteration
                part = "gradient all-reduce" if counted else "forward pass"
                what = f"training step {iteration} of epoch {epoch} (its {part})"
                raise failure(what, error) from error


def control_group() -> ProcessGroup | None:
    """A group for the vote's CPU tensors: the default group when it runs gloo, else a new gloo
    group of every process, with the default group's timeout (NCCL would need the votes on the
    GPU, and reading them would wait for it)."""
    if "gloo" in str(dist.get_backend()):
        return None
    timeout: datetime.timedelta | None = None
    world: Any = dist.group.WORLD
    try:  # torch keeps the default group's timeout in its backend's options only
        timeout = world._get_backend(torch.device("cuda")).options._timeout
    except (AttributeError, RuntimeError):
        timeout = None
    return cast("ProcessGroup", dist.new_group(backend="gloo", timeout=timeout))


@dataclass(frozen=True, slots=True)
class Verdict:
    """What every process agreed: whether to stop, and which process (if any) saw a
    non-finite loss."""

    stop: bool = False
    nonfinite_rank: int | None = None

    @staticmethod
    def of(flags: torch.Tensor) -> Verdict:
        stop, nonfinite = flags.tolist()
        return Verdict(stop > 0, int(nonfinite) - 1 if nonfinite > 0 else None)


class StopVote:
    """Whether any process asked to stop or saw a non-finite loss, agreed once per step.

    :meth:`cast` posts the step's flags in an all-reduce without waiting for it and returns the
    previous step's verdict, long complete by then: training never waits on the vote, and every
    process acts on the same verdict at the same step, one step after it was asked for.
    """

    def __init__(self, group: ProcessGroup | None) -> None:
        self.group = group
        self._pending: tuple[Work, torch.Tensor] | None = None

    def _post(self, stop: bool, nonfinite: bool) -> tuple[Work, torch.Tensor]:
        flags = torch.tensor(
            [float(stop), float(process_rank() + 1 if nonfinite else 0)], dtype=torch.float64
        )
        with collective("the vote on stopping"):
            work = dist.all_reduce(flags, dist.ReduceOp.MAX, group=self.group, async_op=True)
        assert work is not None
        return work, flags

    @staticmethod
    def _wait(vote: tuple[Work, torch.Tensor] | None) -> Verdict:
        if vote is None:
            return Verdict()
        work, flags = vote
        with collective("the vote on stopping"):
            work.wait()
        return Verdict.of(flags)

    def cast(self, stop: bool, nonfinite: bool) -> Verdict:
        """Vote for this step; the previous step's verdict."""
        previous, self._pending = self._pending, self._post(stop, nonfinite)
        return self._wait(previous)

    def agree(self, stop: bool, nonfinite: bool) -> Verdict:
        """Vote and wait for the verdict, which includes the pending vote's."""
        previous, self._pending = self._pending, None
        earlier, now = self._wait(previous), self._wait(self._post(stop, nonfinite))
        ranks = [r for r in (earlier.nonfinite_rank, now.nonfinite_rank) if r is not None]
        return Verdict(earlier.stop or now.stop, max(ranks) if ranks else None)

    def everyone(self, flag: bool) -> bool:
        """Whether ``flag`` holds on every process (waits for the answer)."""
        agreed = torch.tensor([float(flag)], dtype=torch.float64)
        with collective("the vote on skipping a batch"):
            dist.all_reduce(agreed, dist.ReduceOp.MIN, group=self.group)
        return bool(agreed.item())
