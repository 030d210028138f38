"""The CSV logger: one row per epoch and split, read by pandas, equal to the JSONL log's epoch
values, continued by a resumed run."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from burnish import (
    AurocMetric,
    CsvMetricLogger,
    KeepLastNCheckpoints,
    Split,
    TopKAccuracyMetric,
    read_run,
)
from tests.learner_fixtures import Classifier, builder, loaders, sgd


def _assert_equals_the_jsonl_log(directory: Path) -> pd.DataFrame:
    """The CSV read by pandas holds exactly the epoch values ``read_run`` reads: a row per
    epoch and split, a cell per metric the split logged, an empty cell (NaN) for the others."""
    table = pd.read_csv(directory / "metrics.csv")
    run = read_run(directory)
    logged = {(split.value, epoch) for split, _, epoch in run.epoch_entries}
    keys = list(zip(table["split"], table["epoch"], strict=True))
    assert len(keys) == len(set(keys))  # one row per epoch and split
    assert set(keys) == logged
    metrics = [column for column in table.columns if column not in ("epoch", "split")]
    assert set(metrics) == {name for _, name, _ in run.epoch_entries}
    for _, row in table.iterrows():
        for name in metrics:
            where = (row["split"], row["epoch"], name)
            entry = run.epoch_entries.get((Split(row["split"]), name, row["epoch"]))
            if entry is None or math.isnan(entry.value):
                assert math.isnan(row[name]), where
            else:
                assert row[name] == entry.value, where
    return table


def test_rows_equal_the_jsonl_log_across_a_resume(tmp_path: Path) -> None:
    first = Classifier()
    learn, _ = builder(tmp_path, epochs=2)
    # A valid-only metric: the first valid row adds its column to the header.
    learn.metric_valid_numeric(TopKAccuracyMetric(2)).with_metric_logger(
        CsvMetricLogger(tmp_path)
    ).with_file_checkpointer(KeepLastNCheckpoints(4)).build(first, sgd(first)).fit(*loaders())
    table = _assert_equals_the_jsonl_log(tmp_path)
    assert list(table.columns) == ["epoch", "split", "Loss", "Accuracy", "Top-2 Accuracy"]
    assert list(zip(table["epoch"], table["split"], strict=True)) == [
        (1, "train"),
        (1, "valid"),
        (2, "train"),
        (2, "valid"),
    ]

    # Resumed from epoch 1 (epoch 2 is done again) with a metric the file has no column for.
    resumed = Classifier()
    learn, _ = builder(tmp_path, epochs=3)
    learn.metric_valid_numeric(TopKAccuracyMetric(2)).metric_train_numeric(
        AurocMetric.multiclass(softmax=True)
    ).with_metric_logger(CsvMetricLogger(tmp_path)).with_file_checkpointer(
        KeepLastNCheckpoints(4)
    ).checkpoint(1).build(resumed, sgd(resumed)).fit(*loaders())
    table = _assert_equals_the_jsonl_log(tmp_path)
    assert list(table.columns) == [
        "epoch",
        "split",
        "Loss",
        "Accuracy",
        "Top-2 Accuracy",
        "Macro AUROC",
    ]
    assert list(zip(table["epoch"], table["split"], strict=True)) == [
        (1, "train"),
        (1, "valid"),
        (2, "train"),
        (2, "valid"),
        (3, "train"),
        (3, "valid"),
    ]
    # The first run's epoch 1 has no AUROC; the resumed run's epochs have.
    auroc = dict(
        zip(zip(table["epoch"], table["split"], strict=True), table["Macro AUROC"], strict=True)
    )
    assert math.isnan(auroc[(1, "train")])
    assert not math.isnan(auroc[(2, "train")])
    assert not list(tmp_path.glob(".metrics.csv.*"))  # no temporary file left by a rewrite


def test_evaluate_adds_a_test_row(tmp_path: Path) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    learner = learn.with_metric_logger(CsvMetricLogger(tmp_path)).build(model, sgd(model))
    learner.fit(*loaders())
    learner.evaluate(loaders()[1])
    table = _assert_equals_the_jsonl_log(tmp_path)
    assert list(table["split"]) == ["train", "valid", "test"]


def test_a_row_cut_short_by_a_crash_is_left_out_and_the_file_continued(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    learn.with_metric_logger(CsvMetricLogger(tmp_path)).with_file_checkpointer().build(
        first, sgd(first)
    ).fit(*loaders())
    path = tmp_path / "metrics.csv"
    with path.open("a", encoding="utf-8") as file:
        file.write("2,tra")  # the crash came in the middle of epoch 2's row

    logger = CsvMetricLogger(tmp_path)
    assert "skipped 1 row(s)" in caplog.text
    resumed = Classifier()
    learn, _ = builder(tmp_path, epochs=2)
    learn.with_metric_logger(logger).with_file_checkpointer().resume().build(
        resumed, sgd(resumed)
    ).fit(*loaders())
    table = _assert_equals_the_jsonl_log(tmp_path)
    keys = list(zip(table["epoch"], table["split"], strict=True))
    assert keys == [(1, "train"), (1, "valid"), (2, "train"), (2, "valid")]
    assert not table.isna().any().any()  # no row of NaNs from the torn one


@pytest.mark.parametrize("content", [b"name,value\nx,1\n", b"\xff\xfe\x00binary"])
def test_another_file_is_not_written_over(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "metrics.csv").write_bytes(content)
    with pytest.raises(ValueError, match=r"metrics\.csv is not a burnish CSV log"):
        CsvMetricLogger(tmp_path)
    assert (tmp_path / "metrics.csv").read_bytes() == content


def test_a_fresh_run_over_an_earlier_one_starts_the_csv_again(tmp_path: Path) -> None:
    """After overwrite(), the rows of the earlier, longer run are gone, not mixed in."""
    for epochs, extra in ((3, True), (1, False)):
        model = Classifier()
        learn, _ = builder(tmp_path, epochs=epochs)
        if extra:
            learn.metric_valid_numeric(TopKAccuracyMetric(2))
        else:
            learn.overwrite()
        learn.with_metric_logger(CsvMetricLogger).build(model, sgd(model)).fit(*loaders())
    table = _assert_equals_the_jsonl_log(tmp_path)
    assert list(table["epoch"]) == [1, 1]
    assert "Top-2 Accuracy" not in table.columns


def test_a_logger_class_is_made_for_a_versioned_run_directory(tmp_path: Path) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    learner = learn.versioned().with_metric_logger(CsvMetricLogger).build(model, sgd(model))
    learner.fit(*loaders())
    assert learner.config.directory == tmp_path / "version-1"
    _assert_equals_the_jsonl_log(tmp_path / "version-1")


def test_a_row_torn_inside_its_last_cell_is_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A crash can cut a row's last number short and leave every cell: the row is not kept."""
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=2)
    learn.with_metric_logger(CsvMetricLogger).with_file_checkpointer(KeepLastNCheckpoints(4)).build(
        model, sgd(model)
    ).fit(*loaders())
    path = tmp_path / "metrics.csv"
    text = path.read_text()
    path.write_text(text[: text.rstrip("\n").rfind(".") + 2])  # keeps one decimal of the last
    resumed = Classifier()
    learn, _ = builder(tmp_path, epochs=3)
    learn.with_metric_logger(CsvMetricLogger).with_file_checkpointer(
        KeepLastNCheckpoints(4)
    ).resume().build(resumed, sgd(resumed)).fit(*loaders())
    assert "skipped 1 row(s)" in caplog.text
    run = read_run(tmp_path)
    for _, row in pd.read_csv(path).iterrows():
        for name in ("Loss", "Accuracy"):
            logged = run.epoch_entries[(Split(row["split"]), name, row["epoch"])].value
            assert row[name] == logged, (row["split"], row["epoch"], name)


def test_the_csv_is_as_readable_as_the_jsonl_log(tmp_path: Path) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    learn.with_metric_logger(CsvMetricLogger).build(model, sgd(model)).fit(*loaders())

    def mode(name: str) -> int:
        return (tmp_path / name).stat().st_mode & 0o777

    assert mode("metrics.csv") == mode("metrics.jsonl")  # what the umask allows, not 0600
