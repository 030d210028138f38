"""The summary printed at the end of training, as Burn prints it: per split and metric, the
minimum and maximum epoch values and the epochs they were reached at."""

from __future__ import annotations

import math
from dataclasses import dataclass

from burnish.learner.history import Direction, MetricHistory
from burnish.processor.events import Split

__all__ = ["LearnerSummary", "SummaryRow", "escape_controls"]


def escape_controls(text: str, keep: str = "") -> str:
    """``text`` made safe to print: each character that is not printable (a control such as the
    ESC that starts a terminal's escape sequences, a bidi override, a lone surrogate) is shown
    as its Python escape (``\\x1b``), save those in ``keep``; printable Unicode stays."""
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() or char in keep else char.encode("unicode_escape").decode()
        for char in text
    )


@dataclass(frozen=True, slots=True)
class SummaryRow:
    split: Split
    metric: str
    min_value: float
    min_epoch: int
    max_value: float
    max_epoch: int


def _format(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value != 0 and (abs(value) < 1e-2 or abs(value) >= 1e6):
        return f"{value:.3e}"
    return f"{value:.3f}"


@dataclass(frozen=True, slots=True)
class LearnerSummary:
    epochs: int
    rows: tuple[SummaryRow, ...]
    model: str = ""

    @staticmethod
    def from_history(history: MetricHistory, model: str = "") -> LearnerSummary:
        """``epochs``: the epochs completed, as Burn counts them (the last with a value), not
        those configured: a run stopped or stopped early has run fewer."""
        rows = []
        epochs = 0
        for split in history.splits():
            for name in history.names(split):
                values = history.values(split, name)
                epochs = max([epochs, *values])
                low = history.best_epoch(split, name, Direction.LOWEST)
                high = history.best_epoch(split, name, Direction.HIGHEST)
                if low is None or high is None:
                    rows.append(SummaryRow(split, name, math.nan, 0, math.nan, 0))
                else:
                    rows.append(SummaryRow(split, name, values[low], low, values[high], high))
        return LearnerSummary(epochs, tuple(rows), model)

    def __str__(self) -> str:
        header = ("Split", "Metric", "Min.", "Epoch", "Max.", "Epoch")
        body = [
            (
                row.split.value.capitalize(),
                escape_controls(row.metric),
                _format(row.min_value),
                str(row.min_epoch or "-"),
                _format(row.max_value),
                str(row.max_epoch or "-"),
            )
            for row in self.rows
        ]
        widths = [max(len(cells[i]) for cells in [header, *body]) for i in range(len(header))]

        def line(cells: tuple[str, ...]) -> str:
            return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

        rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        title = " Learner Summary ".center(len(rule), "=")
        lines = [title]
        if self.model:
            lines.append(f"Model: {escape_controls(self.model)}")
        lines += [f"Total Epochs: {self.epochs}", "", line(header), rule, *map(line, body)]
        return "\n".join(lines)
