"""Run directories: a fresh run never writes over an earlier one unless told to."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from burnish.learner.checkpoint import FileCheckpointer

__all__ = [
    "RunDirectoryError",
    "clear_run",
    "earlier_run",
    "refuse_earlier_run",
    "versioned_directory",
]

_VERSION = re.compile(r"^version-(\d+)$")


class RunDirectoryError(FileExistsError):
    """A fresh run was asked to write where an earlier run's log or checkpoints are."""


def earlier_run(log: Path, checkpointer: FileCheckpointer) -> list[str]:
    """What an earlier run left in a run directory: its log and checkpoints, if any."""
    found = []
    if log.is_file() and log.stat().st_size > 0:
        found.append(log.name)
    epochs = checkpointer.epochs()
    if epochs:
        found.append(f"checkpoints of epochs {', '.join(map(str, epochs))}")
    return found


def refuse_earlier_run(directory: Path, log: Path, checkpointer: FileCheckpointer) -> None:
    """Raise :class:`RunDirectoryError` when ``directory`` holds an earlier run."""
    found = earlier_run(log, checkpointer)
    if found:
        raise RunDirectoryError(
            f"{directory} already holds a run ({'; '.join(found)}): continue it with "
            "LearnerBuilder.resume(), start afresh there with LearnerBuilder.overwrite() (which "
            "deletes them), give each run its own subdirectory with LearnerBuilder.versioned(), "
            "or choose another directory"
        )


def clear_run(log: Path, checkpointer: FileCheckpointer) -> None:
    """Delete an earlier run's log and checkpoints (what :meth:`overwrite` asks for)."""
    log.unlink(missing_ok=True)
    for epoch in checkpointer.epochs():
        checkpointer.delete(epoch)


def versioned_directory(root: Path, resume: bool) -> Path:
    """``root/version-N``: the next free N for a fresh run, the highest for a resumed one."""
    versions = (
        [int(m.group(1)) for m in map(_VERSION.match, (p.name for p in root.iterdir())) if m]
        if root.is_dir()
        else []
    )
    if resume:
        if not versions:
            raise FileNotFoundError(f"no run to resume in {root}: it has no version-N directory")
        return root / f"version-{max(versions)}"
    # Made now, so that a run built at the same time (a sweep) takes the next one.
    number = max(versions, default=0) + 1
    while True:
        directory = root / f"version-{number}"
        try:
            directory.mkdir(parents=True)
        except FileExistsError:
            number += 1
        else:
            return directory
