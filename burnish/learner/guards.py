"""What guards a run without slowing it: the non-finite loss watch, the stop signals, and the
cyclic collector kept quiet while training."""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Literal, NoReturn

import torch

from burnish.learner.interrupt import Interrupter

__all__ = [
    "LossWatch",
    "NonFiniteLoss",
    "NonFiniteLossError",
    "Stopped",
    "quiet_collector",
    "stop_signals",
]

log = logging.getLogger("burnish.learner")

NonFiniteLoss = Literal["error", "skip", "stop"]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite."""


class Stopped(Exception):  # noqa: N818 - control flow, not an error
    """Ends a fit early; ``reason`` is what the fit result and the log say."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


class LossWatch:
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
        losses = [loss for _, _, loss in pending]
        try:
            # One call for a second of losses of one shape (scalars, as a rule), not one each.
            finite = torch.stack(losses).isfinite().reshape(-1)
        except RuntimeError:  # losses of several shapes
            finite = torch.cat([loss.reshape(-1) for loss in losses]).isfinite()
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
            raise Stopped("nonfinite_loss")
        raise NonFiniteLossError(message)


# Allocations between two passes over the youngest generation during a run (Python's default
# is 700).
_YOUNG_THRESHOLD = 20_000


@contextlib.contextmanager
def quiet_collector(enabled: bool) -> Iterator[None]:
    """Keep the cyclic collector's passes off the objects training does not make, for the run.

    Every so often the collector's full pass walks every object in the process: with torch
    imported, hundreds of thousands. The objects already there are frozen (``gc.freeze``) for
    the run and unfrozen after it; cycles among them that become garbage meanwhile are
    collected then. A process that froze its own heap (a pre-fork server) keeps it as it is.

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


@contextlib.contextmanager
def stop_signals(interrupter: Interrupter, echo_seconds: float) -> Iterator[None]:
    """First Ctrl-C (or SIGTERM): stop after the batch and checkpoint. Second: abort now.

    Under torchrun, the launcher passes the terminal's Ctrl-C on to every process, which so
    gets it twice: a second signal within ``echo_seconds`` of the first is taken for the same
    one.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    first: list[float] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        if interrupter.should_stop():
            if first and time.monotonic() - first[0] < echo_seconds:
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
