from __future__ import annotations

import gc
import math
import os
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import torch
from sklearn.metrics import accuracy_score
from torch import nn
from torch.utils.data import DataLoader

from burnish import (
    AccuracyInput,
    AccuracyMetric,
    AurocMetric,
    CheckpointError,
    ClassificationOutput,
    Direction,
    Interrupter,
    LearnerBuilder,
    LossMetric,
    MetricEarlyStoppingStrategy,
    NoImprovementSince,
    NonFiniteLossError,
    RegressionOutput,
    Split,
    TrainOutput,
    TrainStep,
    read_run,
)
from burnish.learner.guards import LossWatch
from burnish.metric.base import MetricMetadata
from burnish.metric.entry import MetricEntry
from burnish.processor.bus import Actor
from burnish.processor.events import EndEvent, LearnerEvent, StartEvent, StepsEvent
from tests.learner_fixtures import Batch, Classifier, NullRenderer, builder, dataset, loaders, sgd


def test_fit_trains_and_reports_exact_epoch_metrics(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Classifier()
    train, valid = loaders()
    learn, memory = builder(tmp_path, epochs=3)
    result = learn.build(model, sgd(model)).fit(train, valid)
    assert result.reason == "completed"
    assert result.model is model
    # Validation of the last epoch saw the final weights: recompute it independently.
    model.eval()
    x, y = valid.dataset.tensors  # type: ignore[attr-defined]
    with torch.no_grad():
        logits = model(x)
    expected_accuracy = 100 * accuracy_score(y.numpy(), logits.argmax(1).numpy())
    expected_loss = nn.functional.cross_entropy(logits, y).item()
    assert result.value(Split.VALID, "Accuracy") == pytest.approx(expected_accuracy)
    assert result.value(Split.VALID, "Loss") == pytest.approx(expected_loss, rel=1e-5)
    losses = [entry.value for entry in memory.epochs[Split.TRAIN]["Loss"]]
    assert len(losses) == 3
    assert losses[-1] < losses[0]
    assert len(memory.steps[Split.TRAIN]["Loss"]) == 3 * 6
    assert [row.metric for row in result.summary.rows] == ["Loss", "Accuracy", "Loss", "Accuracy"]


def test_events_flow_in_order_with_progress(tmp_path: Path) -> None:
    model = Classifier()
    renderer = NullRenderer()
    learn, _ = builder(tmp_path, epochs=1)
    learn.renderer(renderer).build(model, sgd(model)).fit(*loaders())
    assert isinstance(renderer.events[0], StartEvent)
    assert isinstance(renderer.events[-1], EndEvent)
    assert renderer.events[-1].reason == "completed"
    blocks = [e for e in renderer.events if isinstance(e, StepsEvent)]
    train = [e for e in blocks if e.split is Split.TRAIN]
    assert [items for e in train for items in e.items] == [16, 32, 48, 64, 80, 96]
    assert all(e.items_total == 96 for e in train)
    assert [iteration for e in train for iteration in e.iterations] == [1, 2, 3, 4, 5, 6]
    assert all(lrs == (0.1,) for e in blocks for lrs in e.lrs)


def _weights(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def test_resume_reproduces_the_uninterrupted_run(tmp_path: Path) -> None:
    torch.manual_seed(123)
    straight = Classifier()
    scheduler_opt = sgd(straight)
    learn, memory = builder(tmp_path / "straight", epochs=4)
    learn.with_file_checkpointer().build(
        straight, scheduler_opt, torch.optim.lr_scheduler.StepLR(scheduler_opt, 5, 0.5)
    ).fit(*loaders())

    torch.manual_seed(123)
    first = Classifier()
    optimizer = sgd(first)
    learn, memory_a = builder(tmp_path / "split", epochs=2)
    learn.with_file_checkpointer().build(
        first, optimizer, torch.optim.lr_scheduler.StepLR(optimizer, 5, 0.5)
    ).fit(*loaders())

    torch.manual_seed(999)  # resuming must not depend on the caller's seed
    second = Classifier()
    optimizer = sgd(second)
    learn, memory_b = builder(tmp_path / "split", epochs=4)
    learn.with_file_checkpointer().checkpoint(2).build(
        second, optimizer, torch.optim.lr_scheduler.StepLR(optimizer, 5, 0.5)
    ).fit(*loaders())

    for a, b in zip(_weights(straight), _weights(second), strict=True):
        assert torch.equal(a, b)
    for split in (Split.TRAIN, Split.VALID):
        for name in ("Loss", "Accuracy"):
            joined = memory_a.epochs[split][name] + memory_b.epochs[split][name]
            assert joined == memory.epochs[split][name]


def test_interrupt_saves_mid_epoch_and_resume_is_exact(tmp_path: Path) -> None:
    torch.manual_seed(5)
    reference = Classifier()
    learn, reference_log = builder(tmp_path / "reference", epochs=2)
    learn.metric_train_numeric(AurocMetric.multiclass(softmax=True)).build(
        reference, sgd(reference)
    ).fit(*loaders())

    torch.manual_seed(5)
    interrupted = Classifier()
    interrupter = Interrupter()
    interrupted.on_train_step = lambda step: interrupter.stop() if step == 9 else None
    learn, _ = builder(tmp_path / "run", epochs=2)
    result = (
        learn.metric_train_numeric(AurocMetric.multiclass(softmax=True))
        .with_file_checkpointer()
        .with_interrupter(interrupter)
        .build(interrupted, sgd(interrupted))
        .fit(*loaders())
    )
    assert result.reason == "stopped"
    assert interrupted.train_steps == 9
    assert (tmp_path / "run" / "checkpoint" / "epoch-2.pt").exists()
    assert read_run(tmp_path / "run").end_reason == "stopped"

    resumed = Classifier()
    learn, resumed_log = builder(tmp_path / "run", epochs=2)
    learn.metric_train_numeric(
        AurocMetric.multiclass(softmax=True)
    ).with_file_checkpointer().resume().build(resumed, sgd(resumed)).fit(*loaders())
    assert resumed.train_steps == 3
    for a, b in zip(_weights(reference), _weights(resumed), strict=True):
        assert torch.equal(a, b)
    # The interrupted epoch's metrics continued from the checkpoint: the whole epoch counts.
    for name in ("Loss", "Accuracy", "Macro AUROC"):
        (resumed_epoch,) = resumed_log.epochs[Split.TRAIN][name]
        assert resumed_epoch == reference_log.epochs[Split.TRAIN][name][1]


def test_resuming_mid_epoch_needs_the_same_metrics(tmp_path: Path) -> None:
    interrupter = Interrupter()
    model = Classifier()
    model.on_train_step = lambda step: interrupter.stop() if step == 2 else None
    learn, _ = builder(tmp_path, epochs=2)
    learn.with_file_checkpointer().with_interrupter(interrupter).build(model, sgd(model)).fit(
        *loaders()
    )
    other = Classifier()
    learn, _ = builder(tmp_path, epochs=2)
    with pytest.raises(
        ValueError,
        match=(
            r"train metrics: the saved state holds metrics \['Accuracy', 'Loss'\], "
            r"not \['Accuracy', 'Loss', 'Macro AUROC'\]"
        ),
    ):
        learn.metric_train_numeric(
            AurocMetric.multiclass(softmax=True)
        ).with_file_checkpointer().resume().build(other, sgd(other)).fit(*loaders())


def test_ctrl_c_stops_after_the_batch_and_a_second_aborts(tmp_path: Path) -> None:
    model = Classifier()
    model.on_train_step = lambda step: os.kill(os.getpid(), signal.SIGINT) if step == 2 else None
    learn, _ = builder(tmp_path, epochs=3)
    result = learn.with_file_checkpointer().build(model, sgd(model)).fit(*loaders())
    assert result.reason == "stopped"
    assert model.train_steps == 2
    assert (tmp_path / "checkpoint" / "epoch-1.pt").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    twice = Classifier()

    def press_twice(step: int) -> None:
        if step == 2:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    twice.on_train_step = press_twice
    learn, _ = builder(tmp_path / "twice", epochs=3)
    with pytest.raises(KeyboardInterrupt):
        learn.build(twice, sgd(twice)).fit(*loaders())
    assert twice.train_steps == 2
    assert read_run(tmp_path / "twice").end_reason == "error"


def test_checkpoint_strategy_keeps_last_two_and_the_best(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=5)
    # A learning rate this high makes validation loss rise after the first epochs.
    learner = learn.with_file_checkpointer().build(model, sgd(model, lr=3.0))
    learner.fit(*loaders())
    kept = sorted(int(p.stem.split("-")[1]) for p in (tmp_path / "checkpoint").glob("*.pt"))
    best = learner.history.best_epoch(Split.VALID, "Loss", Direction.LOWEST)
    assert best is not None
    assert kept == sorted({4, 5, best})


def test_early_stopping_after_no_improvement_and_warmup(tmp_path: Path) -> None:
    model = Classifier()
    strategy = MetricEarlyStoppingStrategy(
        AccuracyMetric(), direction=Direction.HIGHEST, condition=NoImprovementSince(1)
    )
    learn, _ = builder(tmp_path, epochs=20)
    # lr 0 never improves anything: the best epoch stays the first.
    result = (
        learn.early_stopping(strategy, warmup_epochs=3)
        .build(model, sgd(model, 0.0))
        .fit(*loaders())
    )
    assert result.reason == "early_stopped"
    assert model.train_steps == 4 * 6
    # The summary counts the epochs run, not those configured.
    assert result.summary.epochs == 4


def test_gradient_accumulation_equals_a_larger_batch(tmp_path: Path) -> None:
    torch.manual_seed(1)
    big = Classifier(dropout=0.0)
    small = Classifier(dropout=0.0)
    small.load_state_dict(big.state_dict())
    learn, _ = builder(tmp_path / "big", epochs=1)
    learn.build(big, torch.optim.SGD(big.parameters(), lr=0.1)).fit(loaders(32, False)[0])
    learn, _ = builder(tmp_path / "small", epochs=1)
    learn.grads_accumulation(2).build(small, torch.optim.SGD(small.parameters(), lr=0.1)).fit(
        loaders(16, False)[0]
    )
    for a, b in zip(_weights(big), _weights(small), strict=True):
        torch.testing.assert_close(a, b)


def test_gradient_clipping_bounds_the_update(tmp_path: Path) -> None:
    model = Classifier()
    before = _weights(model)
    learn, _ = builder(tmp_path, epochs=1)
    loader = DataLoader(dataset(16), batch_size=16)
    learn.clip_grad_value(1e-3).build(model, torch.optim.SGD(model.parameters(), lr=1.0)).fit(
        loader
    )
    for a, b in zip(before, _weights(model), strict=True):
        assert (a - b).abs().max() <= 1e-3 + 1e-7


def test_metadata_carries_every_parameter_group_rate(tmp_path: Path) -> None:
    seen: list[MetricMetadata] = []

    class Recorder:
        name = "Recorder"

        def update(self, item: None, metadata: MetricMetadata) -> MetricEntry:
            seen.append(metadata)
            return MetricEntry(self.name, "", "")

        def compute(self) -> MetricEntry:
            return MetricEntry(self.name, "", "")

        def clear(self) -> None:
            pass

    model = Classifier()
    optimizer = torch.optim.SGD(
        [{"params": model.net[0].parameters(), "lr": 0.1}, {"params": model.net[3].parameters()}],
        lr=0.01,
    )
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    learn, _ = builder(tmp_path, epochs=1)
    learn.metric_train(Recorder()).build(model, optimizer, scheduler).fit(loaders()[0])
    assert seen[0].lrs == (0.1, 0.01)
    assert seen[0].lr == 0.1
    assert seen[1].lrs == (0.05, 0.005)
    assert seen[-1].progress.items_processed == 96
    assert seen[-1].iteration == 6


class FreezeWatcher(Classifier):
    """Records the collector's frozen object count and thresholds at every step."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen: list[int] = []
        self.thresholds: set[tuple[int, int, int]] = set()

    def _watch(self) -> None:
        self.frozen.append(gc.get_freeze_count())
        self.thresholds.add(gc.get_threshold())

    def train_step(self, batch: Batch) -> TrainOutput[ClassificationOutput]:
        self._watch()
        return super().train_step(batch)

    def valid_step(self, batch: Batch) -> ClassificationOutput:
        self._watch()
        return super().valid_step(batch)


def test_the_collector_is_quiet_for_the_run_only(tmp_path: Path) -> None:
    """Objects older than training are frozen, and the youngest generation collected less
    often, while the learner runs; the process's settings come back after it."""
    assert gc.get_freeze_count() == 0
    defaults = gc.get_threshold()
    model = FreezeWatcher()
    train, valid = loaders()
    learner = builder(tmp_path / "on", epochs=1)[0].build(model, sgd(model))
    learner.fit(train, valid)
    learner.evaluate(valid)
    assert len(model.frozen) == len(train) + 2 * len(valid)
    assert min(model.frozen) > 0
    assert model.thresholds == {(20_000, *defaults[1:])}
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == defaults

    model = FreezeWatcher()
    builder(tmp_path / "off", epochs=1)[0].gc_freeze(False).build(model, sgd(model)).fit(train)
    assert set(model.frozen) == {0}
    assert model.thresholds == {defaults}


def test_a_higher_young_threshold_of_the_process_is_kept(tmp_path: Path) -> None:
    defaults = gc.get_threshold()
    gc.set_threshold(50_000, *defaults[1:])
    try:
        model = FreezeWatcher()
        builder(tmp_path, epochs=1)[0].build(model, sgd(model)).fit(loaders()[0])
        assert model.thresholds == {(50_000, *defaults[1:])}
    finally:
        gc.set_threshold(*defaults)


def test_a_heap_frozen_by_the_process_stays_frozen(tmp_path: Path) -> None:
    model = FreezeWatcher()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        builder(tmp_path, epochs=1)[0].build(model, sgd(model)).fit(loaders()[0])
        # Frozen objects that are freed lower the count; freezing again would raise it.
        assert 0 < max(model.frozen) <= frozen
        assert 0 < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()


# Bad input


class LossOnly(nn.Module, TrainStep[Batch, RegressionOutput]):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 1)
        self.calls = 0

    def train_step(self, batch: Batch) -> TrainOutput[RegressionOutput]:
        self.calls += 1
        x, y = batch
        out = self.linear(x).squeeze(1)
        loss = ((out - y.float()) ** 2).mean()
        return TrainOutput(loss, RegressionOutput(loss, out, y.float()))


def test_unadaptable_metric_fails_at_build_naming_both_types(tmp_path: Path) -> None:
    model = LossOnly()
    with pytest.raises(TypeError, match=r"'Accuracy' takes AccuracyInput.*RegressionOutput"):
        LearnerBuilder(tmp_path).metric_train_numeric(AccuracyMetric()).renderer(
            NullRenderer()
        ).build(model, sgd(model))
    assert model.calls == 0


def test_unannotated_step_fails_on_its_first_output(tmp_path: Path) -> None:
    class Unannotated(LossOnly):
        def train_step(self, batch):  # type: ignore[no-untyped-def]
            return super().train_step(batch)

    model = Unannotated()
    learner = (
        LearnerBuilder(tmp_path)
        .metric_train_numeric(AccuracyMetric())
        .renderer(NullRenderer())
        .build(model, sgd(model))
    )
    with pytest.raises(TypeError, match=r"'Accuracy' takes AccuracyInput.*RegressionOutput"):
        learner.fit(loaders()[0])
    assert model.calls == 1


def test_step_returning_the_wrong_type(tmp_path: Path) -> None:
    class Wrong(LossOnly):
        def train_step(self, batch: Batch) -> TrainOutput[RegressionOutput]:
            return super().train_step(batch).loss  # type: ignore[return-value]

    model = Wrong()
    learner = LearnerBuilder(tmp_path).renderer(NullRenderer()).build(model, sgd(model))
    with pytest.raises(TypeError, match=r"Wrong.train_step must return TrainOutput.*got Tensor"):
        learner.fit(loaders()[0])


def test_model_without_steps(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="Linear has no train_step"):
        LearnerBuilder(tmp_path).renderer(NullRenderer()).build(
            nn.Linear(2, 2), torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
        )
    model = LossOnly()
    learner = LearnerBuilder(tmp_path).renderer(NullRenderer()).build(model, sgd(model))
    with pytest.raises(TypeError, match=r"LossOnly has no valid_step.*ValidStep"):
        learner.fit(loaders()[0], loaders()[1])


def test_empty_loader(tmp_path: Path) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path)
    with pytest.raises(ValueError, match="the train loader yielded no batches in epoch 1"):
        learn.build(model, sgd(model)).fit(DataLoader(dataset(0), batch_size=4))
    assert read_run(tmp_path).end_reason == "error"


