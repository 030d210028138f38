"""The terminal dashboard renderer: Burn's TUI, drawn with rich on the alternate screen."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from burnish.learner.interrupt import Interrupter
from burnish.processor.events import LearnerEvent
from burnish.renderer.replay import LogReplay
from burnish.renderer.tui.dashboard import Dashboard
from burnish.renderer.tui.eta import EtaEstimator
from burnish.renderer.tui.keys import Controls
from burnish.renderer.tui.state import DashboardState
from burnish.renderer.tui.view import TerminalView

__all__ = ["TuiRenderer"]

log = logging.getLogger("burnish.renderer")


class TuiRenderer(TerminalView):
    """A live dashboard of plots, metrics, status, system use and progress.

    Runs on the renderer actor's thread: each :meth:`consume` folds the new events in, applies
    the keys pressed since, and draws a frame when one is due (see
    :class:`~burnish.renderer.tui.view.TerminalView` for how often).
    ``q`` then ``s`` calls ``interrupter.stop()`` (``q`` alone with ``confirm_stop=False``).
    With ``persistent``, :meth:`close` keeps the final dashboard up (arrows still browse it)
    until another key is pressed, and the learner waits for it.

    Keys are read only when ``input_fd`` (stdin by default) is a terminal. ``history``: the
    ``metrics.jsonl`` of a run being resumed; what it holds when the renderer is made (the
    run before the resume) is drawn before the first event, so plots show the whole run.
    """

    def __init__(
        self,
        interrupter: Interrupter | None = None,
        *,
        persistent: bool = False,
        confirm_stop: bool = True,
        console: Console | None = None,
        input_fd: int | None = -1,
        refresh_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        history: Path | None = None,
    ) -> None:
        self.interrupter = interrupter
        self.state = DashboardState(clock)
        controls = Controls(self._stop, confirm_stop=confirm_stop)
        self.dashboard = Dashboard(self.state, controls)
        super().__init__(
            self.dashboard,
            controls,
            lambda: len(self.state.numeric_metrics),
            persistent=persistent,
            console=console,
            input_fd=input_fd,
            refresh_seconds=refresh_seconds,
            clock=clock,
        )
        # Read on the renderer's thread at its first tick, up to where the log ends now: the
        # resumed run appends to it meanwhile.
        self._history: LogReplay | None = None
        if history is not None and history.is_file():
            self._history = LogReplay(history, end=history.stat().st_size)

    def _stop(self) -> None:
        if self.interrupter is not None:
            self.interrupter.stop()

    def consume(self, events: Sequence[LearnerEvent]) -> None:
        try:
            self.session  # noqa: B018 - the terminal is taken at the first tick
            if self._history is not None:
                self._draw_history(self._history)
                self._history = None
            self.refresh(self.state.apply(events))
        except BaseException:
            self._failed = True
            raise

    def _draw_history(self, history: LogReplay) -> None:
        """Fold in the run's logged history: every step (the log has no more than the run
        made), then the ETA measured afresh, as the history was read at one instant."""
        state = self.state
        sampled, state.max_steps_per_tick = state.max_steps_per_tick, sys.maxsize
        try:
            state.apply(history.poll())
        finally:
            state.max_steps_per_tick = sampled
            state.eta = EtaEstimator()
        if history.skipped:
            log.warning("%s: %d bad records were not drawn", history.path, history.skipped)

    def _keep_open(self) -> bool:
        return self.persistent and self.state.end_reason != "error"
