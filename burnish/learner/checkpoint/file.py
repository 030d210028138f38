"""The file checkpointer: one ``epoch-N.pt`` per kept epoch, written atomically."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["CheckpointError", "FileCheckpointer"]

_NAME = re.compile(r"^epoch-(\d+)\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint could not be written, found or read."""


class FileCheckpointer:
    """Saves records with ``torch.save`` and loads them with ``weights_only=True``.

    A record is written to a temporary file in the same directory and moved into place with
    ``os.replace``, so a crash mid-write never leaves a truncated checkpoint behind.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path(self, epoch: int) -> Path:
        return self.directory / f"epoch-{epoch}.pt"

    def ensure_writable(self) -> None:
        """Fail now, before any training, if checkpoints could not be written."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.directory):
                pass
        except OSError as error:
            raise CheckpointError(
                f"checkpoint directory {self.directory} is not writable: {error}"
            ) from error

    def save(self, epoch: int, record: dict[str, Any]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(epoch)
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=self.directory)
        try:
            with os.fdopen(handle, "wb") as file:
                torch.save(record, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target

    def load(self, epoch: int, device: torch.device | str = "cpu") -> dict[str, Any]:
        path = self.path(epoch)
        if not path.exists():
            on_disk = ", ".join(map(str, self.epochs())) or "none"
            raise CheckpointError(
                f"no checkpoint for epoch {epoch} in {self.directory} (epochs on disk: {on_disk})"
            )
        try:
            record = torch.load(path, map_location=device, weights_only=True)
        except Exception as error:
            raise CheckpointError(f"cannot read checkpoint {path}: {error}") from error
        if not isinstance(record, dict):
            raise CheckpointError(f"{path} is not a burnish checkpoint")
        return record

    def delete(self, epoch: int) -> None:
        self.path(epoch).unlink(missing_ok=True)

    def epochs(self) -> list[int]:
        """The epochs with a checkpoint on disk, in order."""
        if not self.directory.is_dir():
            return []
        found = (_NAME.match(entry.name) for entry in self.directory.iterdir())
        return sorted(int(match.group(1)) for match in found if match)

    def latest(self) -> int | None:
        epochs = self.epochs()
        return epochs[-1] if epochs else None
