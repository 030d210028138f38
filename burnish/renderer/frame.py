"""Drawing panels as lines of segments, sized exactly, without rich's layout machinery.

rich's ``Layout`` and ``Panel`` re-measure, wrap and crop every line several times; a frame
built from them took 15-20 ms. The dashboard's panels instead produce their lines at the size
they are given, boxed here, and the dashboard places them side by side, which keeps a frame
within a few milliseconds (``benches/render.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

__all__ = [
    "Fitted",
    "Line",
    "Sized",
    "box",
    "fit",
    "join_columns",
    "render_sized",
    "segments",
    "split",
]

Line = list[Segment]


class Fitted(list[Segment]):
    """A line known to be exactly as wide as it must be: :func:`fit` leaves it as it is.

    Measuring a line costs a width lookup per character for text not seen before (a chart's
    braille changes every frame), so lines built to size say so.
    """


_ELLIPSIS = "…"


class Sized(Protocol):
    """A panel that draws itself as exactly ``height`` lines of ``width`` cells."""

    def lines(self, console: Console, width: int, height: int) -> list[Line]: ...


def segments(*parts: tuple[str, Style | None]) -> Line:
    return [Segment(text, style) for text, style in parts if text]


def fit(line: Line, width: int) -> Line:
    """``line`` padded with spaces, or cropped with an ellipsis, to exactly ``width`` cells."""
    if isinstance(line, Fitted):
        return line
    length = 0
    for segment in line:
        length += cell_len(segment.text)
    if length == width:
        return line
    if length < width:
        return [*line, Segment(" " * (width - length))]
    if width <= 0:
        return []
    result: Line = []
    room = width - 1
    for text, style, _ in line:
        size = cell_len(text)
        if size >= room:
            result.append(Segment(set_cell_size(text, room), style))
            result.append(Segment(_ELLIPSIS, style))
            return result
        result.append(Segment(text, style))
        room -= size
    return result  # unreachable: the line was longer than width


def box(
    body: Sequence[Line],
    width: int,
    height: int,
    title: str,
    border: Style,
    *,
    subtitle: str = "",
) -> list[Line]:
    """``body`` in a rounded border with a title (and subtitle), ``height`` lines in all.

    Body lines are fitted to the inside width (``width - 4``: border and one space a side);
    missing lines are blank, extra ones dropped.
    """
    if height <= 0 or width <= 0:
        return []
    if width < 4 or height < 2:
        return [[Segment(" " * width)] for _ in range(height)]
    inner = width - 4
    top_text = f"─ {title} " if title and len(title) + 5 <= width else ""
    top = [Segment("╭" + top_text + "─" * (width - 2 - len(top_text)) + "╮", border)]
    if top_text:
        top = [
            Segment("╭─ ", border),
            Segment(title, Style(bold=True)),
            Segment(" " + "─" * (width - 5 - len(title)) + "╮", border),
        ]
    bottom_text = f" {subtitle} ─" if subtitle and cell_len(subtitle) + 5 <= width else ""
    bottom_fill = width - 2 - cell_len(bottom_text)
    bottom = [Segment("╰" + "─" * bottom_fill + bottom_text + "╯", border)]
    side_left = Segment("│ ", border)
    side_right = Segment(" │", border)
    blank = Segment(" " * inner)
    lines = [top]
    for index in range(height - 2):
        content = fit(body[index], inner) if index < len(body) else [blank]
        lines.append([side_left, *content, side_right])
    lines.append(bottom)
    return lines


def join_columns(columns: Sequence[list[Line]]) -> list[Line]:
    """Panels of the same height, side by side."""
    if not columns:
        return []
    return [[segment for column in row for segment in column] for row in zip(*columns, strict=True)]


def split(total: int, ratios: Sequence[int]) -> list[int]:
    """``total`` cells shared out by ``ratios``, the remainder to the first ones."""
    weight = sum(ratios)
    sizes = [total * ratio // weight for ratio in ratios]
    for index in range(total - sum(sizes)):
        sizes[index % len(sizes)] += 1
    return sizes


def render_sized(
    panel: Sized, console: Console, options: ConsoleOptions, default_height: int
) -> RenderResult:
    """What ``__rich_console__`` yields for a :class:`Sized` panel."""
    newline = Segment.line()
    height = options.height or default_height
    for line in panel.lines(console, options.max_width, height):
        yield from line
        yield newline
