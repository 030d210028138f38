"""Runs compared in the terminal (``burnish view A B ...``): the comparison's state, its keys,
its screen, and the command in a real (pseudo) terminal, following a run still training."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from burnish.cli import compare, main
from burnish.logger.jsonl import JsonlMetricLogger
from burnish.processor.events import LearnerEvent, Split
from burnish.renderer.demo import DEMO_METRICS, synthetic_events
from burnish.renderer.tui import View
from burnish.renderer.tui.compare import CompareControls, ComparedRun, Comparison, run_names
from burnish.renderer.tui.compare_screen import CompareScreen
from burnish.renderer.tui.keys import RIGHT
from tests.pty_terminal import ENTER_ALT, PtyProcess

LOSS_ONLY = DEMO_METRICS[:1]
LOSS_AND_ACCURACY = DEMO_METRICS[:2]


def log_run(
    directory: Path, epochs: int, metrics: tuple[tuple[str, str | None, int, bool], ...]
) -> Path:
    """A finished run's directory: ``epochs`` epochs of 20 train and 5 valid steps."""
    events: list[LearnerEvent] = list(
        synthetic_events(epochs, 20, 5, metrics=metrics, text_metric=False, seed=epochs)
    )
    directory.mkdir(parents=True, exist_ok=True)
    logger = JsonlMetricLogger(directory)
    logger.consume(events)
    logger.close()
    return directory


def screen_text(comparison: Comparison, controls: CompareControls, no_color: bool = True) -> str:
    console = Console(width=120, height=40, record=True, file=io.StringIO(), no_color=no_color)
    console.print(CompareScreen(comparison, controls))
    return console.export_text()


@pytest.fixture
def two_runs(tmp_path: Path) -> Comparison:
    comparison = Comparison.of_directories(
        [
            log_run(tmp_path / "short", 2, LOSS_ONLY),
            log_run(tmp_path / "long", 4, LOSS_AND_ACCURACY),
        ]
    )
    assert comparison.poll()
    return comparison


