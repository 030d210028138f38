"""The learner in two gloo processes, as torchrun runs it: DDP training whose metrics and weights
equal one process's over the same samples, a quiet rank 1, an agreed stop, and a dead peer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from tests.distributed_spawn import results, spawn
from tests.distributed_workers import fit_in_ddp, fit_then_die, reference_fit


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    directory = tmp_path_factory.mktemp("ddp")
    return directory, results(spawn(fit_in_ddp, directory, directory))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return reference_fit(tmp_path_factory.mktemp("one-process"))


def assert_same_fit(actual: dict[str, Any], expected: dict[str, Any]) -> None:
    assert actual["reason"] == expected["reason"]
    assert actual["values"].keys() == expected["values"].keys()
    for split, values in expected["values"].items():
        assert actual["values"][split] == pytest.approx(values, rel=1e-6, abs=1e-6), split
    for name, weight in expected["weights"].items():
        torch.testing.assert_close(actual["weights"][name], weight, rtol=1e-5, atol=1e-6)


def test_a_ddp_fit_equals_one_process_over_the_same_samples(
    runs: tuple[Path, list[dict[str, Any]]], reference: dict[str, Any]
) -> None:
    _, fitted = runs
    assert set(reference["values"]["valid"]) == {
        "Loss",
        "Accuracy",
        "Macro Precision",
        "Macro AUROC",
    }
    for run in fitted:
        assert_same_fit(run, reference)


def test_evaluation_counts_every_item_once(
    runs: tuple[Path, list[dict[str, Any]]], reference: dict[str, Any]
) -> None:
    _, fitted = runs
    for run in fitted:
        # 41 items shared 21 + 20, without the padding that would repeat one.
        assert run["test"] == pytest.approx(reference["test"], rel=1e-6, abs=1e-6)


def test_only_rank_0_renders_logs_prints_and_checkpoints(
    runs: tuple[Path, list[dict[str, Any]]],
) -> None:
    directory, (first, second) = runs
    assert first["events"] > 0
    assert second["events"] == 0
    assert "Learner Summary" in first["printed"]
    assert second["printed"] == ""
    assert (directory / "run-0" / "metrics.jsonl").is_file()
    assert sorted(p.name for p in (directory / "run-0" / "checkpoint").iterdir()) == [
        "epoch-1.pt",
        "epoch-2.pt",
    ]
    assert not (directory / "run-1").exists()


def test_a_stop_asked_on_rank_0_stops_every_rank_and_resumes_exactly(
    runs: tuple[Path, list[dict[str, Any]]], reference: dict[str, Any]
) -> None:
    _, fitted = runs
    stops = [run["resumed"]["stopped"] for run in fitted]
    # Asked for in step 4, agreed in step 5: both ranks stop there, mid-epoch 2.
    assert stops == [{"reason": "stopped", "iteration": 5}] * 2
    for run in fitted:
        assert_same_fit(run["resumed"], reference)


def test_a_non_finite_loss_on_one_rank_ends_every_rank(
    runs: tuple[Path, list[dict[str, Any]]],
) -> None:
    _, fitted = runs
    for run in fitted:
        assert run["nonfinite"].startswith("NonFiniteLossError: ")
        assert "epoch 1" in run["nonfinite"]


def test_a_dead_rank_ends_the_others_with_an_error(tmp_path: Path) -> None:
    survivor, dead = spawn(fit_then_die, tmp_path, tmp_path, collective_timeout=30.0, deadline=90.0)
    assert dead is None
    assert survivor is not None
    assert survivor.error_type == "DistributedError", survivor.details
    assert "rank 0 of 2" in str(survivor.error)
    assert "another process has probably stopped" in str(survivor.error)
    assert survivor.seconds < 30.0
