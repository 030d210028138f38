"""Renderers: how training progress is shown to a person (Burn's ``renderer`` module).

The renderers themselves (and ``rich``, which draws them) are imported on first use, not with
the package: ``import burnish`` stays quick, and a run that passes its own renderer, or none
that draws, never loads the dashboard.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from burnish.renderer.base import MetricsRenderer

if TYPE_CHECKING:
    from burnish.learner.interrupt import Interrupter
    from burnish.renderer.chart import BrailleCanvas, LineChart, Series, decimate
    from burnish.renderer.plain import PlainRenderer
    from burnish.renderer.tui import TuiRenderer

__all__ = [
    "BrailleCanvas",
    "LineChart",
    "MetricsRenderer",
    "PlainRenderer",
    "Series",
    "TuiRenderer",
    "decimate",
    "default_renderer",
    "stdout_is_terminal",
]


def __getattr__(name: str) -> object:
    """The renderers and the chart, imported when first asked for (PEP 562)."""
    if name in ("BrailleCanvas", "LineChart", "Series", "decimate"):
        from burnish.renderer import chart  # noqa: PLC0415

        value: object = getattr(chart, name)
    elif name == "PlainRenderer":
        from burnish.renderer.plain import PlainRenderer  # noqa: PLC0415

        value = PlainRenderer
    elif name == "TuiRenderer":
        from burnish.renderer.tui import TuiRenderer  # noqa: PLC0415

        value = TuiRenderer
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def stdout_is_terminal() -> bool:
    """Whether stdout can show the dashboard: a TTY, and not ``TERM=dumb``."""
    try:
        tty = sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
    return tty and os.environ.get("TERM", "") != "dumb"


def default_renderer(
    interrupter: Interrupter, persistent: bool = False, history: Path | None = None
) -> MetricsRenderer:
    """The dashboard when stdout is a terminal, else plain lines for logs and CI.

    ``history``: a resumed run's ``metrics.jsonl``, for the dashboard to draw the run from its
    start (see :class:`TuiRenderer`).
    """
    if stdout_is_terminal():
        from burnish.renderer.tui import TuiRenderer  # noqa: PLC0415

        return TuiRenderer(interrupter, persistent=persistent, history=history)
    from burnish.renderer.plain import PlainRenderer  # noqa: PLC0415

    return PlainRenderer()
