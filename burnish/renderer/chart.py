"""A braille line chart drawn into rich segments: the dashboard's plots.

Each terminal cell holds a 2x4 grid of braille dots, so a chart of ``w x h`` cells has
``2w x 4h`` dots. Lines are drawn column by column: each dot column gets the vertical span the
segment covers there, set with one precomputed mask per cell, so a frame costs about one
operation per cell the line crosses rather than one per dot.
"""

# The plot loop compares inline rather than calling min()/max(): it runs per point per frame.
# ruff: noqa: PLR1730

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

from burnish.renderer.frame import Fitted, Line, fit
from burnish.renderer.ticks import Labels, log_tick_labels, tick_labels

__all__ = [
    "BrailleCanvas",
    "LineChart",
    "Point",
    "Series",
    "colourless",
    "decimate",
]

Point = tuple[float, float]
PointT = TypeVar("PointT", bound=tuple[Any, ...])

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
_BRAILLE_HIGH = b"\x28"
_EMPTY_BRAILLE = "\u2800"
# Cells drawn by one series, with the empty cells between them: a single styled run (a blank
# looks the same in any colour), so a row is a few segments, not one per change of owner.
_RUNS = re.compile(rb"([\x01-\xff])(?:\x00*\1)*")


def _runs(text: str, owners: bytearray) -> list[tuple[str, int]]:
    """A row's text cut where the series that drew it changes; -1 marks empty stretches."""
    drawn = owners.translate(None, b"\x00")
    if not drawn:
        return [(text, -1)]
    if drawn.count(drawn[0]) == len(drawn):
        return [(text, drawn[0] - 1)]
    runs: list[tuple[str, int]] = []
    position = 0
    for run in _RUNS.finditer(owners):
        start, end = run.span()
        if start > position:
            runs.append((text[position:start], -1))
        runs.append((text[start:end], owners[start] - 1))
        position = end
    if position < len(text):
        runs.append((text[position:], -1))
    return runs


