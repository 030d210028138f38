"""The Metrics panel: every metric's latest text per split, text metrics included."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.panel import Panel
from rich.text import Text

from burnish.renderer.tui.state import DashboardState
from burnish.renderer.tui.system import is_system_metric
from burnish.renderer.tui.theme import BORDER, split_style

__all__ = ["MetricsPanel"]

_NAME_WIDTH = 16


class MetricsPanel:
    """A line per metric and split. When a line would not fit, the name goes on a line of
    its own above its splits; lines past the panel's height are counted in a last line."""

    def __init__(self, state: DashboardState) -> None:
        self.state = state

    def lines(self, width: int) -> list[Text]:
        metrics = [m for m in self.state.metrics.values() if not is_system_metric(m.name)]
        if not metrics:
            return [Text("waiting for the first step", "dim")]
        rows = [
            (metric.name, split, " ".join((h.formatted or h.epoch_formatted or "n/a").split()))
            for metric in metrics
            for split, h in metric.splits.items()
        ]
        name_width = min(_NAME_WIDTH, max(len(name) for name, _, _ in rows))
        split_width = max(len(split.value) for _, split, _ in rows)
        longest = max(len(text) for _, _, text in rows)
        stacked = name_width + split_width + longest + 2 > width
        lines: list[Text] = []
        previous = None
        for name, split, text in rows:
            line = Text(no_wrap=True, overflow="ellipsis")
            if stacked:
                if name != previous:
                    lines.append(Text(name, "bold", no_wrap=True, overflow="ellipsis"))
                line.append(" ")
            else:
                shown = name[:name_width] if name != previous else ""
                line.append(shown.ljust(name_width + 1), "bold")
            line.append(split.value.ljust(split_width + 1), split_style(split))
            line.append(text)
            lines.append(line)
            previous = name
        return lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = self.lines(options.max_width - 4)
        if options.height is not None and len(lines) > options.height - 2:
            room = max(0, options.height - 3)
            hidden = len(lines) - room
            lines = [*lines[:room], Text(f"... {hidden} more lines", "dim")]
        body = Text("\n", no_wrap=True, overflow="ellipsis").join(lines)
        yield Panel(body, title="Metrics", title_align="left", border_style=BORDER)
