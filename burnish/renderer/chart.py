"""A braille line chart drawn into rich segments: the dashboard's plots.

Each terminal cell holds a 2x4 grid of braille dots, so a chart of ``w x h`` cells has
``2w x 4h`` dots. Lines are drawn column by column: each dot column gets the vertical span the
segment covers there, set with one precomputed mask per cell, so a frame costs about one
operation per cell the line crosses rather than one per dot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

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
        """Connect dot coordinates (fractional allowed) with straight lines."""
        if len(dots) == 1:
            x, y = dots[0]
            self.set(round(x), round(y), series)
            return
        for (x0, y0), (x1, y1) in zip(dots, dots[1:], strict=False):
            self._segment(x0, y0, x1, y1, series)

    def _segment(self, x0: float, y0: float, x1: float, y1: float, series: int) -> None:
        if x1 < x0:
            x0, y0, x1, y1 = x1, y1, x0, y0
        first, last = round(x0), round(x1)
        if first == last:
            self.span(first, round(y0), round(y1), series)
            return
        slope = (y1 - y0) / (x1 - x0)
        for column in range(first, last + 1):
            # The line's extent over this dot column, clipped to the segment's ends.
            left = max(x0, column - 0.5)
            right = min(x1, column + 0.5)
            self.span(
                column, round(y0 + slope * (left - x0)), round(y0 + slope * (right - x0)), series
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

    Takes the height the layout gives it (``options.height``), else ``height``. Non-finite
    points are skipped. Series are drawn in order, so a later one is on top.
    """

    def __init__(
        self,
        series: Sequence[Series],
        *,
        height: int = 10,
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
        width = options.max_width
        height = options.height or self.height
        data = [_finite(series.points) for series in self.series]
        points = [point for series in data for point in series]
        styles = [console.get_style(series.style) for series in self.series]
        lines = self._legend(width, styles)
        if not points or height < 3 or width < 8:
            lines.append([Segment(self.empty_text[:width].ljust(width), Style(dim=True))])
            lines.extend([Segment(" " * width)] for _ in range(max(0, height - 2)))
            yield from _emit(lines[:height], width)
            return
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
        x_scale = (canvas.dot_width - 1) / (x_high - x_low) if x_high > x_low else 0.0
        y_scale = (canvas.dot_height - 1) / (y_high - y_low) if y_high > y_low else 0.0
        x_middle = (canvas.dot_width - 1) / 2
        y_middle = (canvas.dot_height - 1) / 2
        for index, series in enumerate(data):
            # Keep about two points per dot column: more cannot be seen.
            reduced = decimate(series, 4 * canvas.dot_width)
            dots = [
                (
                    (x - x_low) * x_scale if x_scale else x_middle,
                    (y_high - y) * y_scale if y_scale else y_middle,
                )
                for x, y in reduced
            ]
            if dots:
                canvas.polyline(dots, index)
        axis_style = Style(dim=True)
        labels = {0: top_label, plot_height - 1: bottom_label}
        if y_high == y_low:
            labels = {round(y_middle) // 4: top_label}
        for row, runs in enumerate(canvas.rows()):
            line = [Segment(labels.get(row, "").rjust(label_width), axis_style)]
            line.append(Segment("│", axis_style))
            line.extend(
                Segment(text, styles[owner]) if owner >= 0 else Segment(text)
                for text, owner in runs
            )
            lines.append(line)
        left = self.format_x(x_low)
        right = self.format_x(x_high) if x_high > x_low else ""
        fill = max(1, plot_width - len(left) - len(right))
        axis = f"{' ' * label_width}└{left}{'─' * fill}{right}"
        lines.append([Segment(axis[:width], axis_style)])
        yield from _emit(lines, width)

    def _legend(self, width: int, styles: Sequence[Style]) -> list[list[Segment]]:
        legend: list[Segment] = []
        for series, style in zip(self.series, styles, strict=True):
            legend.append(Segment("━━ ", style))
            legend.append(Segment(f"{series.name}   "))
        used = sum(len(segment.text) for segment in legend)
        if self.x_title and used + len(self.x_title) <= width:
            legend.append(Segment(" " * (width - used - len(self.x_title))))
            legend.append(Segment(self.x_title, Style(dim=True)))
        return [legend]


def _emit(lines: list[list[Segment]], width: int) -> RenderResult:
    """Each line cropped or padded to ``width``, then a newline."""
    newline = Segment.line()
    for line in lines:
        yield from Segment.adjust_line_length(line, width)
        yield newline
