"""``burnish summary RUN_DIR`` prints a run's summary table; ``burnish view RUN_DIR`` replays
its log in the dashboard."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from burnish.learner.summary import LearnerSummary
from burnish.logger.jsonl import read_run

__all__ = ["main"]


def _summary(directory: str) -> int:
    run = read_run(directory)
    epochs = max((epoch for (_, _, epoch) in run.epoch_entries), default=0)
    print(LearnerSummary.from_history(run.history, run.epoch_total or epochs))
    if run.end_reason is None:
        print("(the run has not ended: this is the log as far as it is written)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="burnish", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser("summary", help="print a run's summary table")
    summary.add_argument("directory", help="the run directory (holding metrics.jsonl)")
    args = parser.parse_args(argv)
    try:
        return _summary(args.directory)
    except FileNotFoundError as error:
        print(f"burnish: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
