"""Fault injection: many trials of kill -9 at random points, each followed by a resume, until the
run completes; every trial must end with the weights of a run never killed.

Run: .venv/bin/python benches/faults.py [--trials 10] [--kills 6]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fault_harness import trial, uninterrupted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        started = time.monotonic()
        reference = uninterrupted(root / "reference", args.epochs)
        one_run = time.monotonic() - started
        kills = in_writes = identical = 0
        for number in range(args.trials):
            weights, counts = trial(
                root / f"trial-{number}", args.epochs, args.kills, rng, max_delay=one_run
            )
            same = all(torch.equal(value, weights[name]) for name, value in reference.items())
            kills, in_writes, identical = (
                kills + counts.kills,
                in_writes + counts.kills_in_writes,
                identical + same,
            )
            print(
                f"trial {number + 1}: {counts.kills} kills ({counts.kills_in_writes} during a "
                f"checkpoint write), {counts.starts} starts, "
                f"{'identical' if same else 'DIFFERENT'} final weights",
                flush=True,
            )
    print(
        f"{args.trials} trials, {kills} kills ({in_writes} during checkpoint writes): "
        f"{identical} of {args.trials} ended with the uninterrupted run's weights"
    )
    if identical != args.trials:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
