"""A braille line chart drawn into rich segments: the dashboard's plots.

Each terminal cell holds a 2x4 grid of braille dots, so a chart of ``w x h`` cells has
``2w x 4h`` dots. Lines are drawn column by column: each dot column gets the vertical span the
segment covers there, set with one precomputed mask per cell, so a frame costs about one
operation per cell the line crosses rather than one per dot.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

from burnish.renderer.frame import Line, fit

__all__ = ["BrailleCanvas", "LineChart", "Point", "Series", "decimate", "format_tick"]

Point = tuple[float, float]

# Braille dot bits by (dot column, dot row) within a cell: Unicode's layout, rows 0-2 first.
_DOT_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
# _SPAN_MASK[side][low][high]: the bits of dot rows low..high (inclusive) in one cell column.
_SPAN_MASK = tuple(
    tuple(
        tuple(sum(_DOT_BITS[side][row] for row in range(low, high + 1)) for high in range(4))
        for low in range(4)
    )
    for side in range(2)
)
# An empty cell is a space rather than U+2800, which some fonts draw wider.
_GLYPHS = (" ", *(chr(0x2800 + bits) for bits in range(1, 256)))


class BrailleCanvas:
    """A grid of ``width x height`` cells, each a 2x4 braille dot matrix, with a colour per cell.

    Dot coordinates start at the top left: ``x`` in ``[0, 2 * width)``, ``y`` in
    ``[0, 4 * height)``. A cell takes the colour of the last series that drew in it.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width = max(0, width)
        self.height = max(0, height)
        self._bits = [bytearray(self.width) for _ in range(self.height)]
        self._owner = [[-1] * self.width for _ in range(self.height)]

    @property
    def dot_width(self) -> int:
        return 2 * self.width

    @property
    def dot_height(self) -> int:
        return 4 * self.height

    def set(self, x: int, y: int, series: int = 0) -> None:
        """Set one dot; dots outside the canvas are ignored."""
        self.span(x, y, y, series)

    def span(self, x: int, y0: int, y1: int, series: int = 0) -> None:
        """Set the dots of column ``x`` from row ``y0`` to ``y1`` (either order), clipped."""
        if not 0 <= x < self.dot_width:
            return
        low, high = (y0, y1) if y0 <= y1 else (y1, y0)
        low = max(low, 0)
        high = min(high, self.dot_height - 1)
        if low > high:
            return
        column, side = x >> 1, x & 1
        masks = _SPAN_MASK[side]
        for row in range(low >> 2, (high >> 2) + 1):
            top = row << 2
            first = low - top if low > top else 0
            last = high - top if high < top + 3 else 3
            self._bits[row][column] |= masks[first][last]
            self._owner[row][column] = series

    def polyline(self, dots: Sequence[tuple[float, float]], series: int = 0) -> None:
        """Connect dot coordinates (fractional allowed) with straight lines.

        Each dot column collects the lowest and highest row any segment reaches in it, then is
        drawn once: the cost is per segment and per column, not per dot.
        """
        columns = self.dot_width
        if not dots or columns == 0:
            return
        low = [math.inf] * columns
        high = [-math.inf] * columns
        pairs = itertools.pairwise(dots) if len(dots) > 1 else [(dots[0], dots[0])]
        for (ax, ay), (bx, by) in pairs:
            if bx < ax:
                ax, ay, bx, by = bx, by, ax, ay  # noqa: PLW2909
            first = max(0, math.floor(ax + 0.5))
            last = min(columns - 1, math.floor(bx + 0.5))
            if first >= last:
                if first == last:
                    bottom, top = (ay, by) if ay <= by else (by, ay)
                    low[first] = min(low[first], bottom)
                    high[first] = max(high[first], top)
                continue
            slope = (by - ay) / (bx - ax)
            for column in range(first, last + 1):
                left = ax if ax > column - 0.5 else column - 0.5
                right = bx if bx < column + 0.5 else column + 0.5
                y_left = ay + slope * (left - ax)
                y_right = ay + slope * (right - ax)
                if y_left > y_right:
                    y_left, y_right = y_right, y_left
                if y_left < low[column]:
                    low[column] = y_left
                if y_right > high[column]:
                    high[column] = y_right
        for column in range(columns):
            if low[column] <= high[column]:
                self.span(
                    column, math.floor(low[column] + 0.5), math.floor(high[column] + 0.5), series
                )

    def rows(self) -> list[list[tuple[str, int]]]:
        """Each row as runs of ``(text, series)``; ``series`` is -1 for empty runs."""
        result: list[list[tuple[str, int]]] = []
        for bits, owners in zip(self._bits, self._owner, strict=True):
            runs: list[tuple[str, int]] = []
            start = 0
            for index in range(1, self.width + 1):
                if index == self.width or owners[index] != owners[start]:
                    text = "".join([_GLYPHS[bit] for bit in bits[start:index]])
                    runs.append((text, owners[start]))
                    start = index
            result.append(runs)
        return result

    def lines(self) -> list[str]:
        """The canvas as plain text, a string per row (for tests and plain output)."""
        return ["".join(text for text, _ in row) for row in self.rows()]


