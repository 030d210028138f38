"""Runs compared in the terminal (``burnish view A B ...``): each run's log replayed into a
dashboard state of its own, as ``burnish view A`` replays one, and a metric's lines of one
split drawn a run per line."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from burnish.logger.jsonl import FILE_NAME
from burnish.processor.events import Split
from burnish.renderer.chart import Series
from burnish.renderer.replay import LogReplay
from burnish.renderer.tui.keys import Controls, View
from burnish.renderer.tui.plots import split_points
from burnish.renderer.tui.state import DashboardState

__all__ = [
    "CompareControls",
    "ComparePlots",
    "ComparedRun",
    "Comparison",
    "run_marker",
    "run_names",
    "run_style",
]

RUN_STYLES = (
    "bright_red",
    "bright_blue",
    "bright_green",
    "bright_magenta",
    "bright_cyan",
    "bright_yellow",
)
_MARKERS = "123456789abcdefghijklmnopqrstuvwxyz"
SPLIT_KEYS = ("s", "S", "\t")


def run_style(index: int) -> str:
    """The colour of the ``index``-th run's line (colours repeat past six runs)."""
    return RUN_STYLES[index % len(RUN_STYLES)]


def run_marker(index: int) -> str:
    """The character that ends the ``index``-th run's line and precedes its name: with colours
    off, or past the few dash patterns, it is what tells runs apart."""
    return _MARKERS[index] if index < len(_MARKERS) else "+"


def run_names(directories: Sequence[Path]) -> list[str]:
    """A short name per run: its directory's name, with as many parent folders as tell equal
    names apart (``a/digits`` and ``b/digits``); the same directory given twice is numbered."""
    parts = [directory.resolve().parts for directory in directories]
    names: list[str] = []
    for index, own in enumerate(parts):
        depth = 1
        while depth < len(own) and any(
            other != own and other[-depth:] == own[-depth:] for other in parts
        ):
            depth += 1
        names.append("/".join(own[-depth:]) or str(directories[index]))
    repeated = {name for name in names if names.count(name) > 1}
    counts: dict[str, int] = {}
    numbered: list[str] = []
    for name in names:
        counts[name] = counts.get(name, 0) + 1
        numbered.append(f"{name} ({counts[name]})" if name in repeated else name)
    return numbered


@dataclass
class ComparedRun:
    """One run of a comparison: its log, followed as it grows, folded into its own state."""

    name: str
    replay: LogReplay
    # The log holds no more steps than the run made: every one is plotted.
    state: DashboardState = field(
        default_factory=lambda: DashboardState(max_steps_per_tick=sys.maxsize)
    )

    def poll(self) -> bool:
        """Fold in what the log gained since the last poll; ``True`` when it gained any."""
        return self.state.apply(self.replay.poll())

    @property
    def waiting(self) -> bool:
        """Whether the run has not written its log yet (nothing read, and no file)."""
        return not self.state.splits and not self.replay.path.exists()


class Comparison:
    """Runs side by side: the union of their numeric metrics (in the order runs first report
    them) and of their splits, and a line per run of any metric in any split."""

    def __init__(self, runs: Sequence[ComparedRun]) -> None:
        self.runs = list(runs)

    @classmethod
    def of_directories(cls, directories: Sequence[Path]) -> Comparison:
        names = run_names(directories)
        return cls(
            [
                ComparedRun(name, LogReplay(directory / FILE_NAME))
                for name, directory in zip(names, directories, strict=True)
            ]
        )

    def poll(self) -> bool:
        """Poll every run still going; ``True`` when any gained data."""
        updated = False
        for run in self.runs:
            if not run.replay.ended:
                updated |= run.poll()
        return updated

    @property
    def ended(self) -> bool:
        """Whether every run's log has its end record."""
        return all(run.replay.ended for run in self.runs)

    def metric_names(self) -> list[str]:
        names: dict[str, None] = {}
        for run in self.runs:
            names.update((metric.name, None) for metric in run.state.numeric_metrics)
        return list(names)

    def splits(self) -> list[Split]:
        """The splits any run has numeric values of, train first."""
        present = {
            split
            for run in self.runs
            for metric in run.state.numeric_metrics
            for split in metric.splits
        }
        return [split for split in Split if split in present]

    def series(self, name: str, split: Split | None, view: View, max_points: int) -> list[Series]:
        """Metric ``name`` in ``split``, a line per run (empty for a run without it), each in
        its run's colour and with its marker."""
        lines: list[Series] = []
        for index, run in enumerate(self.runs):
            metric = run.state.metrics.get(name)
            history = None if metric is None or split is None else metric.splits.get(split)
            points = (
                []
                if history is None or split is None
                else split_points(run.state, split, history, view, max_points)
            )
            lines.append(Series(run.name, points, run_style(index), run_marker(index)))
        return lines


class CompareControls(Controls):
    """The dashboard's keys (``q`` quits at once) and ``s`` or tab: the next split of those
    ``splits()`` gives."""

    def __init__(self, on_stop: Callable[[], None], splits: Callable[[], Sequence[Split]]) -> None:
        super().__init__(on_stop, confirm_stop=False)
        self.splits = splits
        self.chosen: Split | None = None

    @property
    def split(self) -> Split | None:
        """The split shown: the one chosen while it has data, else the first."""
        splits = self.splits()
        if self.chosen in splits:
            return self.chosen
        return splits[0] if splits else None

    def handle(self, key: str, metric_count: int) -> bool:
        if key not in SPLIT_KEYS:
            return super().handle(key, metric_count)
        splits = list(self.splits())
        current = self.split
        if current is None or len(splits) < 2:
            return False
        self.chosen = splits[(splits.index(current) + 1) % len(splits)]
        return True


class ComparePlots:
    """The Plots panel's lines for a comparison: the split the controls chose, a line per run."""

    def __init__(self, comparison: Comparison, controls: CompareControls) -> None:
        self.comparison = comparison
        self.controls = controls

    def metric_names(self) -> list[str]:
        return self.comparison.metric_names()

    def series(self, name: str, view: View, max_points: int) -> list[Series]:
        return self.comparison.series(name, self.controls.split, view, max_points)

    def caption(self) -> str:
        split = self.controls.split
        return "" if split is None else split.value
