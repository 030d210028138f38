"""The Progress panel: the current split's bar and the whole training's bar with its ETA."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.panel import Panel
from rich.text import Text

from burnish.renderer.tui.eta import format_duration
from burnish.renderer.tui.state import DashboardState
from burnish.renderer.tui.theme import BORDER, LABEL, split_style

__all__ = ["ProgressPanel"]

_LABEL_WIDTH = 6


def bar(fraction: float | None, width: int, style: str) -> Text:
    """A bar of ``width`` cells, ``fraction`` of it filled; dim and empty when unknown."""
    text = Text(no_wrap=True)
    if width <= 0:
        return text
    if fraction is None:
        text.append("━" * width, "grey30")
        return text
    filled = round(max(0.0, min(1.0, fraction)) * width)
    text.append("━" * filled, style)
    text.append("━" * (width - filled), "grey30")
    return text


class ProgressPanel:
    def __init__(self, state: DashboardState) -> None:
        self.state = state

    def lines(self) -> list[tuple[str, str, float | None, str]]:
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
        eta = state.eta.remaining_seconds()
        if state.end_reason is not None:
            eta_text = "done"
        else:
            eta_text = "ETA --" if eta is None else f"ETA {format_duration(eta)}"
        total_fraction = state.eta.fraction
        if state.end_reason == "completed":
            total_fraction = 1.0
        total_text = "" if total_fraction is None else f"{total_fraction:4.0%}"
        return [
            (
                split.value if split else "split",
                split_style(split) if split else "",
                split_fraction,
                split_text,
            ),
            ("total", "yellow", total_fraction, f"{total_text}  {eta_text}".strip()),
        ]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        lines = self.lines()
        inner = options.max_width - 4
        tail_width = max(len(tail) for *_, tail in lines)
        bar_width = max(4, inner - _LABEL_WIDTH - tail_width - 2)
        body = Text(no_wrap=True, overflow="crop")
        for index, (label, style, fraction, tail) in enumerate(lines):
            if index:
                body.append("\n")
            body.append(label.ljust(_LABEL_WIDTH), style or LABEL)
            body.append_text(bar(fraction, bar_width, style or "white"))
            body.append("  " + tail.rjust(tail_width))
        yield Panel(body, title="Progress", title_align="left", border_style=BORDER)
