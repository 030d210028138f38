"""The file checkpointer: one ``epoch-N.pt`` per kept epoch, written atomically, verified when read.

A checkpoint is the zip archive ``torch.save`` writes, with ``burnish-sha256:<hex digest>`` as
the archive's comment: the SHA-256 of the archive as torch wrote it (with an empty comment). A
zip comment is part of the format, so ``torch.load(path, weights_only=True)`` and any zip tool
still read the file as it is, and the checksum is renamed into place with the data it covers.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import signal
import struct
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import IO, Any, BinaryIO, cast

import torch

__all__ = ["CheckpointError", "FileCheckpointer"]

_NAME = re.compile(r"^epoch-(\d+)\.pt$")
# What tempfile.mkstemp(prefix=".epoch-N.pt.") creates: eight characters of its alphabet.
_TEMPORARY = re.compile(r"^\.epoch-\d+\.pt\.[a-z0-9_]{8}$")
# The zip archive ends with its end-of-central-directory record: a signature, 16 bytes, and
# the length of the comment that follows. The seal replaces that length and adds the comment.
_END = b"PK\x05\x06"
_END_SIZE = 22
_DIGEST_LENGTH = 2 * hashlib.sha256().digest_size
_MAGIC = b"burnish-sha256:"
_SEAL = struct.pack("<H", len(_MAGIC) + _DIGEST_LENGTH) + _MAGIC
_TRAILER_SIZE = _END_SIZE - 2 + len(_SEAL) + _DIGEST_LENGTH


class CheckpointError(RuntimeError):
    """A checkpoint could not be written, found or read."""


class FileCheckpointer:
    """Saves records with ``torch.save`` and loads them with ``weights_only=True``.

    A record is written to a temporary file in the same directory and moved into place with
    ``os.replace``, so a crash mid-write never leaves a truncated checkpoint behind; Ctrl-C and
    SIGTERM arriving meanwhile take effect once it is in place.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path(self, epoch: int) -> Path:
        return self.directory / f"epoch-{epoch}.pt"

    def ensure_writable(self) -> None:
        """Fail now, before any training, if checkpoints could not be written.

        Also removes the temporary files of writes that were killed (burnish's names only).
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.directory):
                pass
            for entry in self.directory.iterdir():
                if _TEMPORARY.match(entry.name) and entry.is_file() and not entry.is_symlink():
                    entry.unlink(missing_ok=True)
        except OSError as error:
            raise CheckpointError(
                f"checkpoint directory {self.directory} is not writable: {error}"
            ) from error

    def save(self, epoch: int, record: dict[str, Any]) -> Path:
        target = self.path(epoch)
        with _signals_deferred():
            temporary: str | None = None
            writer: _HashingWriter | None = None
            try:
                self.directory.mkdir(parents=True, exist_ok=True)
                handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=self.directory)
                with os.fdopen(handle, "w+b") as file:
                    writer = _HashingWriter(file)
                    # torch.save only writes; it takes any object with write() and flush().
                    torch.save(record, cast(IO[bytes], writer))
                    _seal(file, writer.digest.hexdigest())
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temporary, target)
            except BaseException as error:
                if temporary is not None:
                    Path(temporary).unlink(missing_ok=True)
                # torch.save reports a failed write as a RuntimeError of its own.
                cause = writer.error if writer is not None and writer.error else error
                if isinstance(cause, OSError):
                    raise self._write_error(target, record, cause) from cause
                raise
        return target

    def load(self, epoch: int, device: torch.device | str = "cpu") -> dict[str, Any]:
        """The record saved for ``epoch``, once its checksum holds."""
        path = self.path(epoch)
        if not path.exists():
            on_disk = ", ".join(map(str, self.epochs())) or "none"
            raise CheckpointError(
                f"no checkpoint for epoch {epoch} in {self.directory} (epochs on disk: {on_disk})"
            )
        try:
            # Read through one open file, so that what is loaded is what was verified.
            with path.open("rb") as file:
                problem = _problem(file)
                if problem is None:
                    file.seek(0)
                    record = torch.load(file, map_location=device, weights_only=True)
        except Exception as error:
            raise self._unusable(epoch, f"cannot be read: {error}") from error
        if problem is not None:
            raise self._unusable(epoch, problem)
        if not isinstance(record, dict):
            raise self._unusable(epoch, f"holds a {type(record).__name__}, not a record")
        return record

    def newest_intact(self, excluding: int | None = None) -> int | None:
        """The newest epoch, other than ``excluding``, whose checkpoint's checksum holds."""
        for epoch in reversed(self.epochs()):
            if epoch == excluding:
                continue
            try:
                with self.path(epoch).open("rb") as file:
                    if _problem(file) is None:
                        return epoch
            except OSError:
                continue
        return None

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

    def _unusable(self, epoch: int, problem: str) -> CheckpointError:
        other = self.newest_intact(excluding=epoch)
        instead = (
            f"no other intact checkpoint in {self.directory}"
            if other is None
            else f"the newest intact checkpoint is epoch {other} "
            f"(resume with LearnerBuilder.checkpoint({other}))"
        )
        return CheckpointError(f"checkpoint {self.path(epoch)} {problem}; {instead}")

    def _write_error(self, target: Path, record: object, error: OSError) -> CheckpointError:
        try:
            free = f"{shutil.disk_usage(self.directory).free:,} bytes free"
        except OSError:
            free = "free space unknown"
        return CheckpointError(
            f"cannot write checkpoint {target} in {self.directory}: {error} "
            f"(its tensors take {_tensor_bytes(record):,} bytes; {free})"
        )


