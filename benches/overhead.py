"""What the dashboard and the system metrics add to a training step, part by part.

End-to-end timings (``benches/learner.py``) on a shared 2-core machine move by several percent
from run to run, more than the 1 % and 3 % bounds to be shown. This bench measures each part
of the added work alone, as the CPU time of the thread doing it (the best of several runs), and
adds the parts up against the reference workload's step (``benches/learner.py``):

- the training thread: updating the extra metrics and publishing their blocks, per step;
- the metric processor's reading thread: reading each block into a plain event;
- the consumers, on their own threads: the JSONL logger's flush (every second) and the
  renderer's tick (a plain renderer's, or the dashboard's, which draws one 120x40 frame per
  tick) over the steps of one tick;
- the sampler thread: one sample of what the system metrics need, at its 2 Hz.

The dashboard's cost is its renderer's work minus the plain renderer's (both show the same six
metrics); the system metrics are measured alone, less a run with no metric (the events and
records that the learner makes every step anyway). Configurations are interleaved, and each
part's figure is its best over the repeats.

The reference is the learner's own metrics (loss, accuracy, macro precision, recall, F1,
AUROC). Work on another thread counts in full, as if it held the interpreter lock for all of it
(a bound: its tensor operations release it).

Run: .venv/bin/python benches/overhead.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import gc
import io
import logging
import math
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console

sys.path.insert(0, str(Path(__file__).parent))

from learner import (
    BATCH,
    EPOCHS,
    FROM_METADATA,
    SAMPLED,
    SAMPLES,
    data,
    plain,
    reference_metrics,
)

from burnish import (
    ClassificationOutput,
    Metric,
)
from burnish.logger.jsonl import JsonlMetricLogger
from burnish.metric.system.sampler import Need, SystemSampler
from burnish.processor.events import (
    LearnerEvent,
    Split,
    StartEvent,
    StartSplitEvent,
)
from burnish.processor.split import RegisteredMetric, SplitMetrics
from burnish.renderer import PlainRenderer, TuiRenderer

STEPS = 1_000
CLASSES = 10


@dataclass(frozen=True)
class Config:
    name: str
    extra: tuple[Callable[[], Metric[None]], ...] = ()
    dashboard: bool = False
    # Extra metrics are measured alone, less a run with no metric at all (the learner's own
    # per-step events and records): their added work directly, rather than as the small
    # difference of two large totals.
    with_reference: bool = True


def outputs() -> list[ClassificationOutput]:
    generator = torch.Generator().manual_seed(0)
    return [
        ClassificationOutput(
            torch.rand((), generator=generator),
            torch.randn(BATCH, CLASSES, generator=generator),
            torch.randint(0, CLASSES, (BATCH,), generator=generator),
        )
        for _ in range(STEPS)
    ]


def train_thread(config: Config, steps: Sequence[ClassificationOutput]) -> tuple[float, list]:
    """CPU seconds to update the metrics (as the learner records each step, in blocks), and
    the events: the blocks still unread."""
    metrics = reference_metrics() if config.with_reference else []
    metrics += [make() for make in config.extra]
    split = SplitMetrics(Split.TRAIN, [RegisteredMetric.of(m, plotted=True) for m in metrics])
    events: list[LearnerEvent] = [
        StartEvent(1, (Split.TRAIN,), time.monotonic()),
        StartSplitEvent(Split.TRAIN, 1, STEPS * BATCH),
    ]
    split.start(events.append, 1, 1, STEPS * BATCH)
    gc.collect()  # the previous run's garbage is not this run's work
    start = time.thread_time()
    for index, output in enumerate(steps, start=1):
        split.record(output, index * BATCH, index, (0.05,), time.monotonic())
    split.flush()
    elapsed = time.thread_time() - start
    split.close()
    return elapsed, events


def processor_thread(events: list) -> tuple[float, list[LearnerEvent]]:
    """CPU seconds of the processor's reading thread over the unread blocks, and the events
    as its consumers receive them."""
    gc.collect()
    start = time.thread_time()
    read = [event.read() if hasattr(event, "read") else event for event in events]
    return time.thread_time() - start, read


def consumers(
    config: Config, events: list[LearnerEvent], steps_per_second: float
) -> tuple[float, float]:
    """CPU seconds of the logger's flushes and of the renderer's ticks over the events.

    The renderer's clock is the training's: each of its ticks,
    ``tick_seconds`` of steps go by.
    """
    console = Console(
        file=io.StringIO(), width=120, height=40, force_terminal=True, color_system="truecolor"
    )
    now = [0.0]

    def clock() -> float:
        return now[0]

    renderer: TuiRenderer | PlainRenderer = (
        TuiRenderer(console=console, input_fd=None, clock=clock)
        if config.dashboard
        else PlainRenderer(stream=io.StringIO(), clock=clock)
    )
    seconds = []
    with tempfile.TemporaryDirectory() as directory:
        logger = JsonlMetricLogger(directory)
        for consumer in (logger, renderer):
            tick = max(1, round(consumer.tick_seconds * steps_per_second))
            gc.collect()
            start = time.thread_time()
            for first in range(0, len(events), tick):
                now[0] += consumer.tick_seconds
                consumer.consume(events[first : first + tick])
            seconds.append(time.thread_time() - start)
        logger.close()
    renderer.close()
    return seconds[0], seconds[1]


def sampler_seconds_per_second(config: Config, repeats: int) -> float:
    """CPU seconds a second that the sampler thread spends on what the metrics need."""
    if not config.extra or config.extra != SAMPLED:
        return 0.0
    sampler = SystemSampler(background=False)
    for need in (Need.CPU_USE, Need.MEMORY, Need.CPU_TEMPERATURE):
        sampler.acquire(need)
    sampler.poll()
    start = time.thread_time()
    for _ in range(repeats * 10):
        sampler.poll()
    per_sample = (time.thread_time() - start) / (repeats * 10)
    return per_sample / sampler.interval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    logging.disable(logging.WARNING)
    dataset = data()
    plain(dataset)
    steps_per_run = EPOCHS * -(-SAMPLES // BATCH)
    plain_step = min(_timed(lambda: plain(dataset)) for _ in range(args.repeats)) / steps_per_run
    configs = [
        Config("reference: plain renderer"),
        Config("dashboard (120x40)", dashboard=True),
        Config("no metric (baseline of the rows below)", with_reference=False),
        Config("+ CPU, memory, temperature", extra=SAMPLED, with_reference=False),
        Config("+ learning rate, iteration speed", extra=FROM_METADATA, with_reference=False),
    ]
    steps = outputs()
    for config in configs:  # warm-up: first-call paths, rich's imports
        consumers(config, processor_thread(train_thread(config, steps[:100])[1])[1], 1 / plain_step)
    # Per configuration, the best of the interleaved repeats of each part: training thread,
    # processor, logger, renderer (seconds per step), and the sampler (seconds per second).
    best: dict[str, list[float]] = {config.name: [math.inf] * 4 for config in configs}
    for _ in range(args.repeats):
        for config in configs:
            train, unread = train_thread(config, steps)
            reading, events = processor_thread(unread)
            learner_step = plain_step + train / STEPS
            parts = (train, reading, *consumers(config, events, 1 / learner_step))
            best[config.name] = [
                min(so_far, part / STEPS)
                for so_far, part in zip(best[config.name], parts, strict=True)
            ]
    reference, baseline = best[configs[0].name], best[configs[2].name]
    reference_step = plain_step + sum(reference)
    print(
        f"plain loop step (reference workload, best of {args.repeats}): "
        f"{1e6 * plain_step:.0f} µs; learner step with its 6 metrics, all threads: "
        f"{1e6 * reference_step:.0f} µs"
    )
    print()
    print(
        "| configuration | training thread µs/step | processor µs/step | logger µs/step | "
        "renderer µs/step | sampler µs/step | added µs/step | added % of the learner step |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for config in configs:
        train, reading, logger, renderer = best[config.name]
        sampler = sampler_seconds_per_second(config, args.repeats) * reference_step
        if config.dashboard:
            # The same metrics as the reference: only the renderer's work differs.
            added = renderer - reference[3]
        elif config.with_reference:
            added = 0.0
        else:
            added = train + reading + logger + renderer + sampler - sum(baseline)
        print(
            f"| {config.name} | {1e6 * train:.1f} | {1e6 * reading:.1f} | {1e6 * logger:.1f} "
            f"| {1e6 * renderer:.1f} "
            f"| {1e6 * sampler:.2f} | {1e6 * added:+.1f} | {100 * added / reference_step:+.2f} % |"
        )


def _timed(run: Callable[[], object]) -> float:
    start = time.thread_time()
    run()
    return time.thread_time() - start


if __name__ == "__main__":
    main()
