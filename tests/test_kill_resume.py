"""Killed with SIGKILL at random points (during checkpoint writes too) and resumed each time, a
run ends with the weights of a run never killed. ``benches/faults.py`` runs many more trials."""

from __future__ import annotations

import random
from pathlib import Path

import torch

from tests.fault_harness import trial, uninterrupted

EPOCHS = 4


def test_kill_9_and_resume_end_as_if_never_killed(tmp_path: Path) -> None:
    reference = uninterrupted(tmp_path / "reference", EPOCHS)
    weights, counts = trial(
        tmp_path / "killed", EPOCHS, kills=4, rng=random.Random(3), max_delay=4.0
    )
    assert counts.kills >= 2
    assert reference.keys() == weights.keys()
    for name, value in reference.items():
        assert torch.equal(value, weights[name]), name
    # Writes that a kill cut short left temporary files; the next start removed them.
    assert not list((tmp_path / "killed" / "checkpoint").glob(".epoch-*"))