class _HashingWriter:
    """Hashes what ``torch.save`` writes on its way to the file, and keeps the write's OSError."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.digest = hashlib.sha256()
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            written = self.file.write(data)
        except OSError as error:
            self.error = error
            raise
        self.digest.update(data)
        return written

    def flush(self) -> None:
        self.file.flush()


def _seal(file: io.BufferedIOBase, digest: str) -> None:
    """Put the checksum in the archive's comment, which torch leaves empty."""
    file.seek(-_END_SIZE, os.SEEK_END)
    end = file.read(_END_SIZE)
    if not (end.startswith(_END) and end.endswith(b"\0\0")):
        raise CheckpointError("torch.save did not end its archive with an empty zip comment")
    file.seek(-2, os.SEEK_END)
    file.write(_SEAL + digest.encode())


def _problem(file: io.BufferedIOBase) -> str | None:
    """Why the open checkpoint is not as burnish wrote it, or None when its checksum holds."""
    size = file.seek(0, os.SEEK_END)
    file.seek(max(0, size - _TRAILER_SIZE))
    trailer = file.read()
    if trailer.endswith(b"\0\0") and trailer[-_END_SIZE:].startswith(_END):
        return (
            "was written without a checksum (by an older burnish or by torch.save): if you "
            "trust it, save torch.load(path, weights_only=True) again with FileCheckpointer.save"
        )
    seal = trailer[_END_SIZE - 2 : -_DIGEST_LENGTH]
    if len(trailer) < _TRAILER_SIZE or not trailer.startswith(_END) or seal != _SEAL:
        return "is truncated or not a burnish checkpoint (no checksum at its end)"
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(1 << 20))
    remaining = size - len(_SEAL) - _DIGEST_LENGTH
    file.seek(0)
    while remaining > 0 and (read := file.readinto(buffer[: min(remaining, len(buffer))])):
        digest.update(buffer[:read])
        remaining -= read
    digest.update(b"\0\0")  # the comment's length as torch wrote it, before the seal
    if digest.hexdigest().encode() != trailer[-_DIGEST_LENGTH:]:
        return "is corrupt (checksum mismatch)"
    return None


def _tensor_bytes(value: object) -> int:
    """The size of the tensor data in a record: about the size of its checkpoint."""
    if isinstance(value, torch.Tensor):
        return value.untyped_storage().nbytes()
    if isinstance(value, dict):
        return sum(map(_tensor_bytes, value.values()))
    if isinstance(value, list | tuple):
        return sum(map(_tensor_bytes, value))
    return 0


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back until the block is done, then deliver each kind once.

    Python runs signal handlers on the main thread whichever thread the kernel picks, so
    masking them there (``pthread_sigmask``) would not do while another thread (the dashboard's,
    torch's) accepts them: the handler would still raise inside torch's C++ writer.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers run on the main thread only: they cannot interrupt this one
        return
    received: list[int] = []

    def defer(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    # A handler Python did not install (None) could not be put back; an ignored signal stays so.
    held = {
        sig: handler
        for sig in (signal.SIGINT, signal.SIGTERM)
        if (handler := signal.getsignal(sig)) is not None and handler != signal.SIG_IGN
    }
    for sig in held:
        signal.signal(sig, defer)
    try:
        yield
    finally:
        for sig, handler in held.items():
            signal.signal(sig, handler)
        for signum in dict.fromkeys(received):
            signal.raise_signal(signum)