class BrailleCanvas:
    """A grid of ``width x height`` cells, each a 2x4 braille dot matrix, with a colour per cell.

    Dot coordinates start at the top left: ``x`` in ``[0, 2 * width)``, ``y`` in
    ``[0, 4 * height)``. A cell takes the colour of the last series that drew in it.
    """

    def __init__(self, width: int, height: int) -> None:
        self.width = max(0, width)
        self.height = max(0, height)
        self._bits = [bytearray(self.width) for _ in range(self.height)]
        # Who drew each cell: the series index + 1, 0 for nobody (so rows() can find runs fast).
        self._owner = [bytearray(self.width) for _ in range(self.height)]
        # Characters written over the braille, by row then column: a series' marker.
        self._marks: dict[int, dict[int, str]] = {}

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
            self._owner[row][column] = series + 1

    def polyline(self, dots: Sequence[tuple[float, float]], series: int = 0, dash: int = 1) -> None:
        """Connect dot coordinates (fractional allowed) with straight lines.

        ``dash``: draw one cell in every ``dash`` (2: dashed, 3: dotted), so that lines stay
        told apart where colours are not shown. Each dot column collects the lowest and
        highest row any segment reaches in it, then is drawn once: the cost is per segment
        and per column, not per dot. (The loop is written for speed: it runs for every point
        of every plotted line, each frame.)
        """
        columns = self.dot_width
        if not dots or columns == 0:
            return
        last_column = columns - 1
        low = [math.inf] * columns
        high = [-math.inf] * columns
        edge = columns - 0.5
        ax, ay = dots[0]
        for bx, by in dots[1:] if len(dots) > 1 else dots:
            if bx >= ax:
                x0, y0, x1, y1 = ax, ay, bx, by
            else:
                x0, y0, x1, y1 = bx, by, ax, ay
            ax, ay = bx, by
            if x1 < -0.5 or x0 >= edge:
                continue  # off the canvas
            # Clamped to the canvas, x is not negative: int() rounds like floor().
            first = int(x0 + 0.5) if x0 >= 0 else 0
            last = int(x1 + 0.5)
            if last > last_column:
                last = last_column
            if first == last:
                if y0 > y1:
                    y0, y1 = y1, y0
                if y0 < low[first]:
                    low[first] = y0
                if y1 > high[first]:
                    high[first] = y1
                continue
            # Walk the column boundaries: each column spans the line between two of them.
            slope = (y1 - y0) / (x1 - x0)
            start = y0 if x0 >= first - 0.5 else y0 + slope * (first - 0.5 - x0)
            boundary = y0 + slope * (first + 0.5 - x0)
            column = first
            while True:
                bottom, top = (start, boundary) if start < boundary else (boundary, start)
                if bottom < low[column]:
                    low[column] = bottom
                if top > high[column]:
                    high[column] = top
                column += 1
                if column == last:
                    break
                start = boundary
                boundary += slope
            end = y1 if x1 <= last + 0.5 else y0 + slope * (last + 0.5 - x0)
            bottom, top = (boundary, end) if boundary < end else (end, boundary)
            if bottom < low[last]:
                low[last] = bottom
            if top > high[last]:
                high[last] = top
        self._fill_columns(low, high, series, dash)

    def _fill_columns(self, low: list[float], high: list[float], series: int, dash: int) -> None:
        """Set each dot column from row ``low[x]`` to ``high[x]`` (rounded), cell by cell;
        with ``dash``, only the columns of one cell in every ``dash``."""
        if dash > 1:
            _gaps(low, dash)
        bits, owner = self._bits, self._owner
        mark = series + 1
        bottom = self.dot_height - 1
        for column, (first_y, last_y) in enumerate(zip(low, high, strict=True)):
            if first_y > last_y:
                continue
            # Halves round inwards, so a 45-degree line is one dot per column, not two.
            first = int(first_y + 0.5) if first_y >= 0 else 0
            last = int(last_y + 0.5) if last_y >= 0 else -1
            if last - last_y == 0.5 and last > first:
                last -= 1
            if last > bottom:
                last = bottom
            if first > last:
                if first > bottom or last < 0:
                    continue
                last = first
            cell = column >> 1
            masks = _SPAN_MASK[column & 1]
            top_row, bottom_row = first >> 2, last >> 2
            if top_row == bottom_row:
                bits[top_row][cell] |= masks[first & 3][last & 3]
                owner[top_row][cell] = mark
                continue
            bits[top_row][cell] |= masks[first & 3][3]
            owner[top_row][cell] = mark
            full = masks[0][3]
            for row in range(top_row + 1, bottom_row):
                bits[row][cell] |= full
                owner[row][cell] = mark
            bits[bottom_row][cell] |= masks[0][last & 3]
            owner[bottom_row][cell] = mark

    def mark(self, x: int, y: int, char: str, series: int = 0) -> None:
        """Write one single-cell ``char`` in the cell holding dot ``(x, y)``, over the braille
        (clamped to the canvas): where a line ends, it names the line without colour."""
        if not self.width or not self.height:
            return
        column = min(max(x, 0), self.dot_width - 1) >> 1
        row = min(max(y, 0), self.dot_height - 1) >> 2
        self._marks.setdefault(row, {})[column] = char
        self._owner[row][column] = series + 1

    def rows(self) -> list[list[tuple[str, int]]]:
        """Each row as runs of ``(text, series)``; ``series`` is -1 for empty runs."""
        result: list[list[tuple[str, int]]] = []
        high_bytes = _BRAILLE_HIGH * self.width
        utf16 = bytearray(2 * self.width)
        for index, (bits, owners) in enumerate(zip(self._bits, self._owner, strict=True)):
            # Braille is U+2800 + bits: in UTF-16-LE, the bits then 0x28, decoded in C.
            utf16[0::2] = bits
            utf16[1::2] = high_bytes
            text = utf16.decode("utf-16-le").replace(_EMPTY_BRAILLE, " ")
            for column, char in self._marks.get(index, {}).items():
                text = text[:column] + char + text[column + 1 :]
            result.append(_runs(text, owners))
        return result

    def lines(self) -> list[str]:
        """The canvas as plain text, a string per row (for tests and plain output)."""
        return ["".join(text for text, _ in row) for row in self.rows()]


def _gaps(low: list[float], dash: int) -> None:
    """Leave out the dot columns outside one cell in every ``dash``: a dashed line."""
    for column in range(len(low)):
        if (column >> 1) % dash:
            low[column] = math.inf


