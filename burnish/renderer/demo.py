"""A synthetic event stream, to see and test the renderers without training anything.

``python -m burnish.renderer.demo`` plays a short run through the default renderer, as the
learner would: through an :class:`~burnish.processor.bus.Actor`, stopping early when the
dashboard's ``q`` then ``s`` is pressed.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace

import torch

from burnish.learner.interrupt import Interrupter
from burnish.metric.base import Progress
from burnish.metric.entry import FormatOptions, MetricEntry, NumericEntry
from burnish.processor.bus import Actor
from burnish.processor.events import (
    EndEvent,
    EndSplitEvent,
    EpochEndEvent,
    LearnerEvent,
    MetricUpdate,
    NumericColumn,
    Split,
    StartEvent,
    StartSplitEvent,
    StepsEvent,
    TrainingProgress,
)
from burnish.renderer import default_renderer

__all__ = ["DEMO_METRICS", "numeric_update", "step_event", "synthetic_events", "text_update"]

DEMO_METRICS: tuple[tuple[str, str | None, int, bool], ...] = (
    ("Loss", None, 4, False),
    ("Accuracy", "%", 2, True),
    ("Top-5 Accuracy", "%", 2, True),
    ("F1 Score", "%", 2, True),
    ("Learning Rate", None, 6, False),
    ("CPU Usage", "%", 1, False),
    ("CPU Memory", "GB", 2, False),
    ("GPU Temperature", "°C", 0, False),
)
"""Name, unit, precision, higher is better."""


def numeric_update(
    name: str,
    batch: float,
    running: float,
    *,
    unit: str | None = None,
    precision: int = 4,
    higher_is_better: bool = False,
) -> MetricUpdate:
    """A step's entry as a metric built on ``NumericMetricState`` makes it."""
    options = FormatOptions(name, unit, precision)
    # The running value as such a metric keeps it: in a float32 tensor.
    epoch = torch.tensor(running).item()
    text = f"epoch {options.format(epoch)} - batch {options.format(batch)}"
    entry = MetricEntry(name, text, NumericEntry(batch, 1, "aggregated"))
    return MetricUpdate(entry, higher_is_better)


def epoch_update(
    name: str, value: float, *, unit: str | None = None, precision: int = 4, higher: bool = False
) -> MetricUpdate:
    options = FormatOptions(name, unit, precision)
    entry = MetricEntry(
        name, options.format(value), NumericEntry(value, 1, "aggregated").serialize()
    )
    return MetricUpdate(entry, higher)


def text_update(name: str, text: str) -> MetricUpdate:
    return MetricUpdate(MetricEntry(name, text, text), None)


def step_event(
    split: Split,
    progress: TrainingProgress,
    updates: Sequence[MetricUpdate],
    lrs: tuple[float, ...],
    at: float,
) -> StepsEvent:
    """One step as the metric processor hands it on: the numeric entries' values by column,
    and every entry."""
    numbers = {}
    for update in updates:
        if update.numeric:
            entry = update.entry.numeric
            numbers[update.entry.name] = NumericColumn([entry.value], [entry.count], [entry.kind])
    return StepsEvent(
        split,
        progress.epoch,
        progress.epoch_total,
        progress.progress.items_total,
        [progress.iteration],
        [progress.progress.items_processed],
        [lrs],
        [at],
        numbers,
        tuple(updates),
    )


def _value(index: int, name: str, step: float, split: Split, rng: random.Random) -> float:
    noise = rng.gauss(0.0, 1.0)
    gap = 1.1 if split is Split.VALID else 1.0
    if name == "Loss":
        return max(0.01, gap * (2.3 * math.exp(-step / 2) + 0.05 + 0.05 * noise))
    if "Accuracy" in name or "F1" in name:
        return min(100.0, 100 - gap * (90 * math.exp(-step / (2 + index)) + 2 + noise))
    if name == "Learning Rate":
        return 1e-3 * 0.5 ** int(step)
    if name == "CPU Usage":
        return 40 + 10 * noise
    if name == "CPU Memory":
        return 5.2 + 0.01 * step
    return 65 + step + noise


def synthetic_events(
    epochs: int = 3,
    train_steps: int = 100,
    valid_steps: int = 20,
    *,
    metrics: Sequence[tuple[str, str | None, int, bool]] = DEMO_METRICS,
    text_metric: bool = True,
    batch_size: int = 32,
    seconds_per_step: float = 0.01,
    start: float = 0.0,
    seed: int = 0,
) -> Iterator[LearnerEvent]:
    """A run's events with plausible, noisy values, timestamped ``seconds_per_step`` apart."""
    rng = random.Random(seed)
    at = start
    yield StartEvent(epochs, (Split.TRAIN, Split.VALID), started_at=start)
    iteration = 0
    for epoch in range(1, epochs + 1):
        for split, steps in ((Split.TRAIN, train_steps), (Split.VALID, valid_steps)):
            total = steps * batch_size
            yield StartSplitEvent(split, epoch, total)
            sums = [0.0] * len(metrics)
            for step in range(1, steps + 1):
                at += seconds_per_step
                if split is Split.TRAIN:
                    iteration += 1
                position = epoch - 1 + step / steps
                updates: list[MetricUpdate] = []
                for index, (name, unit, precision, higher) in enumerate(metrics):
                    value = _value(index, name, position, split, rng)
                    sums[index] += value
                    updates.append(
                        numeric_update(
                            name,
                            value,
                            sums[index] / step,
                            unit=unit,
                            precision=precision,
                            higher_is_better=higher,
                        )
                    )
                if text_metric:
                    updates.append(text_update("Device", "cpu (synthetic)"))
                progress = TrainingProgress(
                    Progress(step * batch_size, total), epoch, epochs, iteration
                )
                yield step_event(split, progress, updates, (1e-3,), at)
            finals = tuple(
                epoch_update(
                    name, sums[index] / steps, unit=unit, precision=precision, higher=higher
                )
                for index, (name, unit, precision, higher) in enumerate(metrics)
            )
            yield EndSplitEvent(split, epoch, finals, at)
        yield EpochEndEvent(epoch)
    yield EndEvent("completed", at)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--delay", type=float, default=0.01, help="seconds per step")
    parser.add_argument("--persistent", action="store_true")
    args = parser.parse_args(argv)
    interrupter = Interrupter()
    actor = Actor(default_renderer(interrupter, args.persistent), "burnish-renderer")
    started = time.monotonic()
    reason = "completed"
    try:
        for event in synthetic_events(
            args.epochs, args.steps, args.steps // 5, start=started, seconds_per_step=args.delay
        ):
            if isinstance(event, EndEvent):
                break
            if interrupter.should_stop():
                reason = "stopped"
                break
            # Real time stamps, as the learner sends them.
            if isinstance(event, StepsEvent):
                time.sleep(args.delay)
                actor.send(replace(event, at=[time.monotonic()]))
            else:
                actor.send(event)
    except BaseException:
        reason = "error"
        raise
    finally:
        actor.send(EndEvent(reason, time.monotonic()))
        actor.join()
    if actor.error is not None:
        raise actor.error
    print(f"demo {reason}")


if __name__ == "__main__":
    main()
