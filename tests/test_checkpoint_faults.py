"""The checkpointer under faults: corrupt files, killed writes, signals mid-write, full disks."""

from __future__ import annotations

import errno
import io
import os
import pickle
import re
import signal
import subprocess
import sys
import textwrap
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import torch

from burnish.learner.checkpoint import CheckpointError, FileCheckpointer

ROOT = Path(__file__).resolve().parent.parent
REAL_SAVE = torch.save


def record(size: int = 64) -> dict[str, Any]:
    return {
        "format": 1,
        "model": {"weight": torch.randn(size, 4), "bias": torch.tensor([0.5, -1.0, 2.0, 3.0])},
        "optimizer": {"state": {0: {"step": torch.tensor(3.0)}}, "param_groups": [{"lr": 0.1}]},
        "learner": {"epoch": 1, "history": [{"loss": 0.25}], "name": "run", "rng": None},
    }


def same(a: object, b: object) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
    return type(a) is type(b) and a == b


def temporaries(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir() if path.name.startswith("."))


def flip(path: Path, position: int, mask: int = 0x01) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= mask
    path.write_bytes(data)


def unusable(path: Path) -> str:
    return rf"checkpoint {re.escape(str(path))} "


# -- 1. verified when read ---------------------------------------------------------------


def test_a_flipped_byte_in_tensor_data_is_refused(tmp_path: Path) -> None:
    checkpointer = FileCheckpointer(tmp_path)
    saved = record()
    path = checkpointer.save(1, saved)
    assert same(checkpointer.load(1), saved)
    # The bias's bytes, as torch stores them: the flip that used to load as a different bias.
    flip(path, path.read_bytes().index(saved["model"]["bias"].numpy().tobytes()) + 3, 0x02)
    with pytest.raises(CheckpointError, match=unusable(path) + r"is corrupt \(checksum mismatch\)"):
        checkpointer.load(1)


@pytest.mark.parametrize("mask", [0x01, 0xFF])
def test_every_flipped_byte_is_refused(tmp_path: Path, mask: int) -> None:
    checkpointer = FileCheckpointer(tmp_path)
    path = checkpointer.save(1, record(size=16))
    data = path.read_bytes()
    loaded, refusals = [], []
    for position in range(len(data)):
        flipped = bytearray(data)
        flipped[position] ^= mask
        path.write_bytes(flipped)
        try:
            checkpointer.load(1)
        except CheckpointError as error:
            refusals.append(str(error))
        else:
            loaded.append(position)
    assert loaded == [], f"flips at these of {len(data)} bytes loaded"
    assert all(message.startswith(f"checkpoint {path} ") for message in refusals)


