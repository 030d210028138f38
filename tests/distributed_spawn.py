"""Runs a function in two fresh processes joined by a gloo process group, as torchrun would.

The processes are started with the ``spawn`` method and rendezvous through a file in the test's
directory, so tests never compete for a port. Each process's result (or error) comes back
pickled; a process that dies leaves none. Timeouts are generous: the machine running the tests
may be loaded.
"""

from __future__ import annotations

import datetime
import multiprocessing
import os
import pickle
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

WORLD = 2


@dataclass(frozen=True)
class Outcome:
    """What one process ended with: its result, or its error's type name and text."""

    result: Any = None
    error: str | None = None
    error_type: str | None = None
    details: str = ""
    seconds: float = 0.0


def _process(
    rank: int,
    directory: Path,
    collective_timeout: float,
    target: Callable[..., Any],
    args: tuple[Any, ...],
) -> None:
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"file://{directory / 'store'}",
        rank=rank,
        world_size=WORLD,
        timeout=datetime.timedelta(seconds=collective_timeout),
    )
    started = time.monotonic()
    try:
        outcome = Outcome(result=target(rank, *args))
    except Exception as error:
        outcome = Outcome(
            error=str(error), error_type=type(error).__name__, details=traceback.format_exc()
        )
    outcome = Outcome(**{**outcome.__dict__, "seconds": time.monotonic() - started})
    (directory / f"outcome-{rank}.pickle").write_bytes(pickle.dumps(outcome))
    if outcome.error is None:
        dist.destroy_process_group()


def spawn(
    target: Callable[..., Any],
    directory: Path,
    *args: Any,
    collective_timeout: float = 60.0,
    deadline: float = 120.0,
) -> list[Outcome | None]:
    """``target(rank, *args)`` in each of two processes; their outcomes by rank (``None`` for a
    process that left none). ``target`` must be importable: a top-level function."""
    directory.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_process, args=(rank, directory, collective_timeout, target, args))
        for rank in range(WORLD)
    ]
    for process in processes:
        process.start()
    end = time.monotonic() + deadline
    for process in processes:
        process.join(max(0.0, end - time.monotonic()))
    hung = [rank for rank, process in enumerate(processes) if process.is_alive()]
    for rank in hung:
        processes[rank].kill()
        processes[rank].join()
    assert not hung, f"ranks {hung} still running after {deadline} s: a collective hung"
    outcomes: list[Outcome | None] = []
    for rank in range(WORLD):
        path = directory / f"outcome-{rank}.pickle"
        outcomes.append(pickle.loads(path.read_bytes()) if path.exists() else None)
    return outcomes


def results(outcomes: list[Outcome | None]) -> list[Any]:
    """Every process's result, failing the test with every process's error."""
    failures = [
        f"rank {rank} " + ("died without an outcome" if o is None else f"failed:\n{o.details}")
        for rank, o in enumerate(outcomes)
        if o is None or o.error is not None
    ]
    assert not failures, "\n".join(failures)
    return [outcome.result for outcome in outcomes if outcome is not None]


def exit_now() -> None:
    """End this process at once, as a crash would: no clean-up, no outcome."""
    os._exit(1)
