"""Where this process stands in a torch.distributed run, and clear errors when a peer fails."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch.distributed as dist

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup

__all__ = [
    "DistributedError",
    "collective",
    "failure",
    "is_communication_error",
    "is_distributed",
    "is_main_process",
    "process_count",
    "process_rank",
]


class DistributedError(RuntimeError):
    """A collective failed: usually another process crashed, was killed or stopped answering
    within the process group's timeout (``init_process_group(timeout=...)``)."""


def is_distributed(group: ProcessGroup | None = None) -> bool:
    """Whether a process group is initialised with more than one process."""
    return process_count(group) > 1


def process_count(group: ProcessGroup | None = None) -> int:
    """The processes of ``group`` (the default group when ``None``); 1 outside a distributed run."""
    if not (dist.is_available() and dist.is_initialized()):
        return 1
    return dist.get_world_size(group)


def process_rank(group: ProcessGroup | None = None) -> int:
    """This process's rank in ``group``; 0 outside a distributed run."""
    if not (dist.is_available() and dist.is_initialized()):
        return 0
    return dist.get_rank(group)


def is_main_process() -> bool:
    """Rank 0 of the default group, or the only process: the one that shows and writes."""
    return process_rank() == 0


# What gloo says without naming its source files: when one operation times out, it closes the
# connections to its peers, and every other operation in flight or started later on them fails
# with this (a gradient all-reduce while the stop vote timed out, say).
_GLOO_BARE_MESSAGES = ("Application timeout caused pair closure",)


def is_communication_error(error: BaseException) -> bool:
    """Whether ``error`` comes from a collective's transport rather than from the caller's code.

    NCCL and the store raise :class:`torch.distributed.DistError`; gloo raises a plain
    ``RuntimeError`` whose message names its source files, or, for an operation cut short by
    another's timeout, says so in words of its own.
    """
    if isinstance(error, dist.DistError):
        return True
    if not isinstance(error, RuntimeError):
        return False
    message = str(error)
    return "gloo" in message or any(bare in message for bare in _GLOO_BARE_MESSAGES)


def failure(what: str, error: BaseException) -> DistributedError:
    """A :class:`DistributedError` saying which process failed doing ``what``, and why."""
    where = f"rank {process_rank()} of {process_count()}"
    return DistributedError(
        f"{where}: {what} failed: another process has probably stopped (it crashed, was killed "
        f"or did not answer within the process group's timeout); its own output says why. "
        f"Cause: {error}"
    )


@contextlib.contextmanager
def collective(what: str) -> Iterator[None]:
    """Turn a failed collective inside the block into a :class:`DistributedError`."""
    try:
        yield
    except RuntimeError as error:
        if isinstance(error, DistributedError):
            raise
        raise failure(what, error) from error