def test_a_truncated_checkpoint_is_refused(tmp_path: Path) -> None:
    checkpointer = FileCheckpointer(tmp_path)
    path = checkpointer.save(1, record())
    data = path.read_bytes()
    for length in [*range(0, len(data), max(1, len(data) // 50)), len(data) - 1]:
        path.write_bytes(data[:length])
        with pytest.raises(CheckpointError, match=unusable(path) + "is truncated"):
            checkpointer.load(1)


@pytest.mark.parametrize(
    "content",
    [b"", b"not a checkpoint\n", bytes(range(256)) * 8, b"PK\x05\x06" + bytes(18)],
    ids=["empty", "text", "binary", "empty zip"],
)
def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path, content: bytes) -> None:
    checkpointer = FileCheckpointer(tmp_path)
    checkpointer.path(1).write_bytes(content)
    with pytest.raises(CheckpointError, match=unusable(checkpointer.path(1))):
        checkpointer.load(1)


def test_a_checkpoint_without_a_checksum_is_refused(tmp_path: Path) -> None:
    checkpointer = FileCheckpointer(tmp_path)
    torch.save(record(), checkpointer.path(1))
    with pytest.raises(CheckpointError, match="written without a checksum"):
        checkpointer.load(1)


def test_a_checkpoint_is_still_a_plain_torch_file(tmp_path: Path) -> None:
    saved = record()
    path = FileCheckpointer(tmp_path).save(1, saved)
    assert same(torch.load(path, weights_only=True), saved)
    with zipfile.ZipFile(path) as archive:
        assert archive.comment.startswith(b"burnish-sha256:")


def test_a_corrupt_checkpoint_names_the_newest_intact_one(tmp_path: Path) -> None:
    checkpointer = FileCheckpointer(tmp_path)
    for epoch in (1, 2, 3, 4):
        checkpointer.save(epoch, record())
    middle = checkpointer.path(4).stat().st_size // 2
    flip(checkpointer.path(4), middle)
    flip(checkpointer.path(3), middle)
    with pytest.raises(
        CheckpointError,
        match=unusable(checkpointer.path(4))
        + r"is corrupt \(checksum mismatch\); the newest intact checkpoint is epoch 2 "
        r"\(resume with LearnerBuilder.checkpoint\(2\)\)",
    ):
        checkpointer.load(4)
    assert checkpointer.newest_intact() == 2
    assert checkpointer.newest_intact(excluding=2) == 1

    flip(checkpointer.path(2), middle)
    checkpointer.path(1).write_bytes(b"")
    assert checkpointer.newest_intact() is None
    with pytest.raises(CheckpointError, match=r"no other intact checkpoint in "):
        checkpointer.load(4)


# -- 2. temporary files of killed writes -------------------------------------------------


def test_ensure_writable_removes_only_burnish_temporary_files(tmp_path: Path) -> None:
    checkpointer = FileCheckpointer(tmp_path)
    checkpointer.save(1, record())
    stale = [".epoch-1.pt.abcd1234", ".epoch-12.pt.x_y9z0qq", ".epoch-3.pt.00000000"]
    kept = [
        ".epoch-3.pt.notes",  # not eight characters
        ".epoch-3.pt.ABCDEFGH",  # not mkstemp's alphabet
        "epoch-3.pt.abcd1234",  # no leading dot
        ".other.pt.abcd1234",
        ".epoch-3.pt.abcd1234.bak",
        "notes.txt",
    ]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"partial")
    (tmp_path / ".epoch-4.pt.abcdefgh").mkdir()
    (tmp_path / ".epoch-5.pt.abcdefgh").symlink_to(tmp_path / "notes.txt")

    checkpointer.ensure_writable()

    left = {path.name for path in tmp_path.iterdir()}
    assert left == {"epoch-1.pt", *kept, ".epoch-4.pt.abcdefgh", ".epoch-5.pt.abcdefgh"}
    assert checkpointer.epochs() == [1]
    assert same(checkpointer.load(1)["learner"], record()["learner"])


# -- 3. signals during a write -----------------------------------------------------------


def interrupt_first_write(signum: int) -> Callable[..., None]:
    """A torch.save whose first write has another thread send this process ``signum``."""

    def save(obj: object, f: Any, **kwargs: Any) -> None:
        sent: list[bool] = []

        class Interrupting:
            def write(self, data: bytes) -> int:
                if not sent:
                    sent.append(True)
                    sender = threading.Thread(target=os.kill, args=(os.getpid(), signum))
                    sender.start()
                    sender.join()
                return int(f.write(data))

            def flush(self) -> None:
                f.flush()

        REAL_SAVE(obj, Interrupting(), **kwargs)

    return save


@pytest.fixture
def sigint_handler() -> Any:
    previous = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("sigint_handler")
def test_a_signal_during_a_write_is_handled_once_the_checkpoint_is_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpointer = FileCheckpointer(tmp_path)
    in_place: list[bool] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        in_place.append(checkpointer.path(1).exists() and not temporaries(tmp_path))

    signal.signal(signal.SIGINT, handle)
    monkeypatch.setattr(torch, "save", interrupt_first_write(signal.SIGINT))
    saved = record(size=100_000)
    checkpointer.save(1, saved)
    assert in_place == [True]
    assert signal.getsignal(signal.SIGINT) is handle
    assert same(checkpointer.load(1), saved)


@pytest.mark.usefixtures("sigint_handler")
def test_a_second_ctrl_c_during_a_write_interrupts_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    checkpointer = FileCheckpointer(tmp_path)
    monkeypatch.setattr(torch, "save", interrupt_first_write(signal.SIGINT))
    saved = record(size=100_000)
    with pytest.raises(KeyboardInterrupt):
        checkpointer.save(1, saved)
    monkeypatch.undo()
    assert same(checkpointer.load(1), saved)
    assert temporaries(tmp_path) == []


def test_sigterm_during_a_write_terminates_after_it(tmp_path: Path) -> None:
    script = """
        import signal, sys, torch
        from burnish.learner.checkpoint import FileCheckpointer
        from tests.test_checkpoint_faults import interrupt_first_write, record
        torch.save = interrupt_first_write(signal.SIGTERM)
        FileCheckpointer(sys.argv[1]).save(1, record(size=100_000))
        print("SIGTERM was lost")
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -signal.SIGTERM, done.stdout + done.stderr
    assert done.stdout == ""
    checkpointer = FileCheckpointer(tmp_path)
    assert checkpointer.load(1)["model"]["weight"].shape == (100_000, 4)
    assert temporaries(tmp_path) == []


def test_a_failed_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(obj: object, f: Any, **kwargs: Any) -> None:
        f.write(b"PK\x03\x04 half an archive")
        raise ValueError("cannot pickle this")

    checkpointer = FileCheckpointer(tmp_path)
    checkpointer.save(1, record())
    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(ValueError, match="cannot pickle this"):
        checkpointer.save(2, record())
    assert [path.name for path in tmp_path.iterdir()] == ["epoch-1.pt"]


# -- 4. a full disk ----------------------------------------------------------------------


def test_a_full_disk_names_the_file_the_free_space_and_the_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(obj: object, f: Any, **kwargs: Any) -> None:
        f.write(b"PK\x03\x04 the first part of the archive")
        raise OSError(errno.ENOSPC, "No space left on device")

    checkpointer = FileCheckpointer(tmp_path)
    checkpointer.save(1, record())
    monkeypatch.setattr(torch, "save", disk_full)
    saved = record(size=1000)  # 16,000 bytes of weight, 16 of bias, 4 of step
    with pytest.raises(CheckpointError) as caught:
        checkpointer.save(2, saved)
    message = str(caught.value)
    assert str(checkpointer.path(2)) in message
    assert f" in {tmp_path}: " in message
    assert "No space left on device" in message
    assert "16,020 bytes" in message
    assert re.search(r"[\d,]+ bytes free", message), message
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.__cause__.errno == errno.ENOSPC
    monkeypatch.undo()
    assert [path.name for path in tmp_path.iterdir()] == ["epoch-1.pt"]
    assert checkpointer.load(1)["learner"]["name"] == "run"


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
def test_a_write_failing_inside_torch_gives_checkpoint_error(tmp_path: Path) -> None:
    # The file size limit fails the real write, inside torch's C++ writer, as a full disk would.
    script = """
        import resource, signal, sys, torch
        from burnish.learner.checkpoint import CheckpointError, FileCheckpointer
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, resource.RLIM_INFINITY))
        try:
            FileCheckpointer(sys.argv[1]).save(1, {"weight": torch.zeros(1 << 20)})
        except CheckpointError as error:
            print(error, error.__cause__.errno, sep="\\n")
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    message, cause = done.stdout.splitlines()
    assert message.startswith(f"cannot write checkpoint {tmp_path / 'epoch-1.pt'} in {tmp_path}")
    assert "4,194,304 bytes" in message
    assert int(cause) == errno.EFBIG
    assert list(tmp_path.iterdir()) == []


