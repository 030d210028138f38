"""Per-class metric work as the classes grow: burnish against TorchMetrics, on the CPU.

Run with ``python benches/classes.py``; prints markdown tables (under a minute with
the defaults). For 10, 100 and 1000 classes, an epoch of ``--steps`` steps of ``--batch`` items
(softmax probabilities of logits favouring the target) through:

- exact multiclass AUROC (macro), burnish ``AurocMetric.multiclass()`` against TorchMetrics
  ``AUROC(task="multiclass")``;
- binned multiclass AUROC, ``bins=1000`` against ``thresholds=1000``;
- macro Precision + Recall + F1 together, against a ``MetricCollection`` (compute groups on).

burnish is fed two ways: as the learner feeds it (blocks of as many steps as the learner's
default :class:`~burnish.processor.split.BlockLimits` allow, each updated with ``update_block``
and read as the metric processor reads a block: every step's numbers in one transfer), and step
by step (each step's output given to ``update``). TorchMetrics updates every step. Every run
ends with the epoch's ``compute`` and its values read; the cost reported is the run's time over
its steps, in CPU time of the thread (one torch thread: every library runs on it, and the time
other processes take on a shared machine is not counted). Runs are interleaved and repeated,
and the best of each kept.

TorchMetrics' binned multiclass AUROC compares every score with every threshold (seconds a
step with 1000 classes): its runs take only the first steps whose updates fit ``--budget``
seconds (at least one; the count is shown), its cost per step being that of its updates. A
TorchMetrics run over the budget is not repeated.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torchmetrics

from burnish.adaptor import AurocInput, ConfusionStatsInput
from burnish.metric import (
    AurocMetric,
    FBetaScoreMetric,
    MetricMetadata,
    PrecisionMetric,
    RecallMetric,
    resolve_entries,
)
from burnish.metric.block import InputBlock
from burnish.metric.entry import BlockResult
from burnish.output import ClassificationOutput
from burnish.processor.events import Split
from burnish.processor.read import PendingStep, UnreadSteps
from burnish.processor.split import BlockLimits

META = MetricMetadata.fake()
# CPU time of this thread (every library runs on it, with one thread): other processes on a
# shared machine take turns with it, which wall time would count.
_clock = time.thread_time
Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Family:
    """A metric workload: burnish's metrics and their TorchMetrics equivalent."""

    name: str
    kind: type[Any]
    burnish: Callable[[], list[Any]]
    torchmetrics: Callable[[int], torchmetrics.Metric | torchmetrics.MetricCollection]


def _tm_auroc(thresholds: int | None) -> Callable[[int], torchmetrics.Metric]:
    def make(classes: int) -> torchmetrics.Metric:
        return torchmetrics.AUROC(
            task="multiclass", num_classes=classes, average="macro", thresholds=thresholds
        )

    return make


_NAMES = ("precision", "recall", "f1")


def _tm_scores(classes: int) -> torchmetrics.MetricCollection:
    task: dict[str, Any] = {"task": "multiclass", "num_classes": classes, "average": "macro"}
    kinds = (torchmetrics.Precision, torchmetrics.Recall, torchmetrics.F1Score)
    return torchmetrics.MetricCollection(
        {name: kind(**task) for name, kind in zip(_NAMES, kinds, strict=True)}
    )


FAMILIES = (
    Family("exact AUROC", AurocInput, lambda: [AurocMetric.multiclass()], _tm_auroc(None)),
    Family(
        "binned AUROC (1000)",
        AurocInput,
        lambda: [AurocMetric.multiclass(bins=1000)],
        _tm_auroc(1000),
    ),
    Family(
        "macro P + R + F1",
        ConfusionStatsInput,
        lambda: [
            PrecisionMetric.multiclass(),
            RecallMetric.multiclass(),
            FBetaScoreMetric.multiclass(),
        ],
        _tm_scores,
    ),
)


def epoch_data(classes: int, steps: int, batch: int) -> list[Batch]:
    generator = torch.Generator().manual_seed(classes)
    data = []
    for _ in range(steps):
        targets = torch.randint(0, classes, (batch,), generator=generator)
        logits = torch.randn(batch, classes, generator=generator)
        logits[torch.arange(batch), targets] += 1.0
        data.append((logits.softmax(dim=1), targets))
    return data