def decimate(points: Sequence[Point], max_points: int) -> list[Point]:
    """At most ``max_points`` points that keep the series' shape: each of ``max_points // 2``
    consecutive buckets keeps its lowest and its highest point, in order, so every peak and
    trough (and the global minimum and maximum) survives."""
    count = len(points)
    if count <= max_points:
        return list(points)
    buckets = max(1, max_points // 2)
    result: list[Point] = []
    for bucket in range(buckets):
        start = bucket * count // buckets
        stop = (bucket + 1) * count // buckets
        low = high = start
        for index in range(start + 1, stop):
            y = points[index][1]
            if y < points[low][1]:
                low = index
            elif y > points[high][1]:
                high = index
        if low == high:
            result.append(points[low])
        else:
            result.extend((points[min(low, high)], points[max(low, high)]))
    return result


def format_tick(value: float) -> str:
    """A short axis label: at most 4 significant digits, scientific when very large or small."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


@dataclass(frozen=True, slots=True)
class Series:
    """A named line: its points in data coordinates and the style it is drawn in."""

    name: str
    points: Sequence[Point]
    style: str | Style = ""


def _finite(points: Iterable[Point]) -> list[Point]:
    return [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]


class LineChart:
    """A rich renderable: a legend line, the braille plot with its y range (min at the bottom,
    max at the top) on the left, and the x range below.

    Takes ``height`` lines, else the height the layout gives (``options.height``), else 10.
    Non-finite points are skipped. Series are drawn in order, so a later one is on top.
    """

    def __init__(
        self,
        series: Sequence[Series],
        *,
        height: int | None = None,
        x_title: str = "",
        format_y: Callable[[float], str] = format_tick,
        format_x: Callable[[float], str] = format_tick,
        empty_text: str = "no data yet",
    ) -> None:
        self.series = series
        self.height = height
        self.x_title = x_title
        self.format_y = format_y
        self.format_x = format_x
        self.empty_text = empty_text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        height = self.height or options.height or 10
        newline = Segment.line()
        for line in self.lines(console, options.max_width, height):
            yield from line
            yield newline

    def lines(self, console: Console, width: int, height: int) -> list[Line]:
        """Exactly ``height`` lines of exactly ``width`` cells."""
        data = [_finite(series.points) for series in self.series]
        styles = [console.get_style(series.style) for series in self.series]
        lines = [self._legend(width, styles)]
        points = [point for series in data for point in series]
        if not points or height < 3 or width < 8:
            lines.append([Segment(self.empty_text, Style(dim=True))])
            return [fit(line, width) for line in _pad_lines(lines, height)]
        x_low = min(x for x, _ in points)
        x_high = max(x for x, _ in points)
        y_low = min(y for _, y in points)
        y_high = max(y for _, y in points)
        plot_height = height - 2
        top_label = self.format_y(y_high)
        bottom_label = self.format_y(y_low)
        label_width = max(len(top_label), len(bottom_label))
        plot_width = max(1, width - label_width - 1)
        canvas = BrailleCanvas(plot_width, plot_height)
        x_span = canvas.dot_width - 1
        y_span = canvas.dot_height - 1
        x_scale = x_span / (x_high - x_low) if x_high > x_low else 0.0
        y_scale = y_span / (y_high - y_low) if y_high > y_low else 0.0
        for index, series in enumerate(data):
            # Two points per dot column (its lowest and highest) show all there is to see.
            reduced = decimate(series, 2 * canvas.dot_width)
            if x_scale and y_scale:
                dots = [((x - x_low) * x_scale, (y_high - y) * y_scale) for x, y in reduced]
            else:
                dots = [
                    (
                        (x - x_low) * x_scale if x_scale else x_span / 2,
                        (y_high - y) * y_scale if y_scale else y_span / 2,
                    )
                    for x, y in reduced
                ]
            canvas.polyline(dots, index)
        axis_style = Style(dim=True)
        labels = {0: top_label, plot_height - 1: bottom_label}
        if not y_scale:
            labels = {math.floor(y_span / 2 + 0.5) // 4: top_label}
        axis = Segment("│", axis_style)
        for row, runs in enumerate(canvas.rows()):
            line = [Segment(labels.get(row, "").rjust(label_width), axis_style), axis]
            for text, owner in runs:
                line.append(Segment(text, styles[owner]) if owner >= 0 else Segment(text))
            lines.append(line)
        left = self.format_x(x_low)
        right = self.format_x(x_high) if x_high > x_low else ""
        fill = max(1, plot_width - len(left) - len(right))
        lines.append([Segment(f"{' ' * label_width}└{left}{'─' * fill}{right}", axis_style)])
        return [fit(line, width) for line in lines]

    def _legend(self, width: int, styles: Sequence[Style]) -> Line:
        legend: Line = []
        for series, style in zip(self.series, styles, strict=True):
            legend.append(Segment("━━ ", style))
            legend.append(Segment(f"{series.name}   "))
        used = sum(len(segment.text) for segment in legend)
        if self.x_title and used + len(self.x_title) <= width:
            legend.append(Segment(" " * (width - used - len(self.x_title))))
            legend.append(Segment(self.x_title, Style(dim=True)))
        return legend


def _pad_lines(lines: list[Line], height: int) -> list[Line]:
    return [*lines[:height], *([] for _ in range(height - len(lines)))]
