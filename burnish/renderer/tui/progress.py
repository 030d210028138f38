"""The Progress panel: the current split's bar and the whole training's bar with its ETA."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment

from burnish.processor.events import Split
from burnish.renderer.frame import Line, box, render_sized
from burnish.renderer.tui.eta import format_duration
from burnish.renderer.tui.state import DashboardState
from burnish.renderer.tui.theme import BORDER, LABEL, split_style, style

__all__ = ["ProgressPanel", "bar"]

_LABEL_WIDTH = 6
_EMPTY = "grey30"
_DONE = "━"
_REMAINING = "╌"


def bar(fraction: float | None, width: int, fill: str) -> Line:
    """A bar of ``width`` cells, ``fraction`` of it filled; all empty when unknown.

    Done and remaining are different glyphs, not only different colours: without colours
    (``NO_COLOR``) a half-done bar must not look full.
    """
    if width <= 0:
        return []
    filled = 0 if fraction is None else round(max(0.0, min(1.0, fraction)) * width)
    return [
        Segment(_DONE * filled, style(fill)),
        Segment(_REMAINING * (width - filled), style(_EMPTY)),
    ]


class ProgressPanel:
    """A bar per split, each at its own latest step, and the whole training's bar.

    The split in progress is drawn in its colour, the others dim: on short epochs the
    dashboard learns of a split's steps in one block at its end, so a single bar for "the
    current split" would sit empty at each split's start.
    """

    def __init__(self, state: DashboardState) -> None:
        self.state = state

    def height(self) -> int:
        """The lines the panel needs: its bars and its border."""
        return len(self.bars()) + 2

    def bars(self) -> list[tuple[str, str, float | None, str]]:
        """Each bar: its label, its style, how full it is and the text after it."""
        state = self.state
        current = state.progress.split
        splits: list[Split | None] = [s for s in state.splits if s in state.split_progress]
        splits += [split for split in state.split_progress if split not in splits]
        bars: list[tuple[str, str, float | None, str]] = []
        # Before the first split starts: one empty bar.
        for split in splits or [None]:
            progress = state.progress if split is None else state.split_progress[split]
            fraction: float | None = None
            if progress.items_total:
                fraction = min(1.0, progress.items / progress.items_total)
            total = "?" if progress.items_total is None else progress.items_total
            fill = "white" if split is None else split_style(split)
            if split is not current:
                fill = f"dim {fill}"
            label = "split" if split is None else split.value
            bars.append((label, fill, fraction, f"{progress.items}/{total}"))
        total_fraction = 1.0 if state.end_reason == "completed" else state.eta.fraction
        total_text = "" if total_fraction is None else f"{total_fraction:4.0%}  "
        bars.append(("total", "yellow", total_fraction, total_text + self.eta_text()))
        return bars

    def eta_text(self) -> str:
        state = self.state
        if state.end_reason is not None:
            return "done"
        eta = state.eta.remaining_seconds()
        return "ETA --" if eta is None else f"ETA {format_duration(eta)}"

    def summary(self) -> list[str]:
        """The bars as plain lines, for a window too small for the panel."""
        progress = self.state.progress
        epoch = f"epoch {progress.epoch}/{progress.epoch_total}" if progress.epoch else "starting"
        *splits, (_, _, _, total) = self.bars()
        lines = [epoch]
        for label, _, fraction, tail in splits:
            lines.append(
                f"{label} {tail}" if fraction is None else f"{label} {fraction:.0%} {tail}"
            )
        lines.append(f"total {' '.join(total.split())}")
        return lines

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
        return render_sized(self, console, options, self.height())
