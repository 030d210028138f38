"""How a learner turns losses into weight updates: gradient accumulation, mixed precision,
clipping, the optimizer and its learning-rate scheduler."""

from __future__ import annotations

import contextlib
import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau

from burnish.learner.history import MetricHistory
from burnish.processor.events import Split

__all__ = [
    "MixedPrecision",
    "Optimization",
    "OptimizationOptions",
    "SchedulerInterval",
    "check_scheduler",
]

log = logging.getLogger("burnish.learner")

MixedPrecision = Literal["bf16", "fp16"]
SchedulerInterval = Literal["iteration", "epoch"]
Scheduler = torch.optim.lr_scheduler.LRScheduler

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# Reused by every step without mixed precision: nothing made per step.
_FULL_PRECISION = contextlib.nullcontext()


@dataclass(frozen=True)
class OptimizationOptions:
    """The builder's options for how weights are updated."""

    grads_accumulation: int = 1
    clip_grad_norm: float | None = None
    clip_grad_value: float | None = None
    scheduler_interval: SchedulerInterval = "iteration"
    # The epoch value that steps the scheduler (ReduceLROnPlateau's), if any.
    scheduler_metric: tuple[Split, str] | None = None
    mixed_precision: MixedPrecision | None = None


class Optimization:
    """Backward passes and optimizer steps, as the options say.

    With ``mixed_precision``, steps run under ``torch.autocast`` in bfloat16 or float16; float16
    scales the loss with a ``GradScaler`` (whose state is checkpointed), which skips an
    optimizer step whose gradients overflowed. The scaler reads whether they did once per
    optimizer step, as torch's ``GradScaler.step`` does for every optimizer; bfloat16 reads
    nothing.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        scheduler: Scheduler | None,
        options: OptimizationOptions,
        device: torch.device,
    ) -> None:
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.options = options
        self.accumulation = options.grads_accumulation
        self._clips = options.clip_grad_norm is not None or options.clip_grad_value is not None
        self._per_iteration = (
            scheduler is not None
            and options.scheduler_metric is None
            and options.scheduler_interval == "iteration"
        )
        precision = options.mixed_precision
        self.scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
        self._device_type = device.type
        self._dtype = None if precision is None else _DTYPES[precision]
        # Optimizer steps asked of the scaler, and those the optimizer took (counted by its
        # step hook): their difference is what the scaler skipped, known without a read.
        self._attempted = self._taken = 0
        if self.scaler is not None:
            optimizer.register_step_post_hook(self._count_step)

    def _count_step(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self._taken += 1

    @property
    def skipped_steps(self) -> int:
        """Optimizer steps the fp16 scaler skipped for overflowing gradients."""
        return self._attempted - self._taken

    def report(self) -> None:
        """Say how many optimizer steps the fp16 scaler skipped, if any."""
        if self.skipped_steps:
            log.warning(
                "fp16: %d optimizer steps were skipped for overflowing gradients",
                self.skipped_steps,
            )

    def autocast(self) -> AbstractContextManager[Any]:
        """Where a step's forward pass runs: under autocast with mixed precision."""
        if self._dtype is None:
            return _FULL_PRECISION
        return torch.autocast(self._device_type, dtype=self._dtype)

    def backward(self, loss: torch.Tensor) -> None:
        if self.accumulation > 1:
            loss = loss / self.accumulation
        if self.scaler is not None:
            loss = self.scaler.scale(loss)
        loss.backward()  # type: ignore[no-untyped-call]

    def step(self) -> None:
        """Step the optimizer on the gradients accumulated, and the scheduler if per iteration."""
        optimizer, scaler, options = self.optimizer, self.scaler, self.options
        if self._clips:
            if scaler is not None:
                scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
            parameters = [p for group in optimizer.param_groups for p in group["params"]]
            if options.clip_grad_value is not None:
                torch.nn.utils.clip_grad_value_(parameters, options.clip_grad_value)
            if options.clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(parameters, options.clip_grad_norm)
        if scaler is None:
            optimizer.step()
        else:
            self._attempted += 1
            scaler.step(optimizer)
            scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if self._per_iteration:
            assert self.scheduler is not None
            self.scheduler.step()

    def train_epoch_done(self) -> None:
        """Step a per-epoch scheduler that no metric drives."""
        if (
            self.scheduler is not None
            and not self._per_iteration
            and self.options.scheduler_metric is None
        ):
            self.scheduler.step()

    def epoch_done(self, epoch: int, history: MetricHistory) -> None:
        """Step a metric-driven scheduler on the epoch's value of its metric."""
        watched = self.options.scheduler_metric
        if self.scheduler is None or watched is None:
            return
        value = history.value(*watched, epoch)
        if value is None:
            log.warning(
                "the learning-rate scheduler was not stepped at epoch %d: no %s value of %r",
                epoch,
                watched[0].value,
                watched[1],
            )
            return
        self.scheduler.step(value)  # type: ignore[arg-type]

    def lrs(self) -> tuple[float, ...]:
        return tuple([float(group["lr"]) for group in self.optimizer.param_groups])


def check_scheduler(scheduler: Scheduler | None, metric: tuple[Split, str] | None) -> None:
    """Refuse a scheduler that steps on a metric without one named, and the reverse."""
    on_metric = isinstance(scheduler, ReduceLROnPlateau)
    if on_metric and metric is None:
        raise ValueError(
            "ReduceLROnPlateau steps on a metric's epoch values: name it with "
            "LearnerBuilder.lr_scheduler_metric(name, split), e.g. ('Loss', Split.VALID)"
        )
    if metric is not None and scheduler is None:
        raise ValueError(
            f"LearnerBuilder.lr_scheduler_metric{metric[1], metric[0].value}: build() was given "
            "no learning-rate scheduler to step"
        )
    if metric is not None and scheduler is not None and not on_metric:
        raise ValueError(
            f"LearnerBuilder.lr_scheduler_metric: {type(scheduler).__qualname__}.step() takes "
            "no metric value (ReduceLROnPlateau's does)"
        )
