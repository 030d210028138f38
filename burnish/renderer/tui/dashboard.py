"""The whole dashboard: the panels laid out for the terminal's size."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment

from burnish.renderer.frame import Line, Sized, fit, join_columns, render_sized, split
from burnish.renderer.tui.keys import Controls
from burnish.renderer.tui.metrics import MetricsPanel
from burnish.renderer.tui.plots import PlotsPanel, RunPlots
from burnish.renderer.tui.progress import ProgressPanel
from burnish.renderer.tui.state import DashboardState
from burnish.renderer.tui.status import StatusPanel
from burnish.renderer.tui.system import SystemPanel
from burnish.renderer.tui.theme import style

__all__ = ["Dashboard"]

MIDDLE_HEIGHT = 7
WIDE = 100
"""From this width, the plots get 3/5 of the top row; below, half."""
NARROW = 70
"""Below this width, the metrics go under the plots."""
TALL = 20
"""Below this height, the status and system row is left out."""
MIN_WIDTH = 50
MIN_HEIGHT = 12
"""Below this size, a plot has no room for a line: a hint and a line of progress instead."""


class Dashboard:
    """Plots and metrics on top, status and system below them, progress at the bottom.

    Laid out anew for each frame from the size it is given, so a resized terminal gets a
    fitting frame at the next tick. Short terminals lose the status/system row; narrow ones
    stack the metrics under the plots.
    """

    def __init__(self, state: DashboardState, controls: Controls) -> None:
        self.state = state
        self.controls = controls
        self.plots = PlotsPanel(RunPlots(state), controls)
        self.metrics = MetricsPanel(state)
        self.status = StatusPanel(state, controls)
        self.system = SystemPanel(state)
        self.progress = ProgressPanel(state)

    def lines(self, console: Console, width: int, height: int) -> list[Line]:
        if width < MIN_WIDTH or height < MIN_HEIGHT:
            return self.too_small(width, height)
        rows: list[tuple[list[Sized], list[int], int]] = []
        middle = MIDDLE_HEIGHT if height >= TALL else 0
        progress_height = self.progress.height()
        top = max(0, height - middle - progress_height)
        if width >= NARROW:
            rows.append(
                ([self.plots, self.metrics], split(width, [3, 2] if width >= WIDE else [1, 1]), top)
            )
        else:
            plots_height, metrics_height = split(top, [3, 2])
            rows.append(([self.plots], [width], plots_height))
            rows.append(([self.metrics], [width], metrics_height))
        if middle:
            rows.append(([self.status, self.system], split(width, [1, 1]), middle))
        rows.append(([self.progress], [width], min(progress_height, height)))
        lines: list[Line] = []
        for panels, widths, row_height in rows:
            columns = [
                panel.lines(console, panel_width, row_height)
                for panel, panel_width in zip(panels, widths, strict=True)
            ]
            lines.extend(join_columns(columns))
        blank: Line = [Segment(" " * width)]
        return [*lines[:height], *([blank] * (height - len(lines)))]

    def too_small(self, width: int, height: int) -> list[Line]:
        """What a window too small for the panels shows: how big it must be, and where
        training is."""
        texts = [
            f"Window too small ({width}x{height}):",
            f"the dashboard needs {MIN_WIDTH}x{MIN_HEIGHT}.",
            "",
            *self.progress.summary(),
        ]
        if self.controls.prompt_open:
            texts[:3] = ["Stop training?", "[s] stop  [c] cancel", ""]
        lines = [
            fit([Segment(text, style("bold" if i == 0 else ""))], width)
            for i, text in enumerate(texts)
        ]
        blank: Line = [Segment(" " * width)]
        return [*lines[:height], *([blank] * (height - len(lines)))]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        return render_sized(self, console, options, console.height)