# -- 5. whatever torch.load makes of a file ----------------------------------------------


def test_a_record_that_is_not_a_dict_is_refused(tmp_path: Path) -> None:
    checkpointer = FileCheckpointer(tmp_path)
    checkpointer.save(1, [torch.zeros(2)])  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match=unusable(checkpointer.path(1)) + "holds a list"):
        checkpointer.load(1)


def test_an_intact_archive_torch_cannot_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def save_other_zip(obj: object, f: Any, **kwargs: Any) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("archive/data.pkl", b"\x80\x02 not a pickle")
        f.write(buffer.getvalue())

    checkpointer = FileCheckpointer(tmp_path)
    monkeypatch.setattr(torch, "save", save_other_zip)
    checkpointer.save(1, record())
    with pytest.raises(CheckpointError, match=unusable(checkpointer.path(1)) + "cannot be read"):
        checkpointer.load(1)


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("PytorchStreamReader failed reading zip archive"),
        ValueError("bad value"),
        OverflowError("too big"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        pickle.UnpicklingError("Weights only load failed"),
        zipfile.BadZipFile("bad zip"),
        KeyError("storage"),
        EOFError(),
        MemoryError(),
    ],
    ids=type,
)
def test_any_error_of_torch_load_is_a_checkpoint_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise error

    checkpointer = FileCheckpointer(tmp_path)
    checkpointer.save(1, record())
    checkpointer.save(2, record())
    monkeypatch.setattr(torch, "load", fail)
    with pytest.raises(CheckpointError, match=unusable(checkpointer.path(2))) as caught:
        checkpointer.load(2)
    assert caught.value.__cause__ is error
    assert "the newest intact checkpoint is epoch 1" in str(caught.value)
