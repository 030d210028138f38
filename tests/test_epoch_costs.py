"""What the learner does once per step, epoch and fit, kept cheap without losing anything: blocks
bounded by how often the consumers look rather than by a fixed time, a reading thread that
sleeps until there is something to read, cheap copies of the last finite state, and one read of
a second of losses."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from burnish import AccuracyMetric, ClassificationOutput, LearnerBuilder, LossMetric
from burnish.learner.checkpoint import FileCheckpointer
from burnish.learner.guards import LossWatch
from burnish.learner.history import MetricHistory
from burnish.learner.resume import TrainingState, host_copy
from burnish.processor.bus import Actor, EventBus
from burnish.processor.events import EndEvent, LearnerEvent, Split, StartEvent, StepsEvent
from burnish.processor.split import BlockLimits, RegisteredMetric, SplitMetrics
from tests.learner_fixtures import Classifier, loaders, sgd


class Recorder:
    """A consumer that keeps every event and counts its calls."""

    def __init__(self, tick_seconds: float) -> None:
        self.tick_seconds = tick_seconds
        self.events: list[LearnerEvent] = []
        self.calls = 0
        self.closed = threading.Event()

    def consume(self, events: Sequence[LearnerEvent]) -> None:
        self.calls += 1
        self.events.extend(events)

    def close(self) -> None:
        self.closed.set()


def _output() -> ClassificationOutput:
    logits = torch.randn(4, 3)
    return ClassificationOutput(torch.tensor(1.0), logits, torch.tensor([0, 1, 2, 0]))


def _block_sizes(
    limits: BlockLimits, look_seconds: float | None, seconds_apart: float
) -> list[int]:
    """The steps of each block published for 40 steps ``seconds_apart`` apart."""
    split = SplitMetrics(Split.TRAIN, [RegisteredMetric.of(AccuracyMetric(), plotted=True)], limits)
    blocks: list[int] = []
    split.look_seconds = look_seconds
    split.start(lambda block: blocks.append(len(block.read())), 1, 1, 160)
    for step in range(1, 41):
        split.record(_output(), 4 * step, step, (0.1,), at=step * seconds_apart)
    split.flush()
    return blocks


def test_blocks_span_as_long_as_the_consumers_take_to_look() -> None:
    """By default a block spans the consumers' shortest tick: steps 1/8 s apart, looked at
    every second, are published in blocks of 9 steps, the last a second after the first (the
    first step alone, its input checked)."""
    assert _block_sizes(BlockLimits(), look_seconds=1.0, seconds_apart=0.125) == [
        1,
        9,
        9,
        9,
        9,
        3,
    ]


def test_blocks_of_fast_consumers_still_span_the_freshest_time() -> None:
    """No consumer makes blocks shorter than ``FRESHEST_SECONDS``: a display ticking every
    20 ms sees blocks of 0.25 s."""
    assert BlockLimits.FRESHEST_SECONDS == 0.25
    assert _block_sizes(BlockLimits(), look_seconds=0.02, seconds_apart=0.0625)[:3] == [1, 5, 5]


def test_blocks_without_consumers_are_bounded_by_steps_alone() -> None:
    """Nobody looks (a quiet process of a distributed run): steps over any time are one block
    up to the limit of steps."""
    assert _block_sizes(BlockLimits(steps=16), look_seconds=None, seconds_apart=10.0) == [
        1,
        16,
        16,
        7,
    ]


def test_a_time_chosen_for_the_blocks_is_kept_whatever_the_consumers() -> None:
    limits = BlockLimits(seconds=0.25)
    assert _block_sizes(limits, look_seconds=None, seconds_apart=0.125)[:3] == [1, 3, 3]
    assert _block_sizes(limits, look_seconds=5.0, seconds_apart=0.125)[:3] == [1, 3, 3]


def test_the_bus_says_how_often_its_consumers_look() -> None:
    bus = EventBus([Recorder(1.0), Recorder(0.5)])
    try:
        assert bus.look_seconds == 0.5
    finally:
        bus.end("completed")
    quiet = EventBus([])
    assert quiet.look_seconds is None
    quiet.end("completed")


class SlowClassifier(Classifier):
    """Steps that take 35 ms: ten of them span longer than 0.25 s, far less than a second."""

    def __init__(self) -> None:
        super().__init__()
        self.on_train_step = lambda step: time.sleep(0.035)


def test_a_fit_publishes_blocks_as_often_as_its_consumers_look(tmp_path: Path) -> None:
    """A renderer and the log looking once a second: a block of slow steps is published when
    it spans a second (or ends the epoch), not a quarter of one; every step is in a block."""
    renderer = Recorder(1.0)
    model = SlowClassifier()
    train, _ = loaders(batch_size=8)  # 12 steps, the last 11 over 0.38 s at least
    (
        LearnerBuilder(tmp_path)
        .metric_train_numeric(LossMetric())
        .renderer(renderer)
        .num_epochs(1)
        .build(model, sgd(model))
        .fit(train)
    )
    blocks = [event for event in renderer.events if isinstance(event, StepsEvent)]
    assert [step for block in blocks for step in block.iterations] == list(range(1, 13))
    assert len(blocks[0]) == 1  # the first step alone: its input is checked at once
    for block in blocks[1:-1]:
        assert block.at[-1] - block.at[0] >= 1.0


def test_the_reading_thread_sleeps_until_there_is_something_to_read() -> None:
    """An actor without idle ticks is not called without events; one with them is, at its
    tick; both get every event, their end included, at once."""
    sleeper, ticker = Recorder(0.01), Recorder(0.01)
    actors = [Actor(sleeper, "sleeper", idle_ticks=False), Actor(ticker, "ticker")]
    time.sleep(0.2)
    assert sleeper.calls == 0
    assert ticker.calls > 1
    for actor in actors:
        actor.send_all([StartEvent(1, (Split.TRAIN,), 0.0), EndEvent("completed", 0.0)])
        actor.join(10.0)
    assert sleeper.calls == 1
    for recorder in (sleeper, ticker):
        assert [type(event) for event in recorder.events] == [StartEvent, EndEvent]
        assert recorder.closed.is_set()


def test_the_end_of_a_fit_waits_for_no_tick() -> None:
    """Consumers that look once a minute still get every event at the end, without waiting
    for their tick."""
    slow = Recorder(60.0)
    bus = EventBus([slow])
    bus.send(StartEvent(1, (Split.TRAIN,), time.monotonic()))
    started = time.monotonic()
    bus.end("completed")
    assert time.monotonic() - started < 30.0
    assert [type(event) for event in slow.events] == [StartEvent, EndEvent]


def test_the_last_finite_state_is_a_copy_that_training_cannot_change(tmp_path: Path) -> None:
    """The host copy of a record (an epoch's last finite state) shares nothing that changes:
    its tensors are copies, and its random state's numbers are copied whole."""
    model = Classifier()
    optimizer = sgd(model)
    state = TrainingState(
        model, optimizer, None, MetricHistory(), FileCheckpointer(tmp_path / "checkpoint")
    )
    record = state.record(1, 10)
    copy = host_copy(record)
    weight = copy["model"]["net.0.weight"].clone()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)
    assert torch.equal(copy["model"]["net.0.weight"], weight)
    python_rng = record["learner"]["rng"]["python"]
    assert copy["learner"]["rng"]["python"] == python_rng
    numpy_rng = record["learner"]["rng"].get("numpy")
    if numpy_rng is not None:
        copied = copy["learner"]["rng"]["numpy"]
        assert copied == numpy_rng
        assert copied[1] is not numpy_rng[1]  # a list of its own, not the record's
    assert host_copy(["a", 1, 2.0, None, (3, b"x")]) == ["a", 1, 2.0, None, (3, b"x")]


