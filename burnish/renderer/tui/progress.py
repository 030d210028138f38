"""The Progress panel: the current split's bar and the whole training's bar with its ETA."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment

from burnish.renderer.frame import Line, box, render_sized
from burnish.renderer.tui.eta import format_duration
from burnish.renderer.tui.state import DashboardState
from burnish.renderer.tui.theme import BORDER, LABEL, split_style, style

__all__ = ["ProgressPanel", "bar"]

_LABEL_WIDTH = 6
_EMPTY = "grey30"


def bar(fraction: float | None, width: int, fill: str) -> Line:
    """A bar of ``width`` cells, ``fraction`` of it filled; all empty when unknown."""
    if width <= 0:
        return []
    filled = 0 if fraction is None else round(max(0.0, min(1.0, fraction)) * width)
    return [
        Segment("━" * filled, style(fill)),
        Segment("━" * (width - filled), style(_EMPTY)),
    ]


class ProgressPanel:
    def __init__(self, state: DashboardState) -> None:
        self.state = state

    def bars(self) -> list[tuple[str, str, float | None, str]]:
        """Each bar: its label, its style, how full it is and the text after it."""
        state = self.state
        progress = state.progress
        split = progress.split
        if progress.items_total:
            split_fraction: float | None = min(1.0, progress.items / progress.items_total)
            split_text = f"{progress.items}/{progress.items_total}"
        else:
            split_fraction = None
            split_text = f"{progress.items}/?"
        total_fraction = 1.0 if state.end_reason == "completed" else state.eta.fraction
        eta = state.eta.remaining_seconds()
        if state.end_reason is not None:
            eta_text = "done"
        else:
            eta_text = "ETA --" if eta is None else f"ETA {format_duration(eta)}"
        total_text = "" if total_fraction is None else f"{total_fraction:4.0%}  "
        split_label = split.value if split is not None else "split"
        split_bar_style = split_style(split) if split is not None else "white"
        return [
            (split_label, split_bar_style, split_fraction, split_text),
            ("total", "yellow", total_fraction, total_text + eta_text),
        ]

    def lines(self, console: Console, width: int, height: int) -> list[Line]:
        bars = self.bars()
        tail_width = max(len(tail) for *_, tail in bars)
        bar_width = max(4, width - 4 - _LABEL_WIDTH - tail_width - 2)
        label_style = style(LABEL)
        body = [
            [
                Segment(label.ljust(_LABEL_WIDTH), style(fill) or label_style),
                *bar(fraction, bar_width, fill),
                Segment("  " + tail.rjust(tail_width)),
            ]
            for label, fill, fraction, tail in bars
        ]
        return box(body, width, height, "Progress", style(BORDER))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        return render_sized(self, console, options, 4)
