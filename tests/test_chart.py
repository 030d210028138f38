"""The braille canvas, decimation and the line chart."""

from __future__ import annotations

import io
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from burnish.renderer.chart import BrailleCanvas, LineChart, Series, decimate
from burnish.renderer.ticks import format_tick, log_tick_labels, tick_labels

BLANK = " "


def braille(bits: int) -> str:
    return chr(0x2800 + bits)


def cells(canvas: BrailleCanvas) -> list[str]:
    return canvas.lines()


def render(chart: LineChart, width: int = 40, height: int = 10) -> list[str]:
    console = Console(file=io.StringIO(), width=width, height=height, color_system=None)
    return [
        "".join(segment.text for segment in line) for line in chart.lines(console, width, height)
    ]


# -- canvas ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "y", "bits"),
    [
        (0, 0, 0x01),
        (0, 1, 0x02),
        (0, 2, 0x04),
        (0, 3, 0x40),
        (1, 0, 0x08),
        (1, 1, 0x10),
        (1, 2, 0x20),
        (1, 3, 0x80),
    ],
)
def test_each_dot_sets_its_braille_bit(x: int, y: int, bits: int) -> None:
    canvas = BrailleCanvas(1, 1)
    canvas.set(x, y)
    assert cells(canvas) == [braille(bits)]


def test_dots_land_in_their_cells() -> None:
    canvas = BrailleCanvas(3, 2)
    canvas.set(0, 0)  # cell (0, 0), top left dot
    canvas.set(3, 4)  # cell (1, 1), right column, top row
    canvas.set(5, 7)  # cell (2, 1), right column, bottom row
    assert cells(canvas) == [braille(0x01) + BLANK + BLANK, BLANK + braille(0x08) + braille(0x80)]


def test_dots_outside_are_ignored() -> None:
    canvas = BrailleCanvas(2, 1)
    for x, y in [(-1, 0), (4, 0), (0, -1), (0, 4)]:
        canvas.set(x, y)
    assert cells(canvas) == [BLANK * 2]


def test_span_fills_a_column_across_cells() -> None:
    canvas = BrailleCanvas(1, 2)
    canvas.span(0, 2, 5)
    assert cells(canvas) == [braille(0x04 | 0x40), braille(0x01 | 0x02)]


def test_horizontal_line() -> None:
    canvas = BrailleCanvas(4, 1)
    canvas.polyline([(0, 0), (7, 0)])
    assert cells(canvas) == [braille(0x09) * 4]


def test_vertical_line() -> None:
    canvas = BrailleCanvas(1, 2)
    canvas.polyline([(0, 0), (0, 7)])
    assert cells(canvas) == [braille(0x47)] * 2


def test_diagonal_line_touches_every_column_once_per_row_step() -> None:
    canvas = BrailleCanvas(2, 1)
    canvas.polyline([(0, 0), (3, 3)])
    # One dot per column, on the diagonal: (0,0) (1,1) (2,2) (3,3).
    assert cells(canvas) == [braille(0x01 | 0x10) + braille(0x04 | 0x80)]


def test_steep_segment_leaves_no_gap() -> None:
    canvas = BrailleCanvas(1, 4)
    canvas.polyline([(0, 0), (1, 15)])
    for row in cells(canvas):
        assert row != BLANK


def test_single_dot_polyline() -> None:
    canvas = BrailleCanvas(2, 1)
    canvas.polyline([(2, 1)])
    assert cells(canvas) == [BLANK + braille(0x02)]


def test_later_series_owns_shared_cells() -> None:
    canvas = BrailleCanvas(2, 1)
    canvas.polyline([(0, 0), (3, 0)], series=0)
    canvas.polyline([(2, 3), (3, 3)], series=1)
    assert [owner for _, owner in canvas.rows()[0]] == [0, 1]


# -- decimation -----------------------------------------------------------------------------------


def test_decimate_keeps_short_series() -> None:
    points = [(float(i), float(i % 3)) for i in range(10)]
    assert decimate(points, 250) == points


