"""A CSV metric log: one row per epoch and split, for pandas and spreadsheets.

``metrics.csv`` has the columns ``epoch``, ``split``, then one per numeric metric in the order
first met; a metric without a value in a row (another split's) is an empty cell, and NaN is
written ``nan``: pandas reads both as NaN. Values are written in full (``repr``), so a float
read back is the one logged.

The table stays wide, one column per metric, because that is what ``pd.read_csv`` users plot
and compare at once; long format (a row per metric) would make every reader pivot it. The price
is that a metric the header lacks (a resumed run that adds one, a valid-only metric) changes
the header: the file is then rewritten whole with the union of the columns, as Lightning's
``CSVLogger`` does. A row for an epoch and split the file already holds replaces it (a run
resumed from an earlier checkpoint does those epochs again; ``read_run`` keeps the last too).
A rewrite goes through a temporary file and ``os.replace``, so a crash leaves the old file or
the new one; otherwise rows are appended, once per epoch.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from burnish.logger.base import numeric_values, open_to_append, write_atomically
from burnish.processor.events import EndSplitEvent, LearnerEvent, StartEvent

__all__ = ["CsvMetricLogger"]

FILE_NAME = "metrics.csv"
_KEY_COLUMNS = ("epoch", "split")

log = logging.getLogger("burnish.logger")

Row = dict[str, str]


class CsvMetricLogger:
    """Writes ``metrics.csv`` in ``directory``: each split's epoch values, one row per epoch and
    split; a resumed run continues the same file, a fresh one starts it again.

    A file there that is not such a log (its header does not start ``epoch,split``) is refused,
    not written over.
    """

    tick_seconds = 1.0

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.path = Path(directory) / FILE_NAME
        self._columns: list[str] = list(_KEY_COLUMNS)
        self._rows: dict[tuple[str, str], Row] = {}
        # Whether the file holds rows that are not log rows: the next write leaves them out.
        self._invalid = False
        if self.path.exists():
            self._read()

    def consume(self, events: Sequence[LearnerEvent]) -> None:
        if any(isinstance(event, StartEvent) and event.fresh for event in events):
            # A new run where an earlier one was (LearnerBuilder.overwrite()): its rows go.
            self._columns, self._rows, self._invalid = list(_KEY_COLUMNS), {}, False
            self._rewrite()
        ends = [event for event in events if isinstance(event, EndSplitEvent)]
        if not ends:
            return
        rows = [_row(event) for event in ends]
        rewrite = self._invalid
        for row in rows:
            key = (row["epoch"], row["split"])
            rewrite |= key in self._rows
            self._rows[key] = row
            for column in row:
                if column not in self._columns:
                    self._columns.append(column)
                    rewrite = True
        if rewrite or not self.path.exists():
            self._rewrite()
            self._invalid = False
        else:
            with open_to_append(self.path, newline="") as file:
                self._writer(file).writerows(rows)

    def close(self) -> None:
        """Nothing to do: each write opens and closes the file (rows come once an epoch)."""

    def _writer(self, file: TextIO) -> csv.DictWriter[str]:
        # A missing cell is empty; "\n" ends lines, as the log's other files do.
        return csv.DictWriter(file, self._columns, restval="", lineterminator="\n")

    def _rewrite(self) -> None:
        def write(file: TextIO) -> None:
            writer = self._writer(file)
            writer.writeheader()
            writer.writerows(self._rows.values())

        write_atomically(self.path, write, newline="")

    def _read(self) -> None:
        """Continue the file of an earlier run: its columns and rows. A row that is not one
        (cut short by a crash, or edited) is skipped, counted and warned about, and the next
        write leaves it out: pandas would read a torn row as a row of NaNs, or refuse a long one."""
        try:
            with self.path.open(encoding="utf-8", newline="") as file:
                text = file.read()
            lines = list(csv.reader(io.StringIO(text, newline="")))
            if text and not text.endswith("\n") and len(lines) > 1:
                # Its last row was cut short (a crash, a full disk), even where it still has
                # every cell: its last number may have lost digits.
                lines[-1] = []
        # Not UTF-8 text, or not CSV (a field over the csv module's limit): not a file this
        # logger wrote.
        except (UnicodeDecodeError, csv.Error):
            lines = [[]]
        if not lines:
            return  # an empty file: nothing to continue
        header = lines[0]
        if tuple(header[:2]) != _KEY_COLUMNS or len(set(header)) != len(header):
            raise ValueError(
                f"{self.path} is not a burnish CSV log (its header is not epoch, split and "
                "metric names): move it, or give CsvMetricLogger another directory"
            )
        self._columns = header
        skipped = 0
        for cells in lines[1:]:
            if len(cells) != len(header) or not cells[0].isdigit():  # torn, or edited
                skipped += 1
                continue
            row = dict(zip(header, cells, strict=True))
            self._rows[(row["epoch"], row["split"])] = row
        if skipped:
            self._invalid = True
            log.warning(
                "%s: skipped %d row(s) that are not valid log rows; the next write leaves them out",
                self.path,
                skipped,
            )


def _row(event: EndSplitEvent) -> Row:
    row = {"epoch": str(event.epoch), "split": event.split.value}
    for name, entry in numeric_values(event.metrics).items():
        if name in row:
            raise ValueError(
                f"CsvMetricLogger: metric {name!r} has the name of one of the CSV's key columns "
                f"{_KEY_COLUMNS}; rename it (metrics take a name argument)"
            )
        row[name] = repr(entry.value)
    return row