def test_the_kept_finite_state_is_unchanged_by_later_training_and_history(
    tmp_path: Path,
) -> None:
    """What :meth:`TrainingState.keep_finite` keeps does not change when training and the
    history go on: the trained states are copied, the learner's part is built per record."""
    model = Classifier()
    history = MetricHistory()
    history.record(Split.TRAIN, "Loss", 1, 0.5)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.net(torch.randn(4, 8)).sum().backward()
    optimizer.step()
    state = TrainingState(
        model, optimizer, None, history, FileCheckpointer(tmp_path / "checkpoint")
    )
    state.keep_finite(state.record(1, 10), "its weights at the end of epoch 1")
    weight = model.net[0].weight.detach().clone()
    momentum = optimizer.state[model.net[0].weight]["momentum_buffer"].clone()
    for epoch in (2, 3):
        model.net(torch.randn(4, 8)).sum().backward()
        optimizer.step()
        history.record(Split.TRAIN, "Loss", epoch, math.nan)
    finite = state.go_back()
    assert finite is not None
    record, _ = finite
    assert torch.equal(model.net[0].weight, weight)
    assert torch.equal(optimizer.state[model.net[0].weight]["momentum_buffer"], momentum)
    assert record["learner"]["history"] == {"values": [["train", "Loss", [(1, 0.5)]]]}
    assert history.state_dict() == record["learner"]["history"]


@pytest.mark.parametrize("bad_step", [1, 299, 300])
def test_the_loss_watch_reads_scalar_losses_at_once(bad_step: int) -> None:
    """Scalar losses (the usual ones) are read in one call; the first bad one is named."""
    watch = LossWatch("error", every_seconds=3600.0)
    for step in range(1, 301):
        watch.admit(torch.tensor(math.nan if step == bad_step else 1.0), epoch=3, iteration=step)
    assert watch.look(force=True)
    assert watch.found is not None
    assert watch.found.startswith(f"the loss is nan at epoch 3, iteration {bad_step};")


def test_a_state_without_random_states_still_goes_back(tmp_path: Path) -> None:
    """A run that writes no checkpoint keeps its last finite state without the random states
    (only a checkpoint resumes with them): the model still goes back to it."""
    model = Classifier()
    state = TrainingState(
        model, sgd(model), None, MetricHistory(), FileCheckpointer(tmp_path / "checkpoint")
    )
    weight = model.net[0].weight.detach().clone()
    state.keeps_rng = False
    record = state.record(1, 10)
    assert record["learner"]["rng"] == {}
    state.keep_finite(record, "its weights at the end of epoch 1")
    with torch.no_grad():
        model.net[0].weight.fill_(math.nan)
    finite = state.go_back()
    assert finite is not None
    assert finite[1] == "its weights at the end of epoch 1"
    assert torch.equal(model.net[0].weight, weight)
