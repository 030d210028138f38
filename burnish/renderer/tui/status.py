"""The Status panel: what the learner is doing, where, and for how long."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment

from burnish.processor.events import Split
from burnish.renderer.frame import Line, box, render_sized
from burnish.renderer.tui.eta import format_duration
from burnish.renderer.tui.keys import Controls
from burnish.renderer.tui.state import DashboardState
from burnish.renderer.tui.theme import BORDER, LABEL, split_style, style

__all__ = ["StatusPanel"]

_MODES = {Split.TRAIN: "Training", Split.VALID: "Validating", Split.TEST: "Testing"}


class StatusPanel:
    def __init__(self, state: DashboardState, controls: Controls) -> None:
        self.state = state
        self.controls = controls

    def mode(self) -> tuple[str, str]:
        """What the learner is doing, and the style to say it in."""
        state = self.state
        if state.end_reason is not None:
            done = f"Done ({state.end_reason.replace('_', ' ')})"
            if self.controls.waiting_for_exit:
                return f"{done}: press a key", "bold"
            return done, "bold"
        if self.controls.stop_requested:
            return "Stopping...", "bold yellow"
        split = state.progress.split
        if split is None:
            return "Starting", "bold"
        return _MODES.get(split, split.value), f"bold {split_style(split)}"

    def rows(self) -> list[tuple[str, str]]:
        progress = self.state.progress
        epoch = f"{progress.epoch}/{progress.epoch_total}" if progress.epoch else "-"
        total = "?" if progress.items_total is None else str(progress.items_total)
        elapsed = self.state.elapsed()
        return [
            ("Epoch", epoch),
            ("Items", f"{progress.items}/{total}"),
            ("Iteration", str(self.state.iteration)),
            ("Elapsed", "-" if elapsed is None else format_duration(elapsed)),
        ]

    def lines(self, console: Console, width: int, height: int) -> list[Line]:
        mode, mode_style = self.mode()
        label_style = style(LABEL)
        body = [[Segment(mode, style(mode_style))]]
        body.extend(
            [Segment(f"{label:<10}", label_style), Segment(value)] for label, value in self.rows()
        )
        return box(body, width, height, "Status", style(BORDER))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        return render_sized(self, console, options, 7)
