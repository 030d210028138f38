"""What the learner adds per epoch and per fit, and per step as the model's step grows.

(a) Short epochs: the reference workload's model and metrics (``benches/learner.py``: MLP
    64 -> 128 -> 10, batch 64, SGD; loss, accuracy, macro precision, recall, F1, exact AUROC;
    the plain renderer) over 320 steps, as 40 epochs of 8 steps and as one epoch of 320, each
    against a plain PyTorch loop over the same batches. What 40 epochs add over one is the
    learner's fixed cost per epoch (epoch-end values, flushes, records, threads' wake-ups).
(b) Slower steps: one epoch of ``--steps`` steps of MLP 64 -> hidden -> 10 for hidden sizes
    32 to 4096 (a step of about 0.3 to 4 ms here): the learner's added time per step over the
    plain loop, in process CPU time (every thread: the processor's and the loggers' work
    counts) and wall time, and the page faults it adds per step. The fit's fixed cost is in
    both, the same at every size. A plain loop's CPU time moves by several percent from run to
    run on a shared machine, as much as the learner adds to a 3 ms step: the learner's own
    work is also measured apart, in runs of its own, as the CPU time of its training thread
    outside loading batches, the model's step, backward and the optimizer's step (what a plain
    loop does), and of its other threads.

Each learner run is paired with a plain-loop run next to it (in turns first), and every pair
runs once per repeat; the tables show the medians of the pairs' differences and ratios, which
the load of other processes on a shared machine moves less than it moves whole runs. CPU time
is the process's, every thread's: the processor's and the consumers' work counts in full, as it
shares the interpreter lock with training. The page faults are the allocator's (glibc returns
freed memory to the system when the top of its heap is free, and the next step faults it in
again): they come and go with the heap's layout from run to run.

Run: .venv/bin/python benches/epochs.py [--repeats 7] [--steps 600] [--hidden 32 512 2048 4096]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).parent))

from learner import BATCH, CLASSES, FEATURES, LR, quiet, reference_metrics

import burnish
from burnish import ClassificationOutput, LearnerBuilder, TrainOutput, TrainStep
from burnish.learner.optimization import Optimization
from burnish.renderer import PlainRenderer

Batch = tuple[torch.Tensor, torch.Tensor]
REFERENCE_HIDDEN = 128


def data(samples: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(samples, FEATURES, generator=generator)
    teacher = torch.randn(FEATURES, CLASSES, generator=generator)
    y = (x @ teacher + 0.5 * torch.randn(samples, CLASSES, generator=generator)).argmax(1)
    return TensorDataset(x, y)


def loader(dataset: TensorDataset) -> DataLoader[Batch]:
    return DataLoader(
        dataset, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(1)
    )


def mlp(hidden: int) -> nn.Sequential:
    torch.manual_seed(2)
    return nn.Sequential(nn.Linear(FEATURES, hidden), nn.ReLU(), nn.Linear(hidden, CLASSES))


class Mlp(nn.Module, TrainStep[Batch, ClassificationOutput]):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.model = mlp(hidden)

    def train_step(self, batch: Batch) -> TrainOutput[ClassificationOutput]:
        x, y = batch
        logits = self.model(x)
        loss = nn.functional.cross_entropy(logits, y)
        return TrainOutput(loss, ClassificationOutput(loss, logits, y))


def plain(dataset: TensorDataset, epochs: int, hidden: int) -> None:
    model = mlp(hidden)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    for _ in range(epochs):
        for x, y in loader(dataset):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()


def learner(
    dataset: TensorDataset,
    epochs: int,
    hidden: int,
    batches: Callable[[TensorDataset], Iterable[Batch]] = loader,
) -> None:
    """The reference configuration: six metrics, the plain renderer (and the JSONL log)."""
    model = Mlp(hidden)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    with tempfile.TemporaryDirectory() as directory:
        builder = LearnerBuilder(directory).renderer(PlainRenderer(stream=io.StringIO()))
        for metric in reference_metrics():
            builder.metric_train_numeric(metric)
        builder.num_epochs(epochs).build(model, optimizer).fit(batches(dataset))


class Outside:
    """The training thread's CPU seconds outside the learner's own work: loading batches, the
    model's step, backward and the optimizer's step (a plain loop's work)."""

    seconds = 0.0

    @staticmethod
    def timed(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                Outside.seconds += time.thread_time() - start

        return timed


class TimedLoader:
    """A data loader whose batches' loading counts as :class:`Outside`."""

    def __init__(self, dataset: TensorDataset) -> None:
        self.loader = loader(dataset)
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Batch]:
        batches = iter(self.loader)
        next_batch = Outside.timed(batches.__next__)
        while True:
            try:
                yield next_batch()
            except StopIteration:
                return


@contextlib.contextmanager
def timing_outside() -> Iterator[None]:
    """The model's step, backward and optimizer step timed as :class:`Outside` (the learner's
    calls into torch for them, wrapped for the while)."""
    patched = [(Mlp, "train_step"), (Optimization, "backward"), (Optimization, "step")]
    originals = [getattr(owner, name) for owner, name in patched]
    for owner, name in patched:
        setattr(owner, name, Outside.timed(getattr(owner, name)))
    try:
        yield
    finally:
        for (owner, name), original in zip(patched, originals, strict=True):
            setattr(owner, name, original)


def learner_parts(dataset: TensorDataset, hidden: int) -> tuple[float, float]:
    """CPU seconds of one epoch's learner run: its own work on the training thread (outside
    the loading, the model's step, backward and the optimizer's), and its other threads'."""
    Outside.seconds = 0.0
    with timing_outside():
        main, process = time.thread_time(), time.process_time()
        learner(dataset, 1, hidden, TimedLoader)
        main, process = time.thread_time() - main, time.process_time() - process
    return main - Outside.seconds, process - main


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float
    faults: int


def timed(run: Callable[[], None]) -> Run:
    """One run's wall time, process CPU time (every thread) and minor page faults."""
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return Run(wall, cpu, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults)


Pair = tuple[Run, Run]


def paired(
    pairs: dict[str, tuple[Callable[[], None], Callable[[], None]]], repeats: int
) -> dict[str, list[Pair]]:
    """Each (plain loop, learner) pair run back to back, in turns first, every pair once per
    repeat: each difference is taken over a few seconds, which the load of other processes on
    a shared machine moves less than it moves a whole bench. Everything runs once first."""
    for plain_run, learner_run in pairs.values():
        plain_run()
        learner_run()
    found: dict[str, list[Pair]] = {name: [] for name in pairs}
    for repeat in range(repeats):
        for name, (plain_run, learner_run) in pairs.items():
            if repeat % 2:
                ours = timed(learner_run)
                base = timed(plain_run)
            else:
                base = timed(plain_run)
                ours = timed(learner_run)
            found[name].append((base, ours))
    return found


def median(values: Iterable[float]) -> float:
    return float(statistics.median(values))


def added(pairs: list[Pair], of: Callable[[Run], float]) -> float:
    """The median of the learner's excess over the plain loop in each pair."""
    return median(of(ours) - of(base) for base, ours in pairs)


def ratio(pairs: list[Pair], of: Callable[[Run], float]) -> float:
    """The median of the learner's ratio to the plain loop in each pair."""
    return median(of(ours) / of(base) for base, ours in pairs)


def wall(run: Run) -> float:
    return run.wall


def cpu(run: Run) -> float:
    return run.cpu


def faults(run: Run) -> float:
    return run.faults


def short_epochs(repeats: int) -> list[str]:
    steps = 320
    shapes = {"40 epochs x 8 steps": (40, 8), "1 epoch x 320 steps": (1, steps)}
    pairs = {}
    for shape, (epochs, per_epoch) in shapes.items():
        dataset = data(per_epoch * BATCH)
        pairs[shape] = (
            functools.partial(plain, dataset, epochs, REFERENCE_HIDDEN),
            functools.partial(learner, dataset, epochs, REFERENCE_HIDDEN),
        )
    found = paired(pairs, repeats)
    lines = [
        f"(a) {steps} steps of the reference workload, {repeats} paired repeats, medians",
        "",
        "| epochs | plain loop ms (CPU) | learner ms (CPU) | x plain (wall) | x plain (CPU) "
        "| added ms/epoch (CPU) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for shape, (epochs, _) in shapes.items():
        runs = found[shape]
        lines.append(
            f"| {shape} | {1e3 * median(base.cpu for base, _ in runs):.0f} "
            f"| {1e3 * median(ours.cpu for _, ours in runs):.0f} "
            f"| {ratio(runs, wall):.2f}x | {ratio(runs, cpu):.2f}x "
            f"| {1e3 * added(runs, cpu) / epochs:.2f} |"
        )
    many, one = (added(found[shape], cpu) for shape in shapes)
    lines += [
        "",
        f"fixed per epoch (CPU; what 40 epochs add over one, over 39): "
        f"{1e3 * (many - one) / 39:.2f} ms; the fit and its steps (one epoch): {1e3 * one:.1f} ms",
    ]
    return lines


def slow_steps(repeats: int, steps: int, hiddens: list[int]) -> list[str]:
    dataset = data(steps * BATCH)
    pairs = {
        str(hidden): (
            functools.partial(plain, dataset, 1, hidden),
            functools.partial(learner, dataset, 1, hidden),
        )
        for hidden in hiddens
    }
    found = paired(pairs, repeats)
    # The learner's own work apart, in runs of their own: a plain loop's CPU time moves by
    # several percent from run to run here, more than the learner adds to a slow step.
    parts: dict[int, list[tuple[float, float]]] = {hidden: [] for hidden in hiddens}
    for _ in range(repeats):
        for hidden in hiddens:
            parts[hidden].append(learner_parts(dataset, hidden))
    lines = [
        f"(b) one epoch of {steps} steps, MLP 64 -> hidden -> 10, {repeats} repeats, medians",
        "",
        "| hidden | plain step µs (CPU) | added µs/step (CPU) | added µs/step (wall) "
        "| x plain (CPU) | added page faults/step | learner's own µs/step: training thread "
        "| other threads | both |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    own: dict[int, float] = {}
    for hidden in hiddens:
        runs = found[str(hidden)]
        main = median(part[0] for part in parts[hidden]) / steps
        others = median(part[1] for part in parts[hidden]) / steps
        own[hidden] = main + others
        lines.append(
            f"| {hidden} | {1e6 * median(base.cpu for base, _ in runs) / steps:.0f} "
            f"| {1e6 * added(runs, cpu) / steps:+.0f} | {1e6 * added(runs, wall) / steps:+.0f} "
            f"| {ratio(runs, cpu):.2f}x | {added(runs, faults) / steps:+.1f} "
            f"| {1e6 * main:.0f} | {1e6 * others:.0f} | {1e6 * own[hidden]:.0f} |"
        )
    if len(hiddens) > 1:
        first, last = hiddens[0], hiddens[-1]
        end_to_end = added(found[str(last)], cpu) / added(found[str(first)], cpu)
        lines += [
            "",
            f"added per step at hidden {last} / at hidden {first}: {end_to_end:.2f}x end to "
            f"end (CPU), {own[last] / own[first]:.2f}x the learner's own work",
        ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=600, help="steps of part (b)'s epoch")
    parser.add_argument("--hidden", type=int, nargs="*", default=[32, 512, 2048, 4096])
    parser.add_argument("--only", choices=["a", "b"], help="run one part")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"burnish {burnish.__version__}, torch {torch.__version__}, 1 thread")
    print()
    lines: list[str] = []
    # The learner logs to stdout's handlers and warns: the tables are printed after.
    with quiet():
        if args.only != "b":
            lines += short_epochs(args.repeats)
        if args.only != "a":
            lines += [*([""] if lines else []), *slow_steps(args.repeats, args.steps, args.hidden)]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
