"""The whole dashboard: the panels laid out for the terminal's size."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment

from burnish.renderer.frame import Line, Sized, join_columns, split
from burnish.renderer.tui.keys import Controls
from burnish.renderer.tui.metrics import MetricsPanel
from burnish.renderer.tui.plots import PlotsPanel
from burnish.renderer.tui.progress import ProgressPanel
from burnish.renderer.tui.state import DashboardState
from burnish.renderer.tui.status import StatusPanel
from burnish.renderer.tui.system import SystemPanel

__all__ = ["Dashboard"]

MIDDLE_HEIGHT = 7
PROGRESS_HEIGHT = 4
WIDE = 100
"""From this width, the plots get 3/5 of the top row; below, half."""
NARROW = 70
"""Below this width, the metrics go under the plots."""
TALL = 20
"""Below this height, the status and system row is left out."""


class Dashboard:
    """Plots and metrics on top, status and system below them, progress at the bottom.

    Laid out anew for each frame from the size it is given, so a resized terminal gets a
    fitting frame at the next tick. Short terminals lose the status/system row; narrow ones
    stack the metrics under the plots.
    """

    def __init__(self, state: DashboardState, controls: Controls) -> None:
        self.state = state
        self.controls = controls
        self.plots = PlotsPanel(state, controls)
        self.metrics = MetricsPanel(state)
        self.status = StatusPanel(state, controls)
        self.system = SystemPanel(state)
        self.progress = ProgressPanel(state)

    def lines(self, console: Console, width: int, height: int) -> list[Line]:
        rows: list[tuple[list[Sized], list[int], int]] = []
        middle = MIDDLE_HEIGHT if height >= TALL else 0
        top = max(0, height - middle - PROGRESS_HEIGHT)
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
        rows.append(([self.progress], [width], min(PROGRESS_HEIGHT, height)))
        lines: list[Line] = []
        for panels, widths, row_height in rows:
            columns = [
                panel.lines(console, panel_width, row_height)
                for panel, panel_width in zip(panels, widths, strict=True)
            ]
            lines.extend(join_columns(columns))
        blank: Line = [Segment(" " * width)]
        return [*lines[:height], *([blank] * (height - len(lines)))]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        newline = Segment.line()
        for line in self.lines(console, options.max_width, options.height or console.height):
            yield from line
            yield newline
