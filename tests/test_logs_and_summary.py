from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from burnish import (
    AccuracyMetric,
    AurocMetric,
    ClassificationOutput,
    InMemoryMetricLogger,
    JsonlMetricLogger,
    LearnerSummary,
    LossMetric,
    Metric,
    Split,
    read_run,
)
from burnish.cli import LogReplay, main
from burnish.learner.history import Direction, MetricHistory
from burnish.logger.base import counts_nothing
from burnish.metric.collection import MetricCollection
from burnish.metric.entry import MetricEntry, NumericEntry
from burnish.processor.bus import Unread
from burnish.processor.events import MetricUpdate, NumericColumn, StepsEvent
from burnish.processor.split import BlockLimits, RegisteredMetric, SplitMetrics
from tests.learner_fixtures import Classifier, builder, loaders, sgd


def test_jsonl_log_reads_back_what_the_learner_recorded(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Classifier()
    learn, memory = builder(tmp_path, epochs=2)
    learner = learn.build(model, sgd(model))
    learner.fit(*loaders())
    run = read_run(tmp_path)
    assert run.end_reason == "completed"
    assert run.epoch_total == 2
    for split in (Split.TRAIN, Split.VALID):
        for name in ("Loss", "Accuracy"):
            assert run.history.values(split, name) == learner.history.values(split, name)
            steps = [entry for _, entry in run.steps[(split, name)]]
            assert steps == memory.steps[split][name]


def test_steps_are_logged_by_column_and_read_back_as_each_step_was(tmp_path: Path) -> None:
    def step(iteration: int, values: dict[str, NumericEntry]) -> StepsEvent:
        updates = [MetricUpdate(MetricEntry(k, "", v), True) for k, v in values.items()]
        updates.append(MetricUpdate(MetricEntry("Device", "text", "text"), None))
        return StepsEvent(
            Split.TRAIN,
            1,
            1,
            None,
            [iteration],
            [8 * iteration],
            [(0.1, 0.01)],
            [0.0],
            {k: NumericColumn([v.value], [v.count], [v.kind]) for k, v in values.items()},
            tuple(updates),
        )

    steps = [
        step(1, {"Loss": NumericEntry(0.5, 8, "aggregated"), "Odd": NumericEntry(math.nan)}),
        # A sample counting no item is left out; a kind may change from step to step.
        step(2, {"Loss": NumericEntry(math.nan, 0, "aggregated"), "Odd": NumericEntry(2.0)}),
        step(
            3, {"Loss": NumericEntry(0.25, 8, "aggregated"), "Odd": NumericEntry(3.0, 4, "final")}
        ),
    ]
    loss = NumericEntry(0.125, 8, "aggregated")
    other_epoch = StepsEvent(
        Split.TRAIN,
        2,
        2,
        None,
        [4],
        [8],
        [(0.1,)],
        [0.0],
        {"Loss": NumericColumn([loss.value], [loss.count], [loss.kind])},
        (MetricUpdate(MetricEntry("Loss", "", loss), False),),
    )
    logger, memory = JsonlMetricLogger(tmp_path), InMemoryMetricLogger()
    for events in ([steps[0]], [*steps[1:], other_epoch]):
        logger.consume(events)
        memory.consume(events)
    logger.close()
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["event"], r["epoch"], r["iteration"]) for r in records] == [
        ("steps", 1, [1]),
        ("steps", 1, [2, 3]),
        ("steps", 2, [4]),
    ]
    assert records[1]["values"]["Loss"] == {
        "value": [None, 0.25],
        "count": [0, 8],
        "kind": "aggregated",
    }
    assert records[1]["values"]["Odd"]["kind"] == ["value", "final"]
    assert "Device" not in records[1]["values"]
    run = read_run(tmp_path)
    for name in ("Loss", "Odd"):
        logged = [entry for _, entry in run.steps[(Split.TRAIN, name)]]
        expected = memory.steps[Split.TRAIN][name]
        assert [(e.count, e.kind) for e in logged] == [(e.count, e.kind) for e in expected]
        assert [e.value for e in logged] == pytest.approx([e.value for e in expected], nan_ok=True)
    assert [iteration for iteration, _ in run.steps[(Split.TRAIN, "Loss")]] == [1, 3, 4]
    replayed = LogReplay(tmp_path / "metrics.jsonl").poll()
    steps_replayed = [
        (event, step)
        for event in replayed
        if isinstance(event, StepsEvent)
        for step in range(len(event))
    ]
    assert [event.iterations[step] for event, step in steps_replayed] == [1, 2, 3, 4]
    second, step = steps_replayed[1]
    assert second.lrs[step] == (0.1, 0.01)
    assert second.items[step] == 16
    counted = [n for n, c in second.numbers.items() if not counts_nothing(c.entry(step))]
    assert counted == ["Odd"]


