"""The whole dashboard: the panels laid out for the terminal's size."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.layout import Layout

from burnish.renderer.tui.keys import Controls
from burnish.renderer.tui.metrics import MetricsPanel
from burnish.renderer.tui.plots import PlotsPanel
from burnish.renderer.tui.progress import ProgressPanel
from burnish.renderer.tui.state import DashboardState
from burnish.renderer.tui.status import StatusPanel
from burnish.renderer.tui.system import SystemPanel

__all__ = ["Dashboard"]

_MIDDLE_HEIGHT = 7
_PROGRESS_HEIGHT = 4
_WIDE = 70
_TALL = 20


class Dashboard:
    """Plots and metrics on top, status and system below them, progress at the bottom.

    Laid out anew for each frame from the size it is given, so a resized terminal gets a
    fitting frame at the next tick. Short terminals lose the status/system row; narrow ones
    stack the metrics under the plots.
    """

    def __init__(self, state: DashboardState, controls: Controls) -> None:
        self.state = state
        self.controls = controls

    def layout(self, width: int, height: int) -> Layout:
        state, controls = self.state, self.controls
        top = Layout(name="top", ratio=1, minimum_size=5)
        plots = Layout(PlotsPanel(state, controls), name="plots", ratio=3 if width >= 100 else 1)
        metrics = Layout(MetricsPanel(state), name="metrics", ratio=2 if width >= 100 else 1)
        if width >= _WIDE:
            top.split_row(plots, metrics)
        else:
            top.split_column(plots, metrics)
        rows = [top]
        if height >= _TALL:
            middle = Layout(name="middle", size=_MIDDLE_HEIGHT)
            middle.split_row(
                Layout(StatusPanel(state, controls), name="status"),
                Layout(SystemPanel(state), name="system"),
            )
            rows.append(middle)
        rows.append(Layout(ProgressPanel(state), name="progress", size=_PROGRESS_HEIGHT))
        root = Layout(name="root")
        root.split_column(*rows)
        return root

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        height = options.height or console.height
        yield self.layout(options.max_width, height)
