"""The Metrics panel: every metric's latest text per split, text metrics included."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment

from burnish.renderer.frame import Line, box, render_sized
from burnish.renderer.tui.state import DashboardState
from burnish.renderer.tui.system import is_system_metric
from burnish.renderer.tui.theme import BORDER, split_style, style

__all__ = ["MetricsPanel"]

_NAME_WIDTH = 16


class MetricsPanel:
    """A line per metric and split. When lines would not fit the width, each name goes on a
    line of its own above its splits; lines past the height are counted in a last line."""

    def __init__(self, state: DashboardState) -> None:
        self.state = state

    def body(self, width: int) -> list[Line]:
        metrics = [m for m in self.state.metrics.values() if not is_system_metric(m.name)]
        if not metrics:
            return [[Segment("waiting for the first step", style("dim"))]]
        # A text metric may be a table (CUDA Stats): its lines stay lines, under its value.
        rows = [
            (metric.name, split, (h.formatted or h.epoch_formatted or "n/a").splitlines() or [""])
            for metric in metrics
            for split, h in metric.splits.items()
        ]
        name_width = min(_NAME_WIDTH, max(len(name) for name, _, _ in rows))
        split_width = max(len(split.value) for _, split, _ in rows)
        longest = max(len(text[0]) for _, _, text in rows)
        stacked = name_width + split_width + longest + 2 > width
        bold = style("bold")
        indent = 1 if stacked else name_width + 1
        lines: list[Line] = []
        previous = None
        for name, split, text in rows:
            line: Line = []
            if stacked:
                if name != previous:
                    lines.append([Segment(name, bold)])
                line.append(Segment(" "))
            else:
                shown = name[:name_width] if name != previous else ""
                line.append(Segment(shown.ljust(name_width + 1), bold))
            line.append(Segment(split.value.ljust(split_width + 1), style(split_style(split))))
            line.append(Segment(text[0]))
            lines.append(line)
            lines.extend([Segment(" " * (indent + split_width + 1) + more)] for more in text[1:])
            previous = name
        return lines

    def lines(self, console: Console, width: int, height: int) -> list[Line]:
        body = self.body(width - 4)
        room = height - 2
        if len(body) > room > 0:
            hidden = len(body) - room + 1
            body = [*body[: room - 1], [Segment(f"... {hidden} more lines", style("dim"))]]
        return box(body, width, height, "Metrics", style(BORDER))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        return render_sized(self, console, options, len(self.body(options.max_width - 4)) + 2)