def test_a_line_cut_short_by_a_crash_is_skipped(tmp_path: Path) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    learn.build(model, sgd(model)).fit(*loaders())
    log = tmp_path / "metrics.jsonl"
    lines = log.read_text().splitlines()
    # Keep the log up to the train epoch record, then half a line, as a crash would leave it.
    cut = next(i for i, line in enumerate(lines) if '"event": "epoch"' in line)
    log.write_text("\n".join(lines[: cut + 1]) + "\n" + lines[cut + 1][:20])
    run = read_run(tmp_path)
    assert run.end_reason is None
    assert list(run.history.values(Split.TRAIN, "Loss")) == [1]
    assert run.history.values(Split.VALID, "Loss") == {}


def test_nan_is_logged_as_null_and_read_back_as_nan(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text(
        json.dumps({"event": "start", "epoch_total": 1, "splits": ["train"]})
        + "\n"
        + json.dumps(
            {"event": "epoch", "split": "train", "epoch": 1, "values": {"A": [None, 0, "final"]}}
        )
        + "\n"
    )
    run = read_run(tmp_path)
    assert math.isnan(run.history.values(Split.TRAIN, "A")[1])


def test_summary_lists_min_and_max_with_their_epochs() -> None:
    history = MetricHistory()
    for epoch, (loss, accuracy) in enumerate([(0.9, 50.0), (0.004, 80.0), (0.01, 70.0)], start=1):
        history.record(Split.TRAIN, "Loss", epoch, loss)
        history.record(Split.VALID, "Accuracy", epoch, accuracy)
    history.record(Split.VALID, "Temperature", 1, math.nan)
    assert history.best_epoch(Split.TRAIN, "Loss", Direction.LOWEST) == 2
    text = str(LearnerSummary.from_history(history, "Net"))
    lines = text.splitlines()
    assert "Learner Summary" in lines[0]
    assert "Model: Net" in text
    assert "Total Epochs: 3" in text
    assert "| Train | Loss        | 4.000e-03 | 2     | 0.900  | 1     |" in lines
    assert "| Valid | Accuracy    | 50.000    | 1     | 80.000 | 2     |" in lines
    assert "| Valid | Temperature | n/a       | -     | n/a    | -     |" in lines


def test_cli_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=2)
    learn.build(model, sgd(model)).fit(*loaders())
    capsys.readouterr()
    assert main(["summary", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Total Epochs: 2" in out
    assert "| Valid | Accuracy |" in out
    assert main(["summary", str(tmp_path / "missing")]) == 2
    assert "no metrics.jsonl" in capsys.readouterr().err


def test_blocks_of_steps_sent_in_parts_are_logged_as_each_step_was(tmp_path: Path) -> None:
    def metrics() -> list[Metric[Any]]:
        return [LossMetric(), AccuracyMetric(), AurocMetric.multiclass(softmax=True)]

    split = SplitMetrics(
        Split.TRAIN, [RegisteredMetric.of(m, plotted=True) for m in metrics()], BlockLimits(4)
    )
    stepwise = MetricCollection(metrics())
    events: list[StepsEvent] = []

    def publish(block: Unread) -> None:
        event = block.read()
        assert isinstance(event, StepsEvent)
        events.append(event)

    split.start(publish, 1, 1, None)
    generator = torch.Generator().manual_seed(0)
    expected = []
    for step in range(1, 10):
        scores = torch.randn(5, 3, generator=generator)
        targets = torch.randint(0, 3, (5,), generator=generator)
        output = ClassificationOutput(scores.logsumexp(1).mean(), scores, targets)
        split.record(output, 5 * step, step, (0.1,), 0.001 * step)
        expected.append(stepwise.update(output))
    split.flush()
    # The first step alone, then blocks of four, handed to the logger two blocks at once, and
    # a block after a step that is not a block's.
    assert [len(e) for e in events] == [1, 4, 4]
    assert [iteration for e in events for iteration in e.iterations] == list(range(1, 10))
    loss = NumericEntry(0.5, 5, "aggregated")
    alone = StepsEvent(
        Split.TRAIN,
        1,
        1,
        None,
        [10],
        [50],
        [(0.1,)],
        [0.0],
        {"Loss": NumericColumn([loss.value], [loss.count], [loss.kind])},
        (MetricUpdate(MetricEntry("Loss", "", loss), False),),
    )
    logger = JsonlMetricLogger(tmp_path)
    for part in (events[:2], [alone, *events[2:]]):
        logger.consume(part)
    logger.close()
    run = read_run(tmp_path)
    for name in ("Loss", "Accuracy"):
        logged = run.steps[(Split.TRAIN, name)]
        want = [entries[name].numeric for entries in expected]
        iterations = list(range(1, 10))
        if name == "Loss":
            want.insert(5, loss)
            iterations.insert(5, 10)
        assert [step for step, _ in logged] == iterations
        assert [(e.count, e.kind) for _, e in logged] == [(e.count, e.kind) for e in want]
        assert [e.value for _, e in logged] == pytest.approx([e.value for e in want])
    # A step's AUROC counts nothing: no batch value is ranked for a log.
    assert (Split.TRAIN, "AUROC") not in run.steps