def test_loader_without_length(tmp_path: Path) -> None:
    def batches() -> Iterator[Batch]:
        x, y = dataset(40).tensors
        for start in range(0, 40, 16):
            yield x[start : start + 16], y[start : start + 16]

    model = Classifier()
    renderer = NullRenderer()
    learn, memory = builder(tmp_path, epochs=1)

    class Reiterable:
        def __iter__(self) -> Iterator[Batch]:
            return batches()

    learn.renderer(renderer).build(model, sgd(model)).fit(Reiterable())
    blocks = [e for e in renderer.events if isinstance(e, StepsEvent)]
    assert [items for e in blocks for items in e.items] == [16, 32, 40]
    assert all(e.items_total is None for e in blocks)
    assert memory.epochs[Split.TRAIN]["Loss"][0].count == 40


def test_checkpoint_directory_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    model = Classifier()
    learn, _ = builder(blocker / "run")
    with pytest.raises(CheckpointError, match=r"checkpoint directory .* is not writable"):
        learn.with_file_checkpointer().build(model, sgd(model)).fit(loaders()[0])
    assert model.train_steps == 0


def test_checkpoint_from_another_model(tmp_path: Path) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    learn.with_file_checkpointer().build(model, sgd(model)).fit(*loaders())
    other = Classifier(classes=5)
    learn, _ = builder(tmp_path, epochs=2)
    with pytest.raises(
        CheckpointError, match=r"(?s)epoch-1.pt does not fit Classifier.*size mismatch"
    ):
        learn.with_file_checkpointer().resume().build(other, sgd(other)).fit(*loaders())
    assert (tmp_path / "checkpoint" / "epoch-1.pt").exists()
    missing = Classifier()
    with pytest.raises(CheckpointError, match=r"no checkpoint for epoch 7 .*epochs on disk: 1"):
        builder(tmp_path, 9)[0].checkpoint(7).build(missing, sgd(missing)).fit(*loaders())


