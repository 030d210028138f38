"""The System panel: CPU, memory, temperatures and GPU use, from the system metrics.

System metrics arrive like any other metric; they are recognised by name here, and only here,
so the Metrics panel leaves them out. Adjust :data:`SYSTEM_ROWS` when their names change.
"""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment

from burnish.renderer.frame import Line, box, render_sized
from burnish.renderer.tui.state import DashboardState, MetricState
from burnish.renderer.tui.theme import BORDER, LABEL, style

__all__ = ["SYSTEM_PREFIXES", "SYSTEM_ROWS", "SystemPanel", "is_system_metric"]

SYSTEM_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("CPU", ("CPU Usage",)),
    ("Memory", ("CPU Memory",)),
    ("CPU temp", ("CPU Temperature",)),
    ("GPU temp", ("GPU Temperature",)),
    ("GPU use", ("GPU Utilization", "GPU Usage")),
)
"""Each row of the panel: its label and the metric names (or name prefixes, for metrics named
per device such as ``GPU Temperature 0``) whose value it shows; ``n/a`` when none is reported."""

SYSTEM_PREFIXES = ("CPU ", "GPU ")
"""Other metrics whose names start with these are system metrics too, listed after the rows."""


def is_system_metric(name: str) -> bool:
    """Whether a metric belongs in the System panel rather than the Metrics panel."""
    return name.startswith(SYSTEM_PREFIXES) or any(
        name.startswith(names) for _, names in SYSTEM_ROWS
    )


def latest_text(metric: MetricState) -> str | None:
    """The most recent text any split reported for a metric."""
    for history in reversed(metric.splits.values()):
        if history.formatted is not None:
            return history.formatted
    return None


class SystemPanel:
    def __init__(self, state: DashboardState) -> None:
        self.state = state

    def rows(self) -> list[tuple[str, str]]:
        metrics = [m for m in self.state.metrics.values() if is_system_metric(m.name)]
        shown: set[str] = set()
        rows: list[tuple[str, str]] = []
        for label, names in SYSTEM_ROWS:
            matches = [m for m in metrics if m.name.startswith(names)]
            shown.update(m.name for m in matches)
            texts = [text for m in matches if (text := latest_text(m)) is not None]
            rows.append((label, " | ".join(texts) if texts else "n/a"))
        rows.extend(
            (metric.name, latest_text(metric) or "n/a")
            for metric in metrics
            if metric.name not in shown
        )
        return rows

    def lines(self, console: Console, width: int, height: int) -> list[Line]:
        rows = self.rows()
        label_width = max(len(label) for label, _ in rows) + 1
        label_style = style(LABEL)
        body = [
            [Segment(label.ljust(label_width), label_style), Segment(" ".join(value.split()))]
            for label, value in rows
        ]
        return box(body, width, height, "System", style(BORDER))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        return render_sized(self, console, options, len(SYSTEM_ROWS) + 2)
