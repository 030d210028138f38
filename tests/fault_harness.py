"""Kill -9 at random points, resume, repeat: a run ends with the weights of one never killed.

``python -m tests.fault_harness worker DIR EPOCHS`` trains (resuming when ``DIR`` holds
checkpoints) and writes the final weights to ``DIR/final.pt``. :func:`trial` runs it, kills it
with SIGKILL at a random moment (or as soon as a checkpoint write has begun), and starts it
again until it completes. Used by ``tests/test_kill_resume.py`` (a few kills) and
``benches/faults.py`` (many).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
FEATURES, HIDDEN, CLASSES, SAMPLES, BATCH = 32, 512, 10, 2048, 32


def _worker(directory: Path, epochs: int) -> None:
    from torch import nn  # noqa: PLC0415 - the worker's own imports
    from torch.utils.data import DataLoader, TensorDataset  # noqa: PLC0415

    from burnish import (  # noqa: PLC0415
        AccuracyMetric,
        KeepLastNCheckpoints,
        LearnerBuilder,
        LossMetric,
    )
    from burnish.renderer import PlainRenderer  # noqa: PLC0415
    from tests.learner_fixtures import Classifier  # noqa: PLC0415

    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(SAMPLES, FEATURES)
    y = torch.randint(0, CLASSES, (SAMPLES,))
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    model = Classifier(FEATURES, CLASSES, dropout=0.1)
    model.net[0] = nn.Linear(FEATURES, HIDDEN)
    model.net[3] = nn.Linear(HIDDEN, CLASSES)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=50, gamma=0.9)
    builder = (
        LearnerBuilder(directory)
        .metric_train_numeric(LossMetric())
        .metric_train_numeric(AccuracyMetric())
        .num_epochs(epochs)
        .grads_accumulation(3)
        .with_file_checkpointer(KeepLastNCheckpoints(2))
        .renderer(PlainRenderer(stream=open(os.devnull, "w")))  # noqa: SIM115
    )
    checkpoints = list((directory / "checkpoint").glob("epoch-*.pt"))
    builder = builder.resume() if checkpoints else builder.overwrite()
    builder.build(model, optimizer, scheduler).fit(loader)
    torch.save(model.state_dict(), directory / "final.pt")


def start(directory: Path, epochs: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fault_harness", "worker", str(directory), str(epochs)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def finish(process: subprocess.Popen[bytes], timeout: float = 300.0) -> None:
    _, stderr = process.communicate(timeout=timeout)
    if process.returncode != 0:
        raise RuntimeError(f"the worker failed ({process.returncode}):\n{stderr.decode()}")


def uninterrupted(directory: Path, epochs: int) -> dict[str, torch.Tensor]:
    finish(start(directory, epochs))
    return torch.load(directory / "final.pt", weights_only=True)  # type: ignore[no-any-return]


@dataclass
class Trial:
    kills: int = 0
    kills_in_writes: int = 0
    starts: int = 0


def _writing(directory: Path) -> bool:
    return any((directory / "checkpoint").glob(".epoch-*.pt.*"))


def trial(
    directory: Path, epochs: int, kills: int, rng: random.Random, max_delay: float
) -> tuple[dict[str, torch.Tensor], Trial]:
    """Run to the end through ``kills`` kills; every other one waits for a checkpoint write."""
    counts = Trial()
    while True:
        process = start(directory, epochs)
        counts.starts += 1
        if counts.kills < kills:
            in_write = counts.kills % 2 == 1
            # Within the run's first 80 %: a later kill would often come after its end.
            delay = max_delay * 4 if in_write else rng.uniform(0.05, 0.8) * max_delay
            deadline = time.monotonic() + delay
            while process.poll() is None and time.monotonic() < deadline:
                if in_write and _writing(directory):
                    break
                time.sleep(0.0005 if in_write else 0.01)
            if process.poll() is None:
                counts.kills_in_writes += _writing(directory)
                process.send_signal(signal.SIGKILL)
                process.wait()
                counts.kills += 1
                continue
        finish(process)
        weights = torch.load(directory / "final.pt", weights_only=True)
        return weights, counts


if __name__ == "__main__" and sys.argv[1] == "worker":
    _worker(Path(sys.argv[2]), int(sys.argv[3]))
