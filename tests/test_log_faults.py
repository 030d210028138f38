"""Logs read as untrusted, written after a torn line; what the summary counts and prints;
the CLI writing into a closed pipe."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from burnish import LearnerSummary, read_run
from burnish.cli import LogReplay, main, view
from burnish.learner.history import MetricHistory
from burnish.logger.jsonl import JsonlMetricLogger, RunLog
from burnish.metric.entry import MetricEntry, NumericEntry
from burnish.processor.events import (
    EndEvent,
    EndSplitEvent,
    MetricUpdate,
    Split,
    StartEvent,
    StepsEvent,
)

START = {"event": "start", "epoch_total": 3, "splits": ["train"]}
STEPS = {
    "event": "steps",
    "split": "train",
    "epoch": 1,
    "iteration": [1, 2],
    "items": [4, 8],
    "items_total": 8,
    "lrs": [[0.1], [0.1]],
    "values": {"Loss": {"value": [0.5, 0.25], "count": [4, 4], "kind": "aggregated"}},
}
EPOCH = {
    "event": "epoch",
    "split": "train",
    "epoch": 1,
    "values": {"Loss": [0.375, 8, "aggregated"]},
    "texts": {"Device": "cpu"},
}
END = {"event": "end", "reason": "completed"}


def write_log(directory: Path, *lines: dict[str, Any] | bytes) -> Path:
    path = directory / "metrics.jsonl"
    path.write_bytes(
        b"".join(
            (line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n"
            for line in lines
        )
    )
    return path


def contents(run: RunLog) -> tuple[object, ...]:
    return (
        run.epoch_total,
        run.history.state_dict(),
        run.epoch_entries,
        run.steps,
        run.texts,
        run.end_reason,
    )


def without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


def loss_column(**changes: object) -> dict[str, Any]:
    return {**STEPS, "values": {"Loss": {**STEPS["values"]["Loss"], **changes}}}


BAD_LINES: dict[str, bytes | dict[str, Any]] = {
    "not utf-8": b'{"event": "end", "reason": "\xff\xfe"}',
    "not json": b"this is not json",
    "not an object": b"[1, 2, 3]",
    "nested too deep": b"[" * 100_000,
    "unknown event": {"event": "note", "text": "hello"},
    "start: splits not a list": {**START, "epoch_total": 9, "splits": "train"},
    "start: epoch total a string": {**START, "epoch_total": "9"},
    "steps: no split": without(STEPS, "split"),
    "steps: unknown split": {**STEPS, "split": "holdout"},
    "steps: values not a dict": {**STEPS, "values": [1, 2]},
    "steps: columns of mismatched lengths": loss_column(value=[0.5]),
    "steps: a number that is a string": loss_column(value=[0.5, "0.25"]),
    "steps: a count that is a bool": loss_column(count=[4, True]),
    "steps: an unknown kind": loss_column(kind="mean"),
    "steps: a later column bad": {
        **STEPS,
        "values": {**STEPS["values"], "Accuracy": {"value": [1.0, 2.0], "count": [4]}},
    },
    "steps: lrs mismatched": {**STEPS, "lrs": [[0.1]]},
    "epoch: a later value bad": {
        **EPOCH,
        "epoch": 2,
        "values": {"Loss": [0.3, 8, "aggregated"], "Accuracy": ["0.5", 8, "aggregated"]},
    },
    "epoch: a value of two fields": {**EPOCH, "values": {"Loss": [0.3, 8]}},
    "epoch: texts not strings": {**EPOCH, "epoch": 2, "texts": {"Device": 3}},
    "epoch: an epoch that is a float": {**EPOCH, "epoch": 2.0},
    "end: reason not a string": {"event": "end", "reason": 5},
    "a number too large for a float": {
        **EPOCH,
        "epoch": 2,
        "values": {"Loss": [int("9" * 400), 8, "aggregated"]},
    },
}


@pytest.mark.parametrize("bad", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_a_bad_record_is_skipped_whole_and_counted(
    bad: bytes | dict[str, Any], tmp_path: Path
) -> None:
    good = read_run(write_log(tmp_path, START, STEPS, EPOCH, END).parent)
    assert good.skipped == 0
    # After the end record: any part of it applied would show.
    path = write_log(tmp_path, START, STEPS, EPOCH, END, bad)
    run = read_run(tmp_path)
    assert run.skipped == 1
    assert contents(run) == contents(good)
    replay = LogReplay(path)
    events = replay.poll()
    assert replay.skipped == 1
    assert [type(event) for event in events] == [
        StartEvent,
        *[type(event) for event in events[1:-1]],
        EndEvent,
    ]
    assert replay.ended


def test_a_read_warns_once_naming_the_log_and_the_count(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_log(tmp_path, START, b"garbage", EPOCH, b"\x80\x81", END)
    with path.open("ab") as file:
        file.write(b'{"event": "ep')  # being written: not counted
    with caplog.at_level(logging.WARNING):
        assert read_run(tmp_path).skipped == 2
    (warning,) = caplog.records
    assert str(path) in warning.getMessage()
    assert "2 " in warning.getMessage()
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main(["summary", str(tmp_path)]) == 0
    assert len(caplog.records) == 1
    assert "| Train | Loss" in capsys.readouterr().out


def test_view_replays_a_bad_log_and_warns_once_after(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_log(tmp_path, START, STEPS, {**STEPS, "values": 7}, b"\xff", EPOCH, END)
    console = Console(width=120, height=40, record=True, file=io.StringIO(), force_terminal=True)
    with caplog.at_level(logging.WARNING):
        assert view(tmp_path, console=console, input_fd=None, keep_open=False) == 0
    (warning,) = caplog.records
    assert "2 " in warning.getMessage()
    assert "Done (completed)" in console.export_text()


def test_a_logger_ends_a_torn_line_before_its_first_record(tmp_path: Path) -> None:
    path = write_log(tmp_path, {**START, "epoch_total": 1}, EPOCH)
    with path.open("ab") as file:
        file.write(b'{"event": "steps", "split": "tr')  # a crash cut this line short
    logger = JsonlMetricLogger(tmp_path)
    loss = MetricUpdate(MetricEntry("Loss", "0.2", NumericEntry(0.2, 8, "aggregated")), False)
    logger.consume(
        [
            StartEvent(5, (Split.TRAIN,), 0.0),
            EndSplitEvent(Split.TRAIN, 2, (loss,), 0.0),
            EndEvent("completed", 0.0),
        ]
    )
    logger.close()
    run = read_run(tmp_path)
    assert run.epoch_total == 5
    assert run.history.values(Split.TRAIN, "Loss") == {1: 0.375, 2: 0.2}
    assert run.end_reason == "completed"
    assert run.skipped == 1  # the torn line, now a line of its own


def test_a_logger_appends_to_a_whole_log_without_a_blank_line(tmp_path: Path) -> None:
    write_log(tmp_path, START, EPOCH, END)
    logger = JsonlMetricLogger(tmp_path)
    logger.consume([StartEvent(5, (Split.TRAIN,), 0.0), EndEvent("completed", 0.0)])
    logger.close()
    assert read_run(tmp_path).skipped == 0


NAME = "Loss\x1b[2J"
SHOWN = "Loss\\x1b[2J"


def test_summary_escapes_control_characters_and_keeps_unicode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    epoch = {
        **EPOCH,
        "values": {NAME: [0.5, 1, "final"], "Genauigkeit ✓ \x9b": [0.5, 1, "final"]},
    }
    write_log(tmp_path, START, epoch, END)
    assert main(["summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\x9b" not in out
    assert f"| Train | {SHOWN}" in out
    assert "| Train | Genauigkeit ✓ \\x9b |" in out


def test_the_replay_escapes_names_texts_and_reasons(tmp_path: Path) -> None:
    steps = {**STEPS, "values": {NAME: STEPS["values"]["Loss"]}}
    epoch = {
        **EPOCH,
        "values": {NAME: [0.375, 8, "aggregated"]},
        "texts": {"Device\x07": "line 1\x1b[31m\nline 2"},
    }
    end = {"event": "end", "reason": "stopped\x1b]0;title\x07"}
    path = write_log(tmp_path, START, steps, epoch, end)
    events = LogReplay(path).poll()
    step_names = {
        name
        for event in events
        if isinstance(event, StepsEvent)
        for name in [*event.numbers, *(update.entry.name for update in event.latest)]
    }
    assert step_names == {SHOWN}
    (final,) = [event for event in events if isinstance(event, EndSplitEvent)]
    entries = {update.entry.name: update.entry.formatted for update in final.metrics}
    # A text metric may be a table: its lines stay lines.
    assert entries.keys() == {SHOWN, "Device\\x07"}
    assert entries["Device\\x07"] == "line 1\\x1b[31m\nline 2"
    assert isinstance(events[-1], EndEvent)
    assert events[-1].reason == "stopped\\x1b]0;title\\x07"
    console = Console(width=120, height=40, record=True, file=io.StringIO(), force_terminal=True)
    assert view(tmp_path, console=console, input_fd=None, keep_open=False) == 0
    text = console.export_text()
    assert "\x1b" not in text
    assert SHOWN in text


def test_total_epochs_are_those_with_values_not_those_configured() -> None:
    history = MetricHistory()
    for epoch in range(1, 17):
        history.record(Split.TRAIN, "Loss", epoch, 1 / epoch)
    for epoch in range(1, 16):  # stopped in epoch 16's validation
        history.record(Split.VALID, "Loss", epoch, 1 / epoch)
    summary = LearnerSummary.from_history(history, "Net")
    assert summary.epochs == 16
    assert "Model: Net" in str(summary)
    assert "Total Epochs: 16" in str(summary)
    assert LearnerSummary.from_history(MetricHistory()).epochs == 0


def test_cli_summary_counts_the_epochs_logged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    epochs = [{**EPOCH, "epoch": epoch} for epoch in range(1, 17)]
    write_log(tmp_path, {**START, "epoch_total": 40}, *epochs)
    assert main(["summary", str(tmp_path)]) == 0
    assert "Total Epochs: 16" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["summary", "view"])
def test_a_closed_stdout_ends_the_cli_quietly(command: str, tmp_path: Path) -> None:
    write_log(tmp_path, START, EPOCH, END)
    process = subprocess.Popen(
        [sys.executable, "-m", "burnish.cli", command, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    # Closed before the CLI has imported anything: as `| head -1` gone before it prints.
    process.stdout.close()
    stderr = process.stderr.read().decode()
    assert process.wait(60) in (0, 141)
    assert "Traceback" not in stderr
    assert "BrokenPipeError" not in stderr