class ExplodingLoss(Classifier):
    def train_step(self, batch: Batch) -> TrainOutput[ClassificationOutput]:
        output = super().train_step(batch)
        if self.train_steps == 3:
            item = output.item
            loss = output.loss * math.nan
            return TrainOutput(loss, ClassificationOutput(loss, item.output, item.targets))
        return output


def test_nonfinite_loss_errors_naming_epoch_and_iteration(tmp_path: Path) -> None:
    model = ExplodingLoss()
    learn = LearnerBuilder(tmp_path).num_epochs(2).renderer(NullRenderer())
    with pytest.raises(NonFiniteLossError, match="the loss is nan at epoch 1, iteration 3"):
        learn.build(model, sgd(model)).fit(loaders()[0])


@pytest.mark.parametrize(
    ("checked_after", "bad_step"),
    [((), 700), ((300,), 301), ((300,), 1100), ((512, 1023), 1024)],
)
def test_the_loss_watch_names_the_first_nonfinite_loss_of_any_step(
    checked_after: tuple[int, ...], bad_step: int
) -> None:
    """Losses are kept on the device between reads (about once a second): the step named is
    the first bad one since the last read, whatever the losses' shapes."""
    watch = LossWatch("error", every_seconds=3600.0)
    for step in range(1, 1201):
        value = math.inf if step >= bad_step else float(step)
        # A one-element loss as well as a scalar one.
        loss = torch.tensor([value]) if step % 7 == 0 else torch.tensor(value)
        assert watch.admit(loss, epoch=2, iteration=step)
        if step in checked_after:
            assert not watch.look(force=True)
    assert watch.look(force=True)
    assert watch.found is not None
    assert watch.found.startswith(f"the loss is inf at epoch 2, iteration {bad_step};")


