"""The Plots panel: a tab per numeric metric, its train and valid lines in the chosen view."""

from __future__ import annotations

from rich.align import Align
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.text import Text

from burnish.renderer.chart import LineChart, Point, Series
from burnish.renderer.tui.keys import Controls, View
from burnish.renderer.tui.state import DashboardState, MetricState
from burnish.renderer.tui.theme import BORDER, split_style

__all__ = ["PlotsPanel", "QuitPrompt", "metric_series"]

_HELP = "←/→ metric  ↑/↓ view  q quit"
_EXIT_HELP = "←/→ metric  ↑/↓ view  other keys exit"


def metric_series(state: DashboardState, metric: MetricState, view: View) -> list[Series]:
    """The lines to draw for one metric, x in epochs: a split per line."""
    series: list[Series] = []
    for split, history in metric.splits.items():
        points: list[Point]
        if view is View.SUMMARY:
            points = [(float(epoch), value) for epoch, value in sorted(history.epochs.items())]
        else:
            source = history.full if view is View.FULL else history.recent
            position = state.epoch_position
            points = [(position(split, epoch, items), y) for epoch, items, y in source]
        series.append(Series(split.value, points, split_style(split)))
    return series


def tabs(names: list[str], selected: int, width: int) -> Text:
    """The metric names with the selected one highlighted; when they do not all fit, the
    selected one and as many neighbours as fit, with ``<`` or ``>`` where more are hidden."""
    sizes = [len(name) + 3 for name in names]
    first = last = selected
    if sum(sizes) <= width:
        first, last = 0, len(names) - 1
    else:
        used = sizes[selected] + 4  # room for both markers
        grew = True
        while grew:
            grew = False
            if last + 1 < len(names) and used + sizes[last + 1] <= width:
                last += 1
                used += sizes[last]
                grew = True
            if first > 0 and used + sizes[first - 1] <= width:
                first -= 1
                used += sizes[first]
                grew = True
    text = Text(no_wrap=True, overflow="ellipsis")
    if first > 0:
        text.append("< ", "dim")
    for index in range(first, last + 1):
        text.append(f" {names[index]} ", "reverse bold" if index == selected else "dim")
        text.append(" ")
    if last < len(names) - 1:
        text.append(">", "dim")
    return text


class QuitPrompt:
    """Burn's stop popup: ``s`` stops gracefully, ``c`` cancels."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        body = Text()
        body.append("[s] ", "bold")
        body.append("Stop", "bold yellow")
        body.append("\n    finish the batch, checkpoint, end\n", "italic")
        body.append("[c] ", "bold")
        body.append("Cancel", "bold yellow")
        body.append("\n    keep training", "italic")
        panel = Panel(body, title="Stop training?", border_style="yellow", expand=False)
        yield Align.center(panel, vertical="middle", height=options.height)


class PlotsPanel:
    def __init__(self, state: DashboardState, controls: Controls) -> None:
        self.state = state
        self.controls = controls

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        metrics = self.state.numeric_metrics
        view = self.controls.view
        height = options.height
        inner_height = None if height is None else max(1, height - 2)
        body: RenderableType
        if self.controls.prompt_open:
            body = QuitPrompt()
        elif not metrics:
            body = Text("waiting for the first numeric metric", "dim")
        else:
            selected = self.controls.selected(len(metrics))
            chart = LineChart(
                metric_series(self.state, metrics[selected], view),
                height=max(3, (inner_height or 12) - 1),
                x_title="epoch",
                empty_text="no epoch values yet" if view is View.SUMMARY else "no data yet",
            )
            names = [metric.name for metric in metrics]
            body = Group(tabs(names, selected, options.max_width - 4), chart)
        yield Panel(
            body,
            title=f"Plots: {view.value}",
            title_align="left",
            subtitle=_EXIT_HELP if self.controls.waiting_for_exit else _HELP,
            subtitle_align="right",
            border_style=BORDER,
            height=height,
        )
