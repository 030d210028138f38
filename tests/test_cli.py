"""``burnish view``: a run's log replayed (and followed) in the dashboard; the summary when
stdout is not a terminal."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from burnish.cli import LogReplay, main, view
from burnish.learner.events import (
    EndEvent,
    EndSplitEvent,
    ProcessedItemEvent,
    Split,
    StartEvent,
    StartSplitEvent,
)
from burnish.logger.jsonl import read_run
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


def recording_console() -> Console:
    return Console(width=120, height=40, record=True, file=io.StringIO(), force_terminal=True)


def test_view_replays_a_finished_run(finished_run: Path) -> None:
    console = recording_console()
    assert view(finished_run, console=console, input_fd=None, keep_open=False) == 0
    text = console.export_text()
    run = read_run(finished_run)
    for panel in ("Plots: full history", "Metrics", "Status", "System", "Progress"):
        assert panel in text
    assert "Done (completed)" in text
    assert "Epoch     2/2" in text
    assert "Elapsed   -" in text  # the log has no time stamps
    for split in (Split.TRAIN, Split.VALID):
        for name in ("Loss", "Accuracy"):
            value = run.epoch_entries[(split, name, 2)].value
            # The last step's running epoch value is the epoch's value.
            assert f"epoch {value:.4f} - batch" in text, (split, name, value)


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
    valid_loss = read_run(finished_run).epoch_entries[(Split.VALID, "Loss", 2)].value
    assert f"epoch {valid_loss:.4f} - batch" in text


def test_replay_rebuilds_the_learners_events(finished_run: Path) -> None:
    records = (finished_run / "metrics.jsonl").read_text().splitlines()
    events = LogReplay(finished_run / "metrics.jsonl").poll()
    assert isinstance(events[0], StartEvent)
    assert events[0].epoch_total == 2
    assert events[0].splits == (Split.TRAIN, Split.VALID)
    assert isinstance(events[-1], EndEvent)
    assert events[-1].reason == "completed"
    steps = [event for event in events if isinstance(event, ProcessedItemEvent)]
    logged = [json.loads(record) for record in records if '"event": "steps"' in record]
    assert len(steps) == sum(len(record["iteration"]) for record in logged)
    starts = [(e.split, e.epoch) for e in events if isinstance(e, StartSplitEvent)]
    assert starts == [(s, e) for e in (1, 2) for s in (Split.TRAIN, Split.VALID)]
    ends = [event for event in events if isinstance(event, EndSplitEvent)]
    assert [(e.split, e.epoch) for e in ends] == starts
    # A mean metric's step text has the running epoch value, weighted by batch size: at the
    # epoch's last step, the epoch's value.
    first_epoch = [s for s in steps if s.split is Split.TRAIN and s.progress.epoch == 1]
    texts = [{u.entry.name: u.entry.formatted for u in s.metrics} for s in first_epoch]
    assert all(" - batch " in text["Loss"] for text in texts)
    loss = read_run(finished_run).epoch_entries[(Split.TRAIN, "Loss", 1)].value
    assert texts[-1]["Loss"].startswith(f"epoch {loss:.4f} - batch ")


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