def test_nonfinite_loss_skip_and_stop(tmp_path: Path) -> None:
    model = ExplodingLoss()
    before = _weights(model)
    learn, memory = builder(tmp_path / "skip", epochs=1)
    learn.on_nonfinite_loss("skip").build(model, sgd(model)).fit(loaders()[0])
    assert all(torch.isfinite(w).all() for w in _weights(model))
    # The skipped batch is left out of the metrics too: 5 of 6 batches, a finite mean loss.
    (loss,) = memory.epochs[Split.TRAIN]["Loss"]
    assert loss.count == 96 - 16
    assert math.isfinite(loss.value)
    assert any(not torch.equal(a, b) for a, b in zip(before, _weights(model), strict=True))

    stopping = ExplodingLoss()
    learn = LearnerBuilder(tmp_path / "stop").num_epochs(3).renderer(NullRenderer())
    result = learn.on_nonfinite_loss("stop").build(stopping, sgd(stopping)).fit(loaders()[0])
    assert result.reason == "nonfinite_loss"
    assert stopping.train_steps < 3 * 6


class TargetBlind(Classifier):
    """Its loss ignores the targets, so only the metrics can notice that they are wrong."""

    def classify(self, batch: Batch) -> ClassificationOutput:
        x, y = batch
        logits = self(x)
        return ClassificationOutput(logits.pow(2).mean(), logits, y)


