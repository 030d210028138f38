"""A fresh run never writes over an earlier one: it is refused, overwritten on request, or
given a version directory of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from burnish import LearnerBuilder, RunDirectoryError, Split, read_run
from tests.learner_fixtures import Classifier, builder, loaders, sgd


def _fit(learn: LearnerBuilder, epochs: int = 1) -> Path:
    model = Classifier()
    learner = learn.num_epochs(epochs).build(model, sgd(model))
    learner.fit(*loaders())
    return learner.config.directory


def test_a_fresh_run_into_an_earlier_runs_directory_is_refused_and_loses_nothing(
    tmp_path: Path,
) -> None:
    _fit(builder(tmp_path)[0].with_file_checkpointer(), epochs=3)
    log = (tmp_path / "metrics.jsonl").read_bytes()
    checkpoints = sorted(p.name for p in (tmp_path / "checkpoint").iterdir())
    with pytest.raises(RunDirectoryError, match=r"already holds a run .*resume\(\).*overwrite\(\)"):
        _fit(builder(tmp_path)[0].with_file_checkpointer())
    assert (tmp_path / "metrics.jsonl").read_bytes() == log
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == checkpoints
    # Still the three-epoch run alone.
    assert all(len(read_run(tmp_path).history.values(*key)) == 3 for key in _keys(tmp_path))


def _keys(directory: Path) -> list[tuple[Split, str]]:
    run = read_run(directory)
    return [(split, name) for split in run.history.splits() for name in run.history.names(split)]


def test_a_log_alone_is_an_earlier_run(tmp_path: Path) -> None:
    _fit(builder(tmp_path)[0])
    with pytest.raises(RunDirectoryError, match=r"metrics\.jsonl"):
        builder(tmp_path)[0].build(Classifier(), sgd(Classifier()))


def test_overwrite_starts_afresh(tmp_path: Path) -> None:
    _fit(builder(tmp_path)[0].with_file_checkpointer(), epochs=3)
    _fit(builder(tmp_path)[0].with_file_checkpointer().overwrite(), epochs=1)
    assert [p.name for p in (tmp_path / "checkpoint").glob("epoch-*.pt")] == ["epoch-1.pt"]
    run = read_run(tmp_path)
    assert all(len(run.history.values(*key)) == 1 for key in _keys(tmp_path))
    with pytest.raises(ValueError, match="exclude each other"):
        builder(tmp_path)[0].overwrite().resume().build(Classifier(), sgd(Classifier()))


def test_versioned_runs_each_get_a_directory_and_resume_continues_the_last(
    tmp_path: Path,
) -> None:
    first = _fit(builder(tmp_path)[0].versioned().with_file_checkpointer(), epochs=1)
    second = _fit(builder(tmp_path)[0].versioned().with_file_checkpointer(), epochs=1)
    assert (first, second) == (tmp_path / "version-1", tmp_path / "version-2")
    resumed = _fit(builder(tmp_path)[0].versioned().with_file_checkpointer().resume(), epochs=2)
    assert resumed == second
    assert len(read_run(second).history.values(*_keys(second)[0])) == 2
    assert len(read_run(first).history.values(*_keys(first)[0])) == 1


def test_an_empty_or_missing_directory_is_fresh(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "checkpoint").mkdir()
    _fit(builder(tmp_path / "empty")[0])
    _fit(builder(tmp_path / "missing")[0])


def test_versioned_runs_built_together_take_their_own_directories(tmp_path: Path) -> None:
    first = builder(tmp_path)[0].versioned().build(Classifier(), sgd(Classifier()))
    second = builder(tmp_path)[0].versioned().build(Classifier(), sgd(Classifier()))
    assert (first.config.directory, second.config.directory) == (
        tmp_path / "version-1",
        tmp_path / "version-2",
    )
