"""``burnish view``: a run's log replayed (and followed) in the dashboard; the summary when
stdout is not a terminal."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from burnish.cli import LogReplay, main, view
from burnish.processor.events import (
    EndEvent,
    EndSplitEvent,
    Split,
    StartEvent,
    StartSplitEvent,
    StepsEvent,
)
from burnish.renderer.tui.eta import format_duration
from burnish.renderer.tui.keys import Controls
from tests.learner_fixtures import Classifier, builder, loaders, sgd


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real two-epoch run's directory."""
    directory = tmp_path_factory.mktemp("run")
    built, _ = builder(directory, epochs=2)
    model = Classifier()
    built.build(model, sgd(model)).fit(*loaders())
    return directory


def records(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]


def last_steps(directory: Path, split: Split) -> dict[str, Any]:
    """The last ``steps`` record of ``split``."""
    steps = [r for r in records(directory) if r["event"] == "steps" and r["split"] == split.value]
    return steps[-1]


def recording_console() -> Console:
    return Console(width=120, height=40, record=True, file=io.StringIO(), force_terminal=True)


def test_view_replays_a_finished_run(finished_run: Path) -> None:
    console = recording_console()
    assert view(finished_run, console=console, input_fd=None, keep_open=False) == 0
    text = console.export_text()
    for panel in ("Plots: full history", "Metrics", "Status", "System", "Progress"):
        assert panel in text
    assert "Done (completed)" in text
    assert "Epoch     2/2" in text
    # How long the run took, from the times of its start and end records.
    logged = records(finished_run)
    took = logged[-1]["at"] - logged[0]["at"]
    assert f"Elapsed   {format_duration(took)}" in text
    for split in (Split.TRAIN, Split.VALID):
        shown = last_steps(finished_run, split)["shown"]
        # The last step's texts as the live dashboard showed them, with formats and units.
        assert shown["Accuracy"].endswith(" %")
        for name in ("Loss", "Accuracy"):
            assert shown[name] in text, (split, name)


def test_view_follows_a_growing_log_until_its_end(finished_run: Path, tmp_path: Path) -> None:
    lines = (finished_run / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    first_valid = next(i for i, line in enumerate(lines) if b'"split": "valid"' in line)
    log = tmp_path / "metrics.jsonl"
    log.write_bytes(b"".join(lines[:first_valid]) + lines[first_valid][:20])  # a line cut short
    console = recording_console()
    finished = threading.Event()

    def run() -> None:
        view(tmp_path, console=console, input_fd=None, keep_open=False, poll_seconds=0.02)
        finished.set()

    viewer = threading.Thread(target=run, daemon=True)
    viewer.start()
    time.sleep(0.5)
    assert not finished.is_set()  # still following: no end record yet
    with log.open("ab") as file:
        file.write(lines[first_valid][20:])
        file.write(b"".join(lines[first_valid + 1 :]))
    assert finished.wait(10), "the viewer did not stop at the end record"
    text = console.export_text()
    assert "Training" in text
    assert "Done (completed)" in text
    assert last_steps(finished_run, Split.VALID)["shown"]["Loss"] in text


def test_replay_rebuilds_the_learners_events(finished_run: Path) -> None:
    records = (finished_run / "metrics.jsonl").read_text().splitlines()
    events = LogReplay(finished_run / "metrics.jsonl").poll()
    assert isinstance(events[0], StartEvent)
    assert events[0].epoch_total == 2
    assert events[0].splits == (Split.TRAIN, Split.VALID)
    assert isinstance(events[-1], EndEvent)
    assert events[-1].reason == "completed"
    steps = [event for event in events if isinstance(event, StepsEvent)]
    logged = [json.loads(record) for record in records if '"event": "steps"' in record]
    assert sum(len(event) for event in steps) == sum(len(record["iteration"]) for record in logged)
    assert [i for e in steps for i in e.iterations] == [i for r in logged for i in r["iteration"]]
    starts = [(e.split, e.epoch) for e in events if isinstance(e, StartSplitEvent)]
    assert starts == [(s, e) for e in (1, 2) for s in (Split.TRAIN, Split.VALID)]
    ends = [event for event in events if isinstance(event, EndSplitEvent)]
    assert [(e.split, e.epoch) for e in ends] == starts
    # A mean metric's step text has the running epoch value, weighted by batch size; the last
    # step of a record has the text the dashboard showed.
    first_epoch = [s for s in steps if s.split is Split.TRAIN and s.epoch == 1]
    texts = [{u.entry.name: u.entry.formatted for u in s.latest} for s in first_epoch]
    assert all(" - batch " in text["Loss"] for text in texts)
    epoch_records = [r for r in logged if r["split"] == "train" and r["epoch"] == 1]
    assert texts[-1]["Loss"] == epoch_records[-1]["shown"]["Loss"]
    # Steps are spread in time between the records: the ETA and the rate read real times.
    times = [at for s in first_epoch for at in s.at]
    assert times == sorted(times)
    assert times[-1] - times[0] > 0


def test_replay_leaves_a_line_being_written_for_the_next_poll(tmp_path: Path) -> None:
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"event": "start", "epoch_total": 1, "splits": ["train"]}\n{"event": "en')
    replay = LogReplay(log)
    assert [type(event) for event in replay.poll()] == [StartEvent]
    assert not replay.ended
    with log.open("a") as file:
        file.write('d", "reason": "stopped"}\n')
    (end,) = replay.poll()
    assert isinstance(end, EndEvent)
    assert end.reason == "stopped"
    assert replay.ended
    assert replay.poll() == []


def test_view_without_a_terminal_prints_the_summary(
    finished_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["view", str(finished_run)]) == 0
    out = capsys.readouterr().out
    assert "Learner Summary" in out
    assert "Accuracy" in out
    assert "\x1b[" not in out


@pytest.mark.parametrize("command", ["view", "summary"])
def test_a_directory_without_a_log_is_reported(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, str(tmp_path)]) == 2
    assert "no metrics.jsonl in" in capsys.readouterr().err