def decimate(
    points: Sequence[PointT], max_points: int, value: Callable[[PointT], float] | None = None
) -> list[PointT]:
    """At most ``max_points`` points (from 4) that keep the shape of a series.

    The points are cut into ``(max_points - 2) // 2`` consecutive buckets; each keeps its
    lowest and highest point (by ``value``, the second item by default), in their order, so
    every peak and trough and the global minimum and maximum survive. The first and last
    points are kept too, so the x range does not shrink.
    """
    count = len(points)
    if count <= max_points:
        return list(points)
    key: Callable[[PointT], float] = value or _y
    buckets = max(1, (max_points - 2) // 2)
    result: list[PointT] = [points[0]]
    for bucket in range(buckets):
        chunk = points[bucket * count // buckets : (bucket + 1) * count // buckets]
        low = min(chunk, key=key)
        high = max(chunk, key=key)
        if low is high:
            result.append(low)
        elif chunk.index(low) <= chunk.index(high):
            result.extend((low, high))
        else:
            result.extend((high, low))
    if result[1] is points[0]:
        del result[0]
    if result[-1] is not points[-1]:
        result.append(points[-1])
    return result


_y = operator.itemgetter(1)

# Without colours, lines are told apart by their dashes: (cells per dash, legend glyphs). Past
# four, dashes repeat: sparser ones no longer read as a line, and markers (a series' own
# character at its line's end) tell such series apart.
_DASHES = ((1, "━━"), (2, "╍╍"), (3, "┅┅"), (4, "┉┉"))


def colourless(console: Console) -> bool:
    """Whether ``console`` shows no colours (``NO_COLOR``, or not a terminal)."""
    return console.no_color or console.color_system is None


@dataclass(frozen=True, slots=True)
class Series:
    """A named line: its points in data coordinates and the style it is drawn in.

    ``marker``: a single-cell character written where the line ends and beside its name in the
    legend, for lines that glyphs and colours alone cannot tell apart (many runs compared).
    """

    name: str
    points: Sequence[Point]
    style: str | Style = ""
    marker: str = ""


def _finite(points: Iterable[Point], log_y: bool = False) -> list[Point]:
    if log_y:
        return [(x, math.log10(y)) for x, y in points if math.isfinite(x) and 0 < y < math.inf]
    return [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]


class LineChart:
    """A rich renderable: a legend line, the braille plot with its y range (min at the bottom,
    max at the top) on the left, and the x range below.

    Takes ``height`` lines, else the height the layout gives (``options.height``), else 10.
    Non-finite points are skipped. Series are drawn in order, so a later one is on top.
    ``y_labels`` and ``x_labels`` write an axis' tick values, all at once so that they are
    written alike. With ``log_y``, y is drawn on a log scale, where points at or below 0
    are skipped.
    """

    def __init__(
        self,
        series: Sequence[Series],
        *,
        height: int | None = None,
        x_title: str = "",
        y_labels: Labels = tick_labels,
        x_labels: Labels = tick_labels,
        log_y: bool = False,
        empty_text: str = "no data yet",
    ) -> None:
        self.series = series
        self.height = height
        self.x_title = x_title
        self.y_labels = log_tick_labels if log_y else y_labels
        self.x_labels = x_labels
        self.log_y = log_y
        self.empty_text = empty_text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        height = self.height or options.height or 10
        newline = Segment.line()
        for line in self.lines(console, options.max_width, height):
            yield from line
            yield newline

    @staticmethod
    def point_budget(width: int) -> int:
        """The most points a line keeps in a chart ``width`` cells wide: about one per dot
        column (y labels take about 8 cells). Series given no more are drawn as they are."""
        return max(2, 2 * (width - 9)) + 2

    def lines(self, console: Console, width: int, height: int) -> list[Line]:
        """Exactly ``height`` lines of exactly ``width`` cells."""
        styles = [console.get_style(series.style) for series in self.series]
        dashes = [
            _DASHES[index % len(_DASHES)] if colourless(console) else _DASHES[0]
            for index in range(len(self.series))
        ]
        lines = [self._legend(width, styles, [glyphs for _, glyphs in dashes])]
        # A cell's lowest and highest point show about all there is to see at this size;
        # decimation keeps each series' extremes, so the bounds below are exact.
        budget = self.point_budget(width)
        data = [decimate(_finite(series.points, self.log_y), budget) for series in self.series]
        points = [point for series in data for point in series]
        if not points or height < 3 or width < 8:
            lines.append([Segment(self.empty_text, Style(dim=True))])
            return [fit(line, width) for line in _pad_lines(lines, height)]
        x_low = min(points)[0]
        x_high = max(points)[0]
        y_low = min(points, key=_y)[1]
        y_high = max(points, key=_y)[1]
        plot_height = height - 2
        labels = self._y_ticks(y_low, y_high, plot_height)
        # A label wider than the chart is cropped.
        label_width = min(max(len(label) for label in labels.values()), width - 2)
        plot_width = width - label_width - 1
        canvas = BrailleCanvas(plot_width, plot_height)
        x_span = canvas.dot_width - 1
        y_span = canvas.dot_height - 1
        x_scale = x_span / (x_high - x_low) if x_high > x_low else 0.0
        y_scale = y_span / (y_high - y_low) if y_high > y_low else 0.0
        for index, series in enumerate(data):
            if x_scale and y_scale:
                dots = [((x - x_low) * x_scale, (y_high - y) * y_scale) for x, y in series]
            else:
                dots = [
                    (
                        (x - x_low) * x_scale if x_scale else x_span / 2,
                        (y_high - y) * y_scale if y_scale else y_span / 2,
                    )
                    for x, y in series
                ]
            canvas.polyline(dots, index, dashes[index][0])
            if dots and self.series[index].marker:
                x, y = dots[-1]
                canvas.mark(int(x + 0.5), int(y + 0.5), self.series[index].marker, index)
        axis_style = Style(dim=True)
        axis = Segment("│", axis_style)
        for row, runs in enumerate(canvas.rows()):
            label = labels.get(row, "").rjust(label_width)[:label_width]
            # Built to size: labels + axis + plot_width single-cell glyphs is exactly width.
            line = Fitted([Segment(label, axis_style), axis])
            for text, owner in runs:
                line.append(Segment(text, styles[owner]) if owner >= 0 else Segment(text))
            lines.append(line)
        left, right = self.x_labels([x_low, x_high])
        right = right if x_high > x_low else ""
        fill = max(1, plot_width - len(left) - len(right))
        lines.append([Segment(f"{' ' * label_width}└{left}{'─' * fill}{right}", axis_style)])
        return [fit(line, width) for line in lines]

    def _y_ticks(self, low: float, high: float, plot_height: int) -> dict[int, str]:
        """The y labels by row: the top and bottom rows, and the middle one when there is
        room; a flat line's value at its row, in the middle."""
        if high <= low:
            return {math.floor((4 * plot_height - 1) / 2 + 0.5) // 4: self.y_labels([high])[0]}
        rows = [0, plot_height - 1]
        if plot_height >= 5:
            rows.insert(1, (plot_height - 1) // 2)
        # A row's label is the value at its middle dot row, the top and bottom rows' at their
        # edges, where the extremes are drawn.
        per_dot = (high - low) / (4 * plot_height - 1)
        values = [high - (4 * row + 1.5) * per_dot for row in rows]
        values[0], values[-1] = high, low
        return dict(zip(rows, self.y_labels(values), strict=True))

    def _legend(self, width: int, styles: Sequence[Style], glyphs: Sequence[str]) -> Line:
        legend: Line = []
        for series, style, glyph in zip(self.series, styles, glyphs, strict=True):
            legend.append(Segment(f"{glyph}{series.marker} ", style))
            legend.append(Segment(f"{series.name}   "))
        used = sum(len(segment.text) for segment in legend)
        if self.x_title and used + len(self.x_title) <= width:
            legend.append(Segment(" " * (width - used - len(self.x_title))))
            legend.append(Segment(self.x_title, Style(dim=True)))
        return legend


def _pad_lines(lines: list[Line], height: int) -> list[Line]:
    return [*lines[:height], *([] for _ in range(height - len(lines)))]