def test_a_deferred_metric_error_reaches_fit(tmp_path: Path) -> None:
    model = TargetBlind()
    x, _ = dataset(32).tensors
    bad = DataLoader(list(zip(x, torch.full((32,), 7), strict=True)), batch_size=16)
    learn, _ = builder(tmp_path)
    with pytest.raises(ValueError, match=r"Accuracy: expected targets within \[0, 2\]"):
        learn.build(model, sgd(model)).fit(bad)


def test_one_metric_instance_cannot_serve_two_splits(tmp_path: Path) -> None:
    metric = LossMetric()
    with pytest.raises(ValueError, match="'Loss' is already registered: each split needs its own"):
        LearnerBuilder(tmp_path).metric_train_numeric(metric).metric_valid_numeric(metric)
    with pytest.raises(
        ValueError,
        match="train metrics: metric names must be distinct; 'Loss' appears more than once",
    ):
        LearnerBuilder(tmp_path).metric_train_numeric(LossMetric()).metric_train_numeric(
            LossMetric()
        ).renderer(NullRenderer()).build(Classifier(), sgd(Classifier()))


def test_text_metrics_cannot_be_plotted(tmp_path: Path) -> None:
    class Text:
        name = "Text"

        def update(self, item: AccuracyInput, metadata: MetricMetadata) -> MetricEntry:
            return MetricEntry(self.name, "", "")

        def compute(self) -> MetricEntry:
            return MetricEntry(self.name, "", "")

        def clear(self) -> None:
            pass

    with pytest.raises(TypeError, match=r"'Text' .* is not numeric"):
        LearnerBuilder(tmp_path).metric_train_numeric(Text())
    LearnerBuilder(tmp_path).metric_train(Text())