def test_q_quits_at_once_without_a_prompt() -> None:
    stops: list[bool] = []
    controls = Controls(lambda: stops.append(True), confirm_stop=False)
    assert controls.handle("q", 3)
    assert not controls.prompt_open
    assert stops == [True]
    controls.handle("q", 3)
    assert stops == [True]


def test_view_waits_for_a_log_not_written_yet(finished_run: Path, tmp_path: Path) -> None:
    console = recording_console()
    finished = threading.Event()
    statuses: list[int] = []

    def run() -> None:
        statuses.append(
            view(tmp_path, console=console, input_fd=None, keep_open=False, poll_seconds=0.02)
        )
        finished.set()

    viewer = threading.Thread(target=run, daemon=True)
    viewer.start()
    time.sleep(0.5)
    assert not finished.is_set()  # waiting for the run to write its log
    (tmp_path / "metrics.jsonl").write_bytes((finished_run / "metrics.jsonl").read_bytes())
    assert finished.wait(10), "the viewer did not read the log once written"
    assert statuses == [0]
    assert "Done (completed)" in console.export_text()


def test_view_shows_epoch_values_of_metrics_that_are_not_means(tmp_path: Path) -> None:
    # Issue 20: precision, recall and F1 showed no epoch value: the log has their texts.
    line = {
        "event": "steps",
        "split": "train",
        "epoch": 1,
        "iteration": [1, 2],
        "items": [8, 16],
        "items_total": 32,
        "lrs": [[0.1], [0.1]],
        "values": {"F1 Score": {"value": [0.5, 0.7], "count": [8, 8], "kind": "value"}},
        "at": 12.0,
        "shown": {"F1 Score": "epoch 61.20 % - batch 70.00 %"},
    }
    start = {"event": "start", "epoch_total": 1, "splits": ["train"], "at": 10.0}
    # The same steps as an older log wrote them, without the texts shown.
    unshown = {**line, "shown": {}, "at": 14.0}
    (tmp_path / "metrics.jsonl").write_text(
        "".join(f"{json.dumps(record)}\n" for record in (start, line, unshown))
    )
    events = LogReplay(tmp_path / "metrics.jsonl").poll()
    steps, old = [e for e in events if isinstance(e, StepsEvent)]
    assert steps.latest[0].entry.formatted == "epoch 61.20 % - batch 70.00 %"
    assert old.latest[0].entry.formatted == "batch 0.7000"  # not logged: made up
    assert list(steps.at) == [steps.at[-1] - 1.0, steps.at[-1]]  # spread since start
