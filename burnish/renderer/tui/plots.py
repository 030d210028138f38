"""The Plots panel: a tab per numeric metric, its lines in the chosen view: a run's train and
valid lines, or one line per run when runs are compared."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Protocol

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment

from burnish.processor.events import Split
from burnish.renderer.chart import LineChart, Point, Series, decimate
from burnish.renderer.frame import Line, box, fit, render_sized
from burnish.renderer.tui.history import MetricHistory
from burnish.renderer.tui.keys import Controls, View
from burnish.renderer.tui.state import DashboardState, MetricState
from burnish.renderer.tui.theme import BORDER, split_style, style

__all__ = [
    "PlotSource",
    "PlotsPanel",
    "RunPlots",
    "metric_series",
    "quit_prompt",
    "split_points",
    "tabs",
]

_STEP_VALUE = operator.itemgetter(2)

HELP = "←/→ metric  ↑/↓ view  l log  q quit"
EXIT_HELP = "←/→ metric  ↑/↓ view  l log  other keys exit"


def split_points(
    state: DashboardState,
    split: Split,
    history: MetricHistory,
    view: View,
    max_points: int | None = None,
) -> list[Point]:
    """One metric's line in one split of a run, x in epochs, decimated to ``max_points``
    (keeping its extremes) when given."""
    if view is View.SUMMARY:
        return [(float(epoch), value) for epoch, value in sorted(history.epochs.items())]
    source = list(history.full if view is View.FULL else history.recent)
    if max_points is not None:
        source = decimate(source, max_points, _STEP_VALUE)
    scales = state.epoch_scales(split)
    return [(epoch - 1 + items * scales[epoch], y) for epoch, items, y in source]


def metric_series(
    state: DashboardState, metric: MetricState, view: View, max_points: int | None = None
) -> list[Series]:
    """The lines to draw for one metric of a run: a split per line (see :func:`split_points`)."""
    return [
        Series(
            split.value, split_points(state, split, history, view, max_points), split_style(split)
        )
        for split, history in metric.splits.items()
    ]


class PlotSource(Protocol):
    """What the Plots panel draws: metrics by name, each as lines."""

    def metric_names(self) -> list[str]: ...

    def series(self, name: str, view: View, max_points: int) -> list[Series]:
        """The lines of metric ``name`` in ``view``, each of at most about ``max_points``."""
        ...

    def caption(self) -> str:
        """What the panel's title adds to the view's name (empty: nothing)."""
        ...


class RunPlots:
    """One run's metrics, a line per split."""

    def __init__(self, state: DashboardState) -> None:
        self.state = state

    def metric_names(self) -> list[str]:
        return [metric.name for metric in self.state.numeric_metrics]

    def series(self, name: str, view: View, max_points: int) -> list[Series]:
        return metric_series(self.state, self.state.metrics[name], view, max_points)

    def caption(self) -> str:
        return ""


def tabs(names: list[str], selected: int, width: int) -> Line:
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
    dim, chosen = style("dim"), style("reverse bold")
    line: Line = [Segment("< ", dim)] if first > 0 else []
    for index in range(first, last + 1):
        line.append(Segment(f" {names[index]} ", chosen if index == selected else dim))
        line.append(Segment(" "))
    if last < len(names) - 1:
        line.append(Segment(">", dim))
    return line


def quit_prompt(width: int, height: int) -> list[Line]:
    """Burn's stop popup, centred in ``width x height``: ``s`` stops gracefully, ``c`` cancels."""
    bold, title, italic = style("bold"), style("bold yellow"), style("italic")
    body: list[Line] = [
        [Segment("[s] ", bold), Segment("Stop", title)],
        [Segment("    finish the batch, checkpoint, end", italic)],
        [Segment("[c] ", bold), Segment("Cancel", title)],
        [Segment("    keep training", italic)],
    ]
    box_width = min(width, 42)
    box_height = min(height, len(body) + 2)
    prompt = box(body, box_width, box_height, "Stop training?", style("yellow"))
    left = (width - box_width) // 2
    above = (height - box_height) // 2
    blank: Line = [Segment(" " * width)]
    lines = [blank] * above
    lines.extend(fit([Segment(" " * left), *line], width) for line in prompt)
    lines.extend([blank] * (height - len(lines)))
    return lines


def _epoch_positions(values: Sequence[float]) -> list[str]:
    # One decimal reads as "epoch 2.5", where more digits read as noise.
    return [f"{value:.1f}" for value in values]


class PlotsPanel:
    """``keys``: the help line of the keys that browse the plots."""

    def __init__(self, source: PlotSource, controls: Controls, keys: str = HELP) -> None:
        self.source = source
        self.controls = controls
        self.keys = keys

    def body(self, console: Console, width: int, height: int) -> list[Line]:
        names = self.source.metric_names()
        view = self.controls.view
        if self.controls.prompt_open:
            return quit_prompt(width, height)
        if not names:
            return [[Segment("waiting for the first numeric metric", style("dim"))]]
        selected = self.controls.selected(len(names))
        chart = LineChart(
            # Decimated once, to what the chart keeps: it then draws the points as they are.
            self.source.series(names[selected], view, LineChart.point_budget(width)),
            x_title="epoch",
            x_labels=_epoch_positions,
            log_y=self.controls.log_scale,
            empty_text="no epoch values yet" if view is View.SUMMARY else "no data yet",
        )
        return [tabs(names, selected, width), *chart.lines(console, width, max(0, height - 1))]

    def lines(self, console: Console, width: int, height: int) -> list[Line]:
        help_text = EXIT_HELP if self.controls.waiting_for_exit else self.keys
        body = self.body(console, width - 4, height - 2)
        title = f"Plots: {self.controls.view.value}"
        caption = self.source.caption()
        if caption:
            title += f", {caption}"
        if self.controls.log_scale:
            title += ", log scale"
        return box(body, width, height, title, style(BORDER), subtitle=help_text)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        return render_sized(self, console, options, 16)
