"""The MLflow logger against MLflow's local file store (no server): epoch values equal to the
JSONL log's, the latest step values per flush, and a resumed learner continuing the same run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from burnish import MlflowMetricLogger, Split, read_run
from burnish.processor.events import StartEvent
from tests.learner_fixtures import Classifier, builder, loaders, sgd

mlflow = pytest.importorskip("mlflow")


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> mlflow.MlflowClient:
    # MLflow 3 keeps its file store, the one that needs no server and no database, behind
    # this switch.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return mlflow.MlflowClient(f"file:{tmp_path / 'mlruns'}")


def _fit(
    directory: Path,
    client: mlflow.MlflowClient,
    epochs: int,
    resume: bool = False,
    flush_seconds: float = 1.0,
) -> Classifier:
    model = Classifier()
    learn, _ = builder(directory, epochs=epochs)
    logger = MlflowMetricLogger(
        directory,
        tracking_uri=client.tracking_uri,
        experiment_name="tests",
        flush_seconds=flush_seconds,
    )
    learn = learn.with_metric_logger(logger).with_file_checkpointer()
    (learn.resume() if resume else learn).build(model, sgd(model)).fit(*loaders())
    return model


def _points(client: mlflow.MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((point.step, point.value) for point in client.get_metric_history(run_id, key))


def _assert_epochs_equal_the_jsonl_log(
    client: mlflow.MlflowClient, run_id: str, directory: Path
) -> None:
    run = read_run(directory)
    expected: dict[str, list[tuple[int, float]]] = {}
    for (split, name, epoch), entry in run.epoch_entries.items():
        expected.setdefault(f"{name}/{split.value}_epoch", []).append((epoch, entry.value))
    assert set(expected) == {
        "Loss/train_epoch",
        "Accuracy/train_epoch",
        "Loss/valid_epoch",
        "Accuracy/valid_epoch",
    }
    for key, points in expected.items():
        assert _points(client, run_id, key) == sorted(points), key


def test_epochs_and_steps_reach_the_run_and_a_resume_continues_it(
    tmp_path: Path, client: mlflow.MlflowClient
) -> None:
    directory = tmp_path / "run"
    # A flush at the start and one at the end (the end flushes at once, whatever the period).
    _fit(directory, client, epochs=2, flush_seconds=3600)
    run_id = (directory / "mlflow_run_id").read_text(encoding="utf-8").strip()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "tests"
    _assert_epochs_equal_the_jsonl_log(client, run_id, directory)
    # Steps: a point per flush and split, the latest step's value.
    for split in (Split.TRAIN, Split.VALID):
        steps = _points(client, run_id, f"Loss/{split.value}")
        iteration, last = read_run(directory).steps[(split, "Loss")][-1]
        assert steps[-1] == (iteration, last.value)
        assert len(steps) <= 2

    _fit(directory, client, epochs=3, resume=True)
    assert (directory / "mlflow_run_id").read_text(encoding="utf-8").strip() == run_id
    (only,) = client.search_runs([run.info.experiment_id])
    assert only.info.run_id == run_id
    assert only.info.status == "FINISHED"
    _assert_epochs_equal_the_jsonl_log(client, run_id, directory)
    assert [step for step, _ in _points(client, run_id, "Accuracy/valid_epoch")] == [1, 2, 3]


def test_a_failed_fit_fails_the_run(tmp_path: Path, client: mlflow.MlflowClient) -> None:
    def fail(step: int) -> None:
        if step == 3:
            raise RuntimeError("the data ran out")

    model = Classifier()
    model.on_train_step = fail
    learn, _ = builder(tmp_path, epochs=1)
    logger = MlflowMetricLogger(tmp_path, tracking_uri=client.tracking_uri)
    with pytest.raises(RuntimeError, match="the data ran out"):
        learn.with_metric_logger(logger).build(model, sgd(model)).fit(*loaders())
    run_id = (tmp_path / "mlflow_run_id").read_text(encoding="utf-8").strip()
    assert client.get_run(run_id).info.status == "FAILED"


def test_a_stored_run_the_store_lacks_is_named(tmp_path: Path, client: mlflow.MlflowClient) -> None:
    """A resumed fit continues the stored run; one the store does not have is an error."""
    (tmp_path / "mlflow_run_id").write_text("0123456789abcdef\n", encoding="utf-8")
    logger = MlflowMetricLogger(tmp_path, tracking_uri=client.tracking_uri)
    resumed = StartEvent(2, (Split.TRAIN,), 0.0, fresh=False)
    with pytest.raises(RuntimeError, match=r"names MLflow run '0123456789abcdef'.*cannot continue"):
        logger.consume([resumed])


def test_a_fresh_fit_starts_a_new_run(tmp_path: Path, client: mlflow.MlflowClient) -> None:
    (tmp_path / "mlflow_run_id").write_text("0123456789abcdef\n", encoding="utf-8")
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    logger = MlflowMetricLogger(tmp_path, tracking_uri=client.tracking_uri)
    learn.overwrite().with_metric_logger(logger).build(model, sgd(model)).fit(*loaders())
    run_id = (tmp_path / "mlflow_run_id").read_text(encoding="utf-8").strip()
    assert run_id != "0123456789abcdef"
    assert client.get_run(run_id).info.status == "FINISHED"


def test_a_clear_error_without_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(ImportError, match=r"pip install 'burnish\[mlflow\]'"):
        MlflowMetricLogger("runs/x")
