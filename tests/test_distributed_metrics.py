"""Metric state synced across two gloo processes equals one process's over the union of the data.

One spawned pair of processes checks every metric family (and a user's metric declaring each
reduction), the metrics made of metrics (derived, wrapped, functions of arrays, usage modes) in
several splits of the data, uneven and with an empty rank, plus the semantics of a sync; the
single-process references are computed here. The processes step together, so one process's
reference reads at each step the rows of both processes' batches of that step.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import torch

from burnish import AccuracyMetric, ClassificationOutput, NumericEntry
from burnish.distributed import synced
from tests.distributed_spawn import results, spawn
from tests.distributed_workers import (
    META,
    MORE,
    SCENARIOS,
    bootstrapped,
    lockstep,
    reference,
    sync_every_family,
)

ALL_ROWS = lockstep(SCENARIOS["uneven"])
TEXT_METRICS = ("Confusion Matrix", "Binary Confusion Matrix")


def assert_same(actual: dict[str, str], expected: dict[str, str]) -> None:
    assert actual.keys() == expected.keys()
    for name, serialized in expected.items():
        if name in TEXT_METRICS:
            assert json.loads(actual[name]) == json.loads(serialized), name
        elif name == "Summary":
            got, want = json.loads(actual[name]), json.loads(serialized)
            # Concatenated in rank order: the same values, in another order than one process's.
            got["values"], want["values"] = sorted(got["values"]), sorted(want["values"])
            # Reduced by a function that sorts every process's values (one process has none).
            want["sorted"] = sorted(want["sorted"])
            assert got.keys() == want.keys()
            for key in want:
                assert got[key] == pytest.approx(want[key], rel=1e-6), key
        else:
            got_entry, want_entry = (
                NumericEntry.deserialize(s) for s in (actual[name], serialized)
            )
            assert got_entry.value == pytest.approx(want_entry.value, rel=1e-6, abs=1e-9), name
            assert got_entry.count == want_entry.count, name


def value(serialized: str) -> float:
    return NumericEntry.deserialize(serialized).value


@pytest.fixture(scope="module")
def synced_runs(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return results(spawn(sync_every_family, tmp_path_factory.mktemp("sync")))


def test_every_family_syncs_to_the_value_over_the_union(synced_runs: list[dict[str, Any]]) -> None:
    assert {"Loss", "Macro AUROC", "multilabel/Hamming Score @ Threshold(0.5)"} <= (
        reference(ALL_ROWS).keys()
    )
    # Metrics made of metrics too, in a collection and alone: derived, classwise, functions of
    # arrays, windows (of totals, replayed) and moving averages, usage modes.
    assert {
        "Derived F1",
        "AUROC minus precision",
        "Named precision",
        "Binary miss rate",
        "Log loss",
        "F1 by class",
        "Binary sklearn F1",
        "Running Macro Precision",
        "Running Loss",
        "Running Log loss",
        "Binary running precision",
        "Batch loss",
        "Binary batch AUROC",
        "Run accuracy",
    } <= reference(ALL_ROWS).keys()
    for scenario, shares in SCENARIOS.items():  # uneven shares, and each rank once without data
        union = reference(lockstep(shares))
        for run in synced_runs:
            assert_same(run[scenario], union)


def test_a_collections_values_are_synced(synced_runs: list[dict[str, Any]]) -> None:
    union = reference(ALL_ROWS)
    for run in synced_runs:
        values = run["collection values"]
        assert "Confusion Matrix" not in values  # a text metric
        assert values == pytest.approx({name: value(union[name]) for name in values}, rel=1e-6)


def test_a_sync_leaves_each_process_its_own_state(synced_runs: list[dict[str, Any]]) -> None:
    everything = reference(lockstep([SCENARIOS["uneven"][r] + MORE[r] for r in range(2)]))
    for rank, run in enumerate(synced_runs):
        own = reference(SCENARIOS["uneven"][rank])
        assert run["twice"] == run["uneven"]
        assert run["local accuracy"] == pytest.approx(value(own["Accuracy"]))
        assert value(run["unsynced accuracy"]) == pytest.approx(value(own["Accuracy"]))
        # Updated after a sync, each process continued its own epoch: nothing counted twice.
        assert_same(run["continued"], everything)
    assert value(own["Accuracy"]) != pytest.approx(value(everything["Accuracy"]))


def test_a_collection_syncs_with_one_collective_of_each_kind(
    synced_runs: list[dict[str, Any]],
) -> None:
    for run in synced_runs:
        # A header, one all-reduce of the sums, one all-gather of the predictions and bounds,
        # for fifteen metrics, and as many with seven composites of them, whose states go with
        # the others'; the user's metric adds an all-reduce of its min and max.
        assert run["collectives"]["multiclass"] == 3
        assert run["collectives"]["without composites"] == 3
        assert run["collectives"]["summary"] == 4


def test_composites_read_the_one_synced_copy_of_a_shared_operand(
    synced_runs: list[dict[str, Any]],
) -> None:
    for run in synced_runs:
        assert run["shared operands"] == {"synced": True, "shared": True}


def test_each_bootstrap_copy_syncs_every_process_resample(
    synced_runs: list[dict[str, Any]],
) -> None:
    for scenario, (first, second) in SCENARIOS.items():
        # One process resampling both shares in turn draws what the two processes draw.
        alone = bootstrapped([[*first, *second]], 0)
        raw = alone.bootstrap().raw
        for run in synced_runs:
            synced_run = run["bootstrap"][scenario]
            assert synced_run["raw"] == pytest.approx(raw, rel=1e-6)
            assert value(synced_run["entry"]) == pytest.approx(value(alone.compute().serialized))


def test_a_metric_syncs_over_the_process_group_it_is_given(
    synced_runs: list[dict[str, Any]],
) -> None:
    own = reference(SCENARIOS["uneven"][0])
    union = reference(ALL_ROWS)
    assert synced_runs[0]["groups"]["alone"] == pytest.approx(value(own["Accuracy"]))
    for run in synced_runs:
        assert run["groups"]["both"] == pytest.approx(value(union["Accuracy"]))


def test_min_and_max_propagate_nan(synced_runs: list[dict[str, Any]]) -> None:
    for run in synced_runs:
        summary = run["nan"]
        assert math.isnan(summary["low"])
        assert math.isnan(summary["high"])
        assert summary["count"] == 4


def test_an_input_error_of_one_process_is_raised_by_every_process(
    synced_runs: list[dict[str, Any]],
) -> None:
    for run in synced_runs:
        assert "Accuracy: expected targets within [0, 2]" in run["input error"]
        assert "received values in [0, 7]" in run["input error"]


def test_processes_holding_states_of_different_shapes_fail_clearly(
    synced_runs: list[dict[str, Any]],
) -> None:
    for run in synced_runs:
        message = run["shape error"]
        assert "Macro Precision._state._counts" in message
        assert "rank 0: (3, 3), rank 1: (3, 4)" in message


def test_outside_a_process_group_a_metric_is_its_own_sync() -> None:
    metric = AccuracyMetric()
    metric.update(
        ClassificationOutput(torch.tensor(0.0), torch.eye(3), torch.tensor([0, 1, 1])), META
    )
    assert synced(metric) is metric
    assert value(metric.compute().serialized) == pytest.approx(200 / 3)