def test_evaluate_runs_a_test_split(tmp_path: Path) -> None:
    model = Classifier()
    learn, memory = builder(tmp_path)
    finals = learn.build(model, sgd(model)).evaluate(loaders()[1])
    assert set(finals) == {"Loss", "Accuracy"}
    assert memory.epochs[Split.TEST]["Loss"][0].count == 40


def test_fit_releases_the_system_sampler(tmp_path: Path) -> None:
    import threading  # noqa: PLC0415

    from burnish import CpuUse  # noqa: PLC0415

    model = Classifier()
    learn, memory = builder(tmp_path, epochs=1)
    learn.metric_train_numeric(CpuUse()).build(model, sgd(model)).fit(*loaders())
    assert memory.epochs[Split.TRAIN]["CPU Usage"]
    samplers = [t for t in threading.enumerate() if t.name == "burnish-system-sampler"]
    for thread in samplers:
        thread.join(timeout=5)
    assert not any(thread.is_alive() for thread in samplers)


def test_evaluate_stops_without_writing_a_checkpoint(tmp_path: Path) -> None:
    class StopsWhileEvaluating(Classifier):
        def valid_step(self, batch: Batch) -> ClassificationOutput:
            interrupter.stop()
            return super().valid_step(batch)

    interrupter = Interrupter()
    model = StopsWhileEvaluating()
    learn, _ = builder(tmp_path)
    learner = learn.with_file_checkpointer().with_interrupter(interrupter).build(model, sgd(model))
    assert learner.evaluate(loaders()[1]) == {}
    assert read_run(tmp_path).end_reason == "stopped"
    assert not (tmp_path / "checkpoint").exists()