def _outputs(data: Sequence[Batch]) -> list[ClassificationOutput]:
    # New outputs every run: each keeps its step's derived work (argmax, joins) in its memo.
    loss = torch.zeros(())
    return [ClassificationOutput(loss, scores, targets) for scores, targets in data]


def _epoch_values(metrics: Sequence[Any]) -> list[float]:
    entries = [metric.compute() for metric in metrics]
    resolve_entries(entries)
    _ = [entry.formatted for entry in entries]
    return [entry.numeric.value for entry in entries]


def run_blocks(family: Family, data: Sequence[Batch]) -> tuple[float, list[float]]:
    """An epoch as the learner runs it: blocks of steps, each updated and read at once."""
    metrics = family.burnish()
    outputs = _outputs(data)
    block_steps = BlockLimits().steps_for(outputs[0])
    start = _clock()
    for first in range(0, len(outputs), block_steps):
        steps = outputs[first : first + block_steps]
        block = InputBlock(steps, family.kind)
        metadata = [META] * len(steps)
        columns: list[BlockResult] = [metric.update_block(block, metadata) for metric in metrics]
        pending = [
            PendingStep(output, 0, first + index, (), 0.0, (), None)
            for index, output in enumerate(steps)
        ]
        higher = [True] * len(columns)
        UnreadSteps(Split.TRAIN, 1, 1, None, pending, columns, higher).read()
    values = _epoch_values(metrics)
    return _clock() - start, values


def run_steps(family: Family, data: Sequence[Batch]) -> tuple[float, list[float]]:
    """An epoch of standalone updates, one per step (their entries left unread, as
    TorchMetrics' updates return none)."""
    metrics = family.burnish()
    outputs = _outputs(data)
    start = _clock()
    for output in outputs:
        for metric in metrics:
            metric.update(output, META)
    values = _epoch_values(metrics)
    return _clock() - start, values


def run_torchmetrics(
    family: Family, classes: int, data: Sequence[Batch]
) -> tuple[float, list[float]]:
    metric = family.torchmetrics(classes)
    start = _clock()
    for scores, targets in data:
        metric.update(scores, targets)
    result = metric.compute()
    found = [result[name] for name in _NAMES] if isinstance(result, dict) else [result]
    values = [float(value) for value in found]
    return _clock() - start, values


@dataclass
class Row:
    classes: int
    family: str
    steps: int
    batch: int
    blocks: float = math.inf
    stepwise: float = math.inf
    theirs: float = math.inf
    their_steps: int = 0
    agree: str = ""


def measure(
    classes: int, family: Family, data: Sequence[Batch], repeats: int, budget: float
) -> Row:
    steps, batch = len(data), data[0][0].shape[0]
    run_blocks(family, data[:2])  # warm-up
    run_steps(family, data[:2])
    # TorchMetrics takes the steps whose updates fit the budget (from one update's time).
    metric = family.torchmetrics(classes)
    start = _clock()
    metric.update(*data[0])
    their_steps = max(1, min(steps, int(budget / max(_clock() - start, 1e-9))))
    row = Row(classes, family.name, steps, batch, their_steps=their_steps)
    ours: list[float] = []
    theirs: list[float] = []
    for repeat in range(repeats):
        elapsed, ours = run_blocks(family, data)
        row.blocks = min(row.blocks, elapsed / steps)
        elapsed, _ = run_steps(family, data)
        row.stepwise = min(row.stepwise, elapsed / steps)
        if repeat == 0 or row.theirs * their_steps < budget:  # a slow run is not repeated
            elapsed, theirs = run_torchmetrics(family, classes, data[:their_steps])
            row.theirs = min(row.theirs, elapsed / their_steps)
    if their_steps == steps:
        row.agree = " / ".join(f"{a:.4f} vs {b:.4f}" for a, b in zip(ours, theirs, strict=True))
    else:
        row.agree = "(fewer steps)"
    return row