def test_runs_are_named_by_directory_and_told_apart_when_equal(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a" / "digits", tmp_path / "b" / "digits", tmp_path / "lr-big"
    assert run_names([a, b, c]) == ["a/digits", "b/digits", "lr-big"]
    assert run_names([c, c]) == ["lr-big (1)", "lr-big (2)"]


def test_metrics_and_splits_are_the_union_of_the_runs(two_runs: Comparison) -> None:
    assert two_runs.metric_names() == ["Loss", "Accuracy"]
    assert two_runs.splits() == [Split.TRAIN, Split.VALID]
    assert two_runs.ended


def test_a_metric_is_a_line_per_run(two_runs: Comparison) -> None:
    loss = two_runs.series("Loss", Split.VALID, View.SUMMARY, 100)
    assert [line.name for line in loss] == ["short", "long"]
    # Each run's epoch values, at its own epochs.
    assert [[x for x, _ in line.points] for line in loss] == [[1.0, 2.0], [1.0, 2.0, 3.0, 4.0]]
    assert [line.marker for line in loss] == ["1", "2"]
    assert loss[0].style != loss[1].style
    # A run without the metric still has its line in the legend, with no points.
    accuracy = two_runs.series("Accuracy", Split.TRAIN, View.FULL, 100)
    assert list(accuracy[0].points) == []
    assert len(accuracy[1].points) > 0
    assert max(x for x, _ in accuracy[1].points) == pytest.approx(4.0)


def test_s_switches_the_split_among_those_with_data(two_runs: Comparison) -> None:
    controls = CompareControls(lambda: None, two_runs.splits)
    assert controls.split is Split.TRAIN
    assert controls.handle("s", 2)
    assert controls.split is Split.VALID
    assert controls.handle("\t", 2)
    assert controls.split is Split.TRAIN
    text = screen_text(two_runs, controls)
    assert "Plots: full history, train" in text
    controls.handle("s", 2)
    controls.handle(RIGHT, 2)
    text = screen_text(two_runs, controls)
    assert "Plots: full history, valid" in text
    assert "Runs: Accuracy (valid)" in text
    # Only one split: nothing to switch to.
    single = CompareControls(lambda: None, lambda: [Split.TRAIN])
    assert not single.handle("s", 2)
    assert single.split is Split.TRAIN


def test_without_colour_runs_differ_by_glyph_and_marker(tmp_path: Path) -> None:
    runs = [log_run(tmp_path / name, 3, LOSS_ONLY) for name in ("a", "b", "c", "d", "e")]
    comparison = Comparison.of_directories(runs)
    comparison.poll()
    text = screen_text(comparison, CompareControls(lambda: None, comparison.splits))
    legend = next(line for line in text.splitlines() if "━━1 a" in line)
    for entry in ("╍╍2 b", "┅┅3 c", "┉┉4 d", "━━5 e"):
        assert entry in legend
    plot = text[text.index("epoch") : text.index("Runs")]
    for marker in "12345":
        assert marker in plot.replace("└0.0", "").replace("3.0", "")  # where each line ends
    for index, name in enumerate("abcde", start=1):
        assert f"│ {index} {name}  done (completed)" in text


def test_runs_still_training_are_followed(tmp_path: Path) -> None:
    finished = log_run(tmp_path / "finished", 2, LOSS_ONLY)
    whole = log_run(tmp_path / "whole", 2, LOSS_ONLY) / "metrics.jsonl"
    lines = whole.read_bytes().splitlines(keepends=True)
    growing = tmp_path / "growing"
    growing.mkdir()
    comparison = Comparison.of_directories([finished, growing])
    controls = CompareControls(lambda: None, comparison.splits)
    comparison.poll()
    assert "waiting for its log" in screen_text(comparison, controls)
    (growing / "metrics.jsonl").write_bytes(b"".join(lines[:3]))
    assert comparison.poll()
    assert not comparison.ended
    assert "epoch 1/2, train" in screen_text(comparison, controls)
    with (growing / "metrics.jsonl").open("ab") as file:
        file.write(b"".join(lines[3:]))
    assert comparison.poll()
    assert comparison.ended
    assert screen_text(comparison, controls).count("done (completed)") == 2


def test_compare_draws_the_runs_until_they_end(two_runs: Comparison, tmp_path: Path) -> None:
    console = Console(width=100, height=30, record=True, file=io.StringIO(), force_terminal=True)
    directories = [tmp_path / "short", tmp_path / "long"]
    assert compare(directories, console=console, input_fd=None, keep_open=False) == 0
    text = console.export_text()
    assert "━━1 short   ━━2 long" in text  # colours tell them apart: lines are solid
    assert "Runs: Loss (train)" in text


def test_a_window_too_small_lists_the_runs(two_runs: Comparison) -> None:
    console = Console(width=40, height=10, record=True, file=io.StringIO())
    console.print(CompareScreen(two_runs, CompareControls(lambda: None, two_runs.splits)))
    text = console.export_text()
    assert "Window too small (40x10)" in text
    assert "long: done (completed)" in text


def test_view_of_several_runs_without_a_terminal_prints_each_summary(
    two_runs: Comparison, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["view", str(tmp_path / "short"), str(tmp_path / "long")]) == 0
    out = capsys.readouterr().out
    assert out.count("Learner Summary") == 2
    assert out.index("short:") < out.index("long:")


def test_a_run_is_polled_until_its_end(tmp_path: Path) -> None:
    run = Comparison.of_directories([log_run(tmp_path / "a", 1, LOSS_ONLY)]).runs[0]
    assert isinstance(run, ComparedRun)
    assert run.poll()
    assert not run.poll()  # nothing new
    assert run.state.end_reason == "completed"


# -- in a real terminal ----------------------------------------------------------------------

_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def shown(term: PtyProcess) -> str:
    """What the terminal got, without its escape codes."""
    return _ESCAPE.sub("", term.raw().decode("utf-8", errors="replace"))


@pytest.fixture
def terminals() -> Iterator[list[PtyProcess]]:
    started: list[PtyProcess] = []
    yield started
    for term in started:
        term.close()


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pty")
def test_burnish_view_compares_runs_in_a_terminal(
    terminals: list[PtyProcess], tmp_path: Path
) -> None:
    log_run(tmp_path / "a" / "digits", 2, LOSS_AND_ACCURACY)
    log_run(tmp_path / "b" / "digits", 3, LOSS_AND_ACCURACY)
    whole = log_run(tmp_path / "whole", 2, LOSS_AND_ACCURACY) / "metrics.jsonl"
    lines = whole.read_bytes().splitlines(keepends=True)
    live = tmp_path / "live"
    live.mkdir()
    (live / "metrics.jsonl").write_bytes(b"".join(lines[:3]))
    argv = ["/usr/bin/env", "NO_COLOR=1", sys.executable, "-m", "burnish.cli", "view"]
    term = PtyProcess(
        [*argv, "a/digits", "b/digits", "live"], columns=120, rows=40, cwd=tmp_path, timeout=30
    )
    terminals.append(term)
    term.wait_for(ENTER_ALT)
    term.wait_for("╍╍2 b/digits".encode())
    term.wait_for("┅┅3 live".encode())
    term.wait_for(b"Runs: Loss (train)")
    term.wait_for(b"epoch 1/2, train")  # the live run, as far as it is
    term.send(b"\x1b[C")  # the next metric
    term.wait_for(b"Runs: Accuracy (train)")
    term.send(b"s")  # the next split
    term.wait_for(b"Plots: full history, valid")
    term.send(b"\x1b[B")  # the next view
    term.wait_for(b"Plots: recent, valid")
    with (live / "metrics.jsonl").open("ab") as file:
        file.write(b"".join(lines[3:]))
    term.wait_until("the live run's end", lambda: "3 live      done (completed)" in shown(term))
    term.send(b"q")
    assert term.wait_exit_code() == 0
    term.assert_restored(b"Runs:")
