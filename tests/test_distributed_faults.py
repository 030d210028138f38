"""A peer that stops answering: the processes still running fail with a DistributedError that
names their rank and their step, whichever of gloo's messages the transport raised."""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from burnish import LearnerBuilder, LossMetric
from burnish.distributed import is_communication_error
from tests.distributed_spawn import spawn
from tests.learner_fixtures import Batch, Classifier, NullRenderer, dataset, sgd

TIMEOUT = 5.0  # the process group's: long enough for a loaded machine's healthy collectives


def _wait_for(path: Path, limit: float = 60.0) -> None:
    end = time.monotonic() + limit
    while not path.exists() and time.monotonic() < end:
        time.sleep(0.05)


class _Stalling(Dataset[Batch]):
    """``dataset(320)``, whose ``stall_at``-th item waits until ``release`` exists."""

    def __init__(self, stall_at: int | None, release: Path) -> None:
        self.items, self.stall_at, self.release, self.read = dataset(320), stall_at, release, 0

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> Batch:
        self.read += 1
        if self.read == self.stall_at:
            _wait_for(self.release)
        x, y = self.items[index]
        return x, y


def fit_with_a_hung_peer(rank: int, directory: Path, scenario: str) -> str:
    """One process stops answering until the other has failed, in one of two places.

    ``"train_step"``: rank 1, in its third step's ``train_step``, a step that only accumulates
    gradients. Rank 0's vote on that step times out while its fourth step's gradient all-reduce
    is in flight, which gloo then fails with a bare "Application timeout caused pair closure".

    ``"data"``: rank 0, loading its fourth batch. Rank 1 fails in its fourth step's forward
    pass, where DDP broadcasts the model's buffers (batch norm's running statistics), before
    the step is counted.
    """
    torch.manual_seed(0)
    model = Classifier(dropout=0.0)
    if scenario == "data":
        model.net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))
    learn = (
        LearnerBuilder(directory / f"run-{rank}")
        .metric_train_numeric(LossMetric())
        .num_epochs(1)
        .grads_accumulation(2 if scenario == "train_step" else 1)
        .renderer(NullRenderer())
        .build(model, sgd(model))
    )
    hangs, failed = (1, 0) if scenario == "train_step" else (0, 1)
    released = directory / f"rank-{failed}-failed"
    if scenario == "train_step" and rank == hangs:
        learn.model.on_train_step = lambda step: _wait_for(released) if step == 3 else None
    stall_at = 3 * 16 + 1 if scenario == "data" and rank == hangs else None
    # 10 steps of 16 items on each process.
    loader = DataLoader(_Stalling(stall_at, released), batch_size=16)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            learn.fit(loader)
    except BaseException:
        if rank == failed:
            released.touch()
        raise
    return "completed"


@pytest.mark.parametrize(
    ("scenario", "failed", "doing"),
    [
        ("train_step", 0, "training step 4 of epoch 1 (its gradient all-reduce)"),
        ("data", 1, "training step 4 of epoch 1 (its forward pass)"),
    ],
)
def test_a_hung_peer_ends_the_other_with_an_error_naming_rank_and_step(
    tmp_path: Path, scenario: str, failed: int, doing: str
) -> None:
    outcomes = spawn(
        fit_with_a_hung_peer, tmp_path, tmp_path, scenario, collective_timeout=TIMEOUT, deadline=90
    )
    survivor, hung = outcomes[failed], outcomes[1 - failed]
    assert survivor is not None
    assert survivor.error_type == "DistributedError", survivor.details
    assert f"rank {failed} of 2: {doing} failed: " in str(survivor.error), survivor.error
    # The process that hung fails too once it answers, rather than waiting for ever.
    assert hung is not None
    assert hung.error_type == "DistributedError", hung.details
    assert f"rank {1 - failed} of 2: " in str(hung.error), hung.error


@pytest.mark.parametrize(
    "message",
    [
        "Application timeout caused pair closure",
        "[../third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:81] Timed out waiting "
        "3000ms for recv operation to complete",
        "[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Connection closed by peer "
        "[127.0.0.1]:25637",
    ],
)
def test_gloo_transport_errors_are_communication_errors(message: str) -> None:
    assert is_communication_error(RuntimeError(message))


def test_errors_of_the_callers_code_are_not_communication_errors() -> None:
    assert not is_communication_error(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
    assert not is_communication_error(ValueError("Application timeout caused pair closure"))
