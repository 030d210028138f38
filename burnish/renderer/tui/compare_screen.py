"""What ``burnish view A B ...`` shows: the runs' lines of a metric in one plot, and a panel
of the runs: where each is, and the metric's latest value in the split shown."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment

from burnish.renderer.frame import Line, box, fit, render_sized
from burnish.renderer.tui.compare import (
    CompareControls,
    ComparedRun,
    ComparePlots,
    Comparison,
    run_marker,
    run_style,
)
from burnish.renderer.tui.dashboard import MIN_HEIGHT, MIN_WIDTH
from burnish.renderer.tui.plots import PlotsPanel
from burnish.renderer.tui.theme import BORDER, LABEL, style

__all__ = ["COMPARE_HELP", "CompareScreen", "RunsPanel"]

COMPARE_HELP = "←/→ metric  ↑/↓ view  s split  l log  q quit"
_MAX_RUN_ROWS = 8
"""The runs panel's most lines: past them, the plot keeps its room and the rest is counted."""


def run_status(run: ComparedRun) -> str:
    """Where a run is: waiting for its log, its epoch and split, or how it ended."""
    state = run.state
    if run.waiting:
        return "waiting for its log"
    if state.end_reason is not None:
        return f"done ({state.end_reason.replace('_', ' ')})"
    progress = state.progress
    if not progress.epoch:
        return "starting"
    split = "" if progress.split is None else f", {progress.split.value}"
    return f"epoch {progress.epoch}/{progress.epoch_total}{split}"


class RunsPanel:
    """A line per run: its marker and name in its line's colour, where it is, and the shown
    metric's latest text in the shown split (its epoch value once there is one)."""

    def __init__(self, comparison: Comparison, controls: CompareControls) -> None:
        self.comparison = comparison
        self.controls = controls

    def height(self) -> int:
        runs = len(self.comparison.runs)
        return 2 + min(runs, _MAX_RUN_ROWS)

    def value(self, run: ComparedRun, name: str | None) -> str:
        split = self.controls.split
        metric = None if name is None else run.state.metrics.get(name)
        history = None if metric is None or split is None else metric.splits.get(split)
        if history is None:
            return "-"
        return history.epoch_formatted or history.formatted or "-"

    def lines(self, console: Console, width: int, height: int) -> list[Line]:
        runs = self.comparison.runs
        names = self.comparison.metric_names()
        shown = names[self.controls.selected(len(names))] if names else None
        name_width = min(24, max(len(run.name) for run in runs))
        status = [run_status(run) for run in runs]
        status_width = max(len(text) for text in status)
        label = style(LABEL)
        body: list[Line] = []
        for index, run in enumerate(runs):
            body.append(
                [
                    Segment(f"{run_marker(index)} ", style(f"bold {run_style(index)}")),
                    Segment(run.name[:name_width].ljust(name_width + 2), style(run_style(index))),
                    Segment(status[index].ljust(status_width + 2), label),
                    Segment(self.value(run, shown)),
                ]
            )
        room = height - 2
        if len(body) > room > 0:
            hidden = len(body) - room + 1
            body = [*body[: room - 1], [Segment(f"... {hidden} more runs", label)]]
        split = self.controls.split
        title = "Runs" if shown is None else f"Runs: {shown}"
        if shown is not None and split is not None:
            title += f" ({split.value})"
        return box(body, width, height, title, style(BORDER))


class CompareScreen:
    """The plot over the runs panel, laid out anew for each frame's size; below the smallest
    usable size, a hint and a line per run."""

    def __init__(self, comparison: Comparison, controls: CompareControls) -> None:
        self.comparison = comparison
        self.controls = controls
        self.plots = PlotsPanel(ComparePlots(comparison, controls), controls, COMPARE_HELP)
        self.runs = RunsPanel(comparison, controls)

    def lines(self, console: Console, width: int, height: int) -> list[Line]:
        blank: Line = [Segment(" " * width)]
        if width < MIN_WIDTH or height < MIN_HEIGHT:
            lines = [
                fit([Segment(f"Window too small ({width}x{height}):", style("bold"))], width),
                fit([Segment(f"the comparison needs {MIN_WIDTH}x{MIN_HEIGHT}.")], width),
                *(
                    fit([Segment(f"{run.name}: {run_status(run)}")], width)
                    for run in self.comparison.runs
                ),
            ]
        else:
            runs_height = self.runs.height()
            lines = [
                *self.plots.lines(console, width, height - runs_height),
                *self.runs.lines(console, width, runs_height),
            ]
        return [*lines[:height], *([blank] * (height - len(lines)))]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        return render_sized(self, console, options, console.height)
