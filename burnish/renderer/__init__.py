"""Renderers: how training progress is shown to a person (Burn's ``renderer`` module)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from burnish.learner.interrupt import Interrupter
from burnish.renderer.base import MetricsRenderer
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
        return TuiRenderer(interrupter, persistent=persistent, history=history)
    return PlainRenderer()