def _peak_rss() -> int | None:
    """This process's peak resident memory in bytes since the last reset (Linux), or None."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def _reset_peak_rss() -> bool:
    """Reset the peak resident memory to the current one (Linux: ``clear_refs`` 5)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def exact_epoch(classes: int, items: int) -> tuple[float, float | None, int]:
    """Exact multiclass AUROC (of logits, ``softmax=True``) over an epoch of ``items`` kept in
    batches of 64: its compute's CPU seconds, the memory its compute takes beyond the state
    (the growth of the peak resident memory; None where it cannot be read) and the state's
    bytes. Run in a process of its own (:func:`epoch_in_a_process`): memory freed earlier in a
    process is reused without growing it."""
    generator = torch.Generator().manual_seed(classes)
    metric = AurocMetric.multiclass(softmax=True)
    for first in range(0, items, 64):
        targets = torch.randint(0, classes, (min(64, items - first),), generator=generator)
        logits = torch.randn(targets.shape[0], classes, generator=generator)
        logits[torch.arange(targets.shape[0]), targets] += 2.0
        metric.update(ClassificationOutput(torch.zeros(()), logits, targets), META)
    reset = _reset_peak_rss()
    before = _peak_rss()
    start = _clock()
    _epoch_values([metric])
    seconds = _clock() - start
    after = _peak_rss()
    grown = (after - before) / 2**20 if reset and before is not None and after else None
    return seconds, grown, metric.state_nbytes


def epoch_in_a_process(classes: int, items: int, repeats: int) -> tuple[float, float | None, int]:
    """:func:`exact_epoch` in fresh processes, the best of ``repeats``."""
    runs = []
    for _ in range(repeats):
        command = [sys.executable, __file__, "--epoch-compute", str(classes), str(items)]
        found = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        runs.append(json.loads(found.splitlines()[-1]))
    seconds = min(run[0] for run in runs)
    grown = [run[1] for run in runs if run[1] is not None]
    return seconds, min(grown) if grown else None, runs[0][2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--steps", type=int, default=96)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per TorchMetrics run")
    parser.add_argument("--epoch-compute", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.epoch_compute:
        print(json.dumps(exact_epoch(*args.epoch_compute)))
        return
    # TorchMetrics warns of classes without positives in its first steps.
    warnings.filterwarnings("ignore", "No positive samples", UserWarning)

    rows = []
    for classes in args.classes:
        data = epoch_data(classes, args.steps, args.batch)
        rows.extend(
            measure(classes, family, data, args.repeats, args.budget) for family in FAMILIES
        )

    print(
        f"## Per-step cost of update + epoch compute ({args.steps} steps of {args.batch}, "
        f"1 thread, CPU time, best of {args.repeats})\n"
    )
    print(
        "| classes | metric | burnish blocks µs/step | burnish per step µs/step "
        "| TorchMetrics µs/step (steps) | vs TM (blocks) | vs TM (per step) "
        "| values (burnish vs TM) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row.classes} | {row.family} | {1e6 * row.blocks:.0f} | {1e6 * row.stepwise:.0f} "
            f"| {1e6 * row.theirs:.0f} ({row.their_steps}) | **{row.theirs / row.blocks:.1f}x** "
            f"| **{row.theirs / row.stepwise:.1f}x** | {row.agree} |"
        )

    print(
        "\n## Exact AUROC's epoch compute (logits, softmax=True; 20,000 items in batches of 64; "
        f"a fresh process each, best of {args.repeats})\n"
    )
    print("| classes | compute ms (CPU) | state MiB | memory beyond the state, MiB (peak RSS) |")
    print("|---|---:|---:|---:|")
    for classes in args.classes:
        seconds, grown, state = epoch_in_a_process(classes, 20_000, args.repeats)
        shown = "n/a" if grown is None else f"{grown:.0f}"
        print(f"| {classes} | {1e3 * seconds:.1f} | {state / 2**20:.0f} | {shown} |")

    print("\n## burnish as the classes grow (blocks): cost per score, binned against exact\n")
    print(
        "| classes | exact AUROC ns/score | binned AUROC ns/score | binned / exact "
        "| P + R + F1 µs/step | P + R + F1 ns/score |"
    )
    print("|---|---|---|---|---|---|")
    for classes in args.classes:
        exact, binned, scores = (row for row in rows if row.classes == classes)
        per_score = 1e9 / (args.batch * classes)
        print(
            f"| {classes} | {exact.blocks * per_score:.1f} | {binned.blocks * per_score:.1f} "
            f"| **{binned.blocks / exact.blocks:.2f}** | {1e6 * scores.blocks:.0f} "
            f"| {scores.blocks * per_score:.2f} |"
        )


if __name__ == "__main__":
    main()