def test_decimate_keeps_the_min_max_shape() -> None:
    points = [(i / 100, math.sin(i / 100) + 0.3 * math.sin(i / 7)) for i in range(10_000)]
    reduced = decimate(points, 250)
    assert len(reduced) <= 250
    assert reduced[0] == points[0]
    assert reduced[-1] == points[-1]
    assert [x for x, _ in reduced] == sorted(x for x, _ in reduced)
    assert min(y for _, y in reduced) == min(y for _, y in points)
    assert max(y for _, y in reduced) == max(y for _, y in points)
    # Every stretch of the series keeps its own peak and trough.
    for start in range(0, 10_000, 1000):
        window = points[start : start + 1000]
        low, high = window[0][0], window[-1][0]
        kept = [y for x, y in reduced if low <= x <= high]
        assert max(kept) == max(y for _, y in window)
        assert min(kept) == min(y for _, y in window)


def test_decimate_keeps_a_lone_spike() -> None:
    points = [(float(i), 0.0) for i in range(5000)]
    points[3210] = (3210.0, 99.0)
    assert (3210.0, 99.0) in decimate(points, 100)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6), min_size=0, max_size=2000),
    st.integers(min_value=4, max_value=300),
)
def test_decimate_bounds_and_extremes(values: list[float], max_points: int) -> None:
    points = [(float(i), y) for i, y in enumerate(values)]
    reduced = decimate(points, max_points)
    assert len(reduced) <= max(max_points, len(points) if len(points) <= max_points else 0)
    if points:
        assert min(reduced, key=lambda p: p[1])[1] == min(values)
        assert max(reduced, key=lambda p: p[1])[1] == max(values)
        assert reduced[0] == points[0]
        assert reduced[-1] == points[-1]


# -- the chart ------------------------------------------------------------------------------------


def plotted(lines: list[str]) -> str:
    """The braille in the plot area (the legend and axis lines left out)."""
    return "".join(char for line in lines[1:-1] for char in line if 0x2800 < ord(char) <= 0x28FF)


def test_chart_fills_exactly_its_size() -> None:
    series = [Series("train", [(float(i), math.sin(i)) for i in range(100)], "red")]
    lines = render(LineChart(series), 40, 10)
    assert len(lines) == 10
    assert all(len(line) == 40 for line in lines)


def test_chart_shows_legend_and_ranges() -> None:
    train = Series("train", [(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)], "red")
    valid = Series("valid", [(0.0, 0.5), (2.0, 2.5)], "blue")
    lines = render(LineChart([train, valid], x_title="epoch"), 40, 10)
    assert "━━ train" in lines[0]
    assert "╍╍ valid" in lines[0]  # no colours here: the second line is dashed
    assert lines[0].rstrip().endswith("epoch")
    assert lines[1].lstrip().startswith("3.00│")  # max at the top
    assert lines[-2].lstrip().startswith("0.50│")  # min at the bottom
    assert lines[-1].strip().startswith("└0")
    assert lines[-1].rstrip().endswith("2")


def test_a_marker_ends_its_line_and_precedes_its_name() -> None:
    rising = Series("a", [(0.0, 0.0), (1.0, 1.0)], "red", marker="1")
    falling = Series("b", [(0.0, 1.0), (1.0, 0.0)], "blue", marker="2")
    lines = render(LineChart([rising, falling]), 30, 8)
    assert "━━1 a" in lines[0]
    assert "╍╍2 b" in lines[0]
    top, bottom = lines[1], lines[-2]
    assert top.rstrip().endswith("1")  # a ends at the top right
    assert bottom.rstrip().endswith("2")  # b at the bottom right
    plot = "".join(line.split("│", 1)[1] for line in lines[1:-1])  # without the y labels
    assert (plot.count("1"), plot.count("2")) == (1, 1)


def test_four_lines_without_colour_have_four_dashes() -> None:
    lines = [Series(name, [(0.0, i), (1.0, i + 1.0)]) for i, name in enumerate("abcde")]
    legend = render(LineChart(lines), 60, 8)[0]
    assert [legend.split()[i] for i in range(0, 10, 2)] == ["━━", "╍╍", "┅┅", "┉┉", "━━"]


def test_empty_chart_says_so() -> None:
    lines = render(LineChart([Series("train", [], "red")]), 30, 6)
    assert len(lines) == 6
    assert "no data yet" in lines[1]
    assert plotted(lines) == ""


def test_single_point_chart() -> None:
    lines = render(LineChart([Series("train", [(1.0, 2.0)], "red")]), 30, 6)
    assert len(plotted(lines)) == 1
    assert any(line.lstrip().startswith("2│") for line in lines)


