"""How long the dashboard takes to draw one frame: the renderer's cost per tick.

Fills the dashboard with 8 metrics x 2 splits, each holding a 250-point full history (and a
1000-point recent window), then renders the whole layout at 120x40 into a string, as a
terminal frame. Then the same for ``burnish view A B C``: three such runs written to logs,
replayed as the command replays them, a line per run. Reports the median and the 90th
percentile per view. Budget: 5 ms median for the full-history view (250 points a line); the
recent view draws from 1000 points a line and is reported alongside.

    python benches/render.py [--frames 200]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console, RenderableType

from burnish.logger.jsonl import JsonlMetricLogger
from burnish.processor.events import LearnerEvent
from burnish.renderer.demo import synthetic_events
from burnish.renderer.tui import Controls, Dashboard, DashboardState, View
from burnish.renderer.tui.compare import CompareControls, Comparison
from burnish.renderer.tui.compare_screen import CompareScreen

BUDGET_MS = 5.0


def run_events(seed: int = 0) -> list[LearnerEvent]:
    return list(synthetic_events(4, 1000, 1000, seed=seed, text_metric=False))


def filled_state() -> DashboardState:
    # One batch for the whole run: read every step, as the ticks during a run would.
    state = DashboardState(clock=lambda: 100.0, max_steps_per_tick=10**9)
    events = run_events()
    state.apply(events[:-1])
    for metric in state.numeric_metrics:
        for history in metric.splits.values():
            assert len(history.full) >= 125, len(history.full)
    return state


def compared_runs(directory: Path, count: int = 3) -> Comparison:
    """``count`` runs like the one above, logged and read back as ``burnish view`` reads them."""
    for seed in range(count):
        logger = JsonlMetricLogger(directory / f"run-{seed}")
        logger.consume(run_events(seed))
        logger.close()
    comparison = Comparison.of_directories([directory / f"run-{seed}" for seed in range(count)])
    comparison.poll()
    return comparison


def frame_times(
    dashboard: RenderableType, frames: int, force_terminal: bool
) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU (this thread's) milliseconds per frame: on a shared machine the CPU
    time is the steadier measure of the renderer's own cost."""
    console = Console(file=io.StringIO(), width=120, height=40, force_terminal=force_terminal)
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(frames):
        console.file = io.StringIO()
        started, started_cpu = time.perf_counter(), time.thread_time()
        console.print(dashboard)
        cpu.append((time.thread_time() - started_cpu) * 1000)
        wall.append((time.perf_counter() - started) * 1000)
    return wall, cpu


def report(title: str, screen: RenderableType, controls: Controls, frames: int) -> float:
    """Prints each view's frame times; returns the full-history view's worst median."""
    print(title)
    worst = 0.0
    for view in View:
        controls.view = view
        for force_terminal in (False, True):
            wall, cpu = frame_times(screen, frames, force_terminal)
            median = statistics.median(wall)
            p90 = statistics.quantiles(wall, n=10)[-1]
            if view is View.FULL:
                worst = max(worst, median)
            kind = "ANSI colours" if force_terminal else "plain text"
            print(
                f"{view.value:>13} view, {kind:>12}: median {median:.2f} ms, p90 {p90:.2f} ms"
                f" (CPU median {statistics.median(cpu):.2f} ms)"
            )
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    state = filled_state()
    points = sum(
        len(history.full) for metric in state.numeric_metrics for history in metric.splits.values()
    )
    controls = Controls(lambda: None)
    title = f"dashboard: {len(state.numeric_metrics)} metrics x 2 splits, {points} points"
    worst = report(title, Dashboard(state, controls), controls, args.frames)
    with tempfile.TemporaryDirectory() as directory:
        comparison = compared_runs(Path(directory))
    compare_controls = CompareControls(lambda: None, comparison.splits)
    screen = CompareScreen(comparison, compare_controls)
    title = f"comparison of {len(comparison.runs)} runs (burnish view A B C), train split"
    worst = max(worst, report(title, screen, compare_controls, args.frames))
    verdict = "within" if worst <= BUDGET_MS else "OVER"
    print(f"full history: worst median {worst:.2f} ms, {verdict} the {BUDGET_MS:.0f} ms budget")


if __name__ == "__main__":
    main()
