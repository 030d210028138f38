"""Metric state synced across two gloo processes equals one process's over the union of the data.

One spawned pair of processes checks every metric family (and a user's metric declaring each
reduction) in several splits of the data, uneven and with an empty rank, plus the semantics of
a sync; the single-process references are computed here.
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
    reference,
    sync_every_family,
)

ALL_ROWS = [*SCENARIOS["uneven"][0], *SCENARIOS["uneven"][1]]
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
    union = reference(ALL_ROWS)
    assert {"Loss", "Macro AUROC", "multilabel/Hamming Score @ Threshold(0.5)"} <= union.keys()
    # Composites too: derived metrics (in a collection and alone) and a classwise wrapper.
    assert {"Derived F1", "AUROC minus precision", "Named precision", "Binary miss rate"} <= (
        union.keys()
    )
    for run in synced_runs:
        for scenario in SCENARIOS:  # uneven shares, and each rank once without data
            assert_same(run[scenario], union)


def test_a_collections_values_are_synced(synced_runs: list[dict[str, Any]]) -> None:
    union = reference(ALL_ROWS)
    for run in synced_runs:
        values = run["collection values"]
        assert "Confusion Matrix" not in values  # a text metric
        assert values == pytest.approx({name: value(union[name]) for name in values}, rel=1e-6)


def test_a_sync_leaves_each_process_its_own_state(synced_runs: list[dict[str, Any]]) -> None:
    everything = reference(ALL_ROWS + MORE[0] + MORE[1])
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
        # for twelve metrics and three composites of them; the user's metric adds an
        # all-reduce of its min and max.
        assert run["collectives"]["multiclass"] == 3
        assert run["collectives"]["summary"] == 4


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