def test_constant_series_is_a_flat_line_in_the_middle() -> None:
    points = [(float(i), 5.0) for i in range(50)]
    lines = render(LineChart([Series("train", points, "red")]), 30, 8)
    rows = [line for line in lines[1:-1] if plotted(["", line, ""])]
    assert len(rows) == 1  # one row of braille: a horizontal line
    assert rows[0].lstrip().startswith("5│")
    assert rows[0] in lines[3:5]


def test_non_finite_points_are_skipped() -> None:
    points = [(0.0, 1.0), (1.0, math.nan), (2.0, math.inf), (3.0, 2.0)]
    lines = render(LineChart([Series("train", points, "red")]), 30, 6)
    assert lines[1].lstrip().startswith("2│")


def test_chart_points_land_in_the_right_cells() -> None:
    # A rising line from bottom left to top right.
    points = [(0.0, 0.0), (1.0, 1.0)]
    lines = render(LineChart([Series("s", points, "")]), 12, 6)
    plot = [line.split("│", 1)[1] for line in lines[1:-1]]
    assert plot[-1][0] != BLANK  # bottom left
    assert plot[0][-1] != BLANK  # top right
    assert plot[0][0] == BLANK
    assert plot[-1][-1] == BLANK


def test_format_tick() -> None:
    assert format_tick(0) == "0"
    assert format_tick(97.123456) == "97.12"
    assert format_tick(0.5) == "0.5"
    assert format_tick(1.5e-5) == "1.50e-05"
    assert format_tick(2e6) == "2.00e+06"


def test_tick_labels_are_written_alike() -> None:
    # Issue 20: "2.319" beside "0.009577"; the same decimals, enough to tell ticks apart.
    assert tick_labels([2.319, 1.164, 0.009577]) == ["2.32", "1.16", "0.01"]
    assert tick_labels([97.5, 95.12]) == ["97.50", "95.12"]
    assert tick_labels([3.0, 1.75, 0.5]) == ["3.00", "1.75", "0.50"]
    assert tick_labels([0.0456, 0.0123]) == ["0.0456", "0.0123"]
    assert tick_labels([0.0, 2.0]) == ["0", "2"]  # zeros all labels share are dropped
    assert tick_labels([2e-4, 1e-4]) == ["2.00e-04", "1.00e-04"]
    assert log_tick_labels([math.log10(2.319), math.log10(0.009577)]) == ["2.32", "0.00958"]


def y_labels(lines: list[str]) -> list[str]:
    return [line.split("│")[0].strip() for line in lines[1:-1] if line.split("│")[0].strip()]


def test_y_labels_of_a_chart_share_their_decimals() -> None:
    loss = Series("train", [(float(i), 2.319 * 0.5**i + 0.009577) for i in range(12)], "red")
    labels = y_labels(render(LineChart([loss]), 40, 12))
    assert len(labels) == 3  # top, middle and bottom
    assert len({len(label.split(".")[1]) for label in labels}) == 1


def test_log_scale_spreads_a_curve_spanning_decades() -> None:
    points = [(i / 10, 10.0 * 10 ** (-i / 25)) for i in range(101)]  # 10 down to 1e-3
    late = points[50:]  # after the first half, a flat line on a linear axis

    def rows_drawn(log_y: bool) -> int:
        lines = render(LineChart([Series("train", late, "red")], log_y=log_y), 40, 12)
        return sum(1 for line in lines[1:-1] if any(0x2800 < ord(c) <= 0x28FF for c in line))

    linear = render(LineChart([Series("train", points, "red")]), 40, 12)
    flat = [line.split("│")[1] for line in linear[1:-1]]
    # On a linear axis the second half of the curve lies in the bottom rows only.
    assert all(set(row[20:]) <= {" "} for row in flat[:-2])
    assert rows_drawn(True) == 10  # every row, on a log axis
    logged = render(LineChart([Series("train", points, "red")], log_y=True), 40, 12)
    assert y_labels(logged)[0] == "10"
    assert y_labels(logged)[-1] == "0.001"


def test_log_scale_skips_values_at_or_below_zero() -> None:
    series = Series("train", [(0.0, 0.0), (1.0, -1.0), (2.0, 1.0), (3.0, 100.0)], "red")
    lines = render(LineChart([series], log_y=True), 30, 8)
    assert y_labels(lines)[0] == "100"
    assert y_labels(lines)[-1] == "1"