def test_a_consumer_failing_on_the_last_events_ends_at_once() -> None:
    class FailsAtTheEnd(NullRenderer):
        def consume(self, events: Sequence[LearnerEvent]) -> None:
            if any(isinstance(event, EndEvent) for event in events):
                raise ValueError("Accuracy: expected scores that are finite, received NaN")

    actor = Actor(FailsAtTheEnd(), "failing")
    actor.send(EndEvent("error", 0.0))
    actor.join(timeout=10.0)
    assert isinstance(actor.error, ValueError)
    assert not actor._thread.is_alive()


def test_a_models_own_transfer_hook_moves_every_batch(tmp_path: Path) -> None:
    class Halves(Classifier):
        """Its hook halves the inputs of every batch it is handed, train and valid."""

        def __init__(self) -> None:
            super().__init__()
            self.moved: list[torch.device] = []
            self.largest = 0.0

        def transfer_batch(self, batch: Batch, device: torch.device) -> Batch:
            self.moved.append(device)
            x, y = batch
            return x / 2, y

        def classify(self, batch: Batch) -> ClassificationOutput:
            x, _ = batch
            assert float(x.abs().max()) <= self.largest / 2
            return super().classify(batch)

    train, valid = loaders()
    model = Halves()
    model.largest = max(float(x.abs().max()) for x, _ in [*train, *valid])
    learn, _ = builder(tmp_path, epochs=1)
    learn.build(model, sgd(model)).fit(train, valid)
    assert model.moved == [torch.device("cpu")] * (len(train) + len(valid))
