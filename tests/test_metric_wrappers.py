"""Wrappers (Classwise, Running, BootStrapper) and usage modes, against TorchMetrics, Ignite
and scikit-learn; in a collection and in a learner."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import precision_score, roc_auc_score
from torchmetrics.classification import MulticlassAccuracy, MulticlassPrecision
from torchmetrics.wrappers import BootStrapper as TorchMetricsBootStrapper
from torchmetrics.wrappers import ClasswiseWrapper
from torchmetrics.wrappers import Running as TorchMetricsRunning

from burnish import (
    AccuracyInput,
    AccuracyMetric,
    AurocInput,
    AurocMetric,
    BatchWise,
    BootStrapper,
    ClassificationOutput,
    Classwise,
    ConfusionStatsInput,
    CpuUse,
    LossInput,
    LossMetric,
    MetricCollection,
    MetricMetadata,
    NumericEntry,
    PrecisionMetric,
    RecallMetric,
    Running,
    RunningEpochWise,
    Split,
    derive,
)
from burnish.metric.entry import resolve_entries
from burnish.metric.host import transfer_count
from tests.distributed_spawn import results, spawn
from tests.learner_fixtures import Classifier, builder, loaders, sgd
from tests.metric_checks import record_updates

META = MetricMetadata.fake()
CLASSES = 4
LABELS = ["cat", "dog", "bird", "fish"]

Batch = tuple[torch.Tensor, torch.Tensor]


def _batches(seed: int, sizes: list[int]) -> list[Batch]:
    """Random scores and targets; the first batch holds every class."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for index, size in enumerate(sizes):
        targets = torch.randint(0, CLASSES, (size,), generator=generator)
        if index == 0:
            targets[:CLASSES] = torch.arange(CLASSES)
        batches.append((torch.randn(size, CLASSES, generator=generator), targets))
    return batches


SIZES = st.lists(st.integers(CLASSES, 30), min_size=1, max_size=6)


@settings(max_examples=25, deadline=None)
@given(SIZES, st.integers(0, 2**31 - 1))
def test_classwise_matches_torchmetrics(sizes: list[int], seed: int) -> None:
    ours = Classwise(PrecisionMetric.multiclass(reduction="none"), LABELS)
    theirs = ClasswiseWrapper(MulticlassPrecision(CLASSES, average=None), LABELS)
    for scores, targets in _batches(seed, sizes):
        ours.update(ConfusionStatsInput(scores, targets), META)
        theirs.update(scores, targets)
    expected = {
        key.removeprefix("multiclassprecision_"): value.item()
        for key, value in theirs.compute().items()
    }
    # burnish leaves a class never predicted nor seen undefined; TorchMetrics gives it 0.
    got = {label: 0.0 if math.isnan(value) else value for label, value in ours.values().items()}
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_classwise_names_classes_in_entries_and_picks_them() -> None:
    precision = PrecisionMetric.multiclass(reduction="none")
    classwise = Classwise(precision, LABELS, name="Precision")
    dog = classwise["dog"]
    collection = MetricCollection([precision, classwise, dog, classwise[0] * 100])
    batches = _batches(0, [20, 20])
    for scores, targets in batches:
        entries = collection.update(ClassificationOutput(torch.zeros(()), scores, targets))
    per_class = precision.per_class()
    text = ", ".join(
        f"{label}: {value:.4f}" for label, value in zip(LABELS, per_class, strict=True)
    )
    assert entries["Precision"].formatted.endswith(f"mean [{text}]")
    assert collection.compute()["Precision"].formatted.endswith(f"mean [{text}]")
    assert classwise.values() == dict(zip(LABELS, per_class, strict=True))
    assert dog.name == "Precision[dog]"
    assert dog.running_value().value == pytest.approx(per_class[1])
    assert collection.values()["Precision[0] * 100"] == pytest.approx(100 * per_class[0])
    assert classwise.running_value().value == pytest.approx(np.mean(per_class))
    with pytest.raises(KeyError, match="no class labelled 'cow'"):
        classwise["cow"]
    wrong = Classwise(precision, ["a", "b"])
    with pytest.raises(ValueError, match="2 labels given for 4 classes"):
        wrong.values()
    assert Classwise(precision).values() == dict(zip("0123", per_class, strict=True))


@settings(max_examples=25, deadline=None)
@given(SIZES, st.integers(0, 2**31 - 1), st.integers(1, 4))
def test_running_window_matches_torchmetrics(sizes: list[int], seed: int, window: int) -> None:
    precision = Running(PrecisionMetric.multiclass(), window)
    loss = Running(LossMetric(), window)
    theirs = TorchMetricsRunning(MulticlassPrecision(CLASSES, average="macro"), window)
    generator = torch.Generator().manual_seed(seed)
    losses: list[torch.Tensor] = []
    before = transfer_count()
    for scores, targets in _batches(seed, sizes):
        precision.update(ConfusionStatsInput(scores, targets), META)
        theirs.update(scores, targets)
        losses.append(torch.rand(len(targets), generator=generator))
        loss.update(LossInput(losses[-1]), META)
        assert transfer_count() == before
        assert precision.value() == pytest.approx(theirs.compute().item(), rel=1e-6, abs=1e-7)
        assert loss.value() == pytest.approx(torch.cat(losses[-window:]).double().mean().item())
        before = transfer_count()


# Importing Ignite warns of its use of torch.jit.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_running_average_matches_ignite() -> None:
    from ignite.engine import Engine, Events  # noqa: PLC0415
    from ignite.metrics import Accuracy as IgniteAccuracy  # noqa: PLC0415
    from ignite.metrics import RunningAverage  # noqa: PLC0415

    batches = _batches(3, [16] * 8)
    engine = Engine(lambda engine, batch: batch)
    RunningAverage(IgniteAccuracy(), alpha=0.7).attach(engine, "running")
    expected: list[float] = []
    engine.add_event_handler(
        Events.ITERATION_COMPLETED, lambda engine: expected.append(engine.state.metrics["running"])
    )
    engine.run(batches, max_epochs=1)
    ours = Running(AccuracyMetric(), alpha=0.7)
    got = []
    for scores, targets in batches:
        ours.update(AccuracyInput(scores, targets), META)
        got.append(ours.value() / 100)
    assert got == pytest.approx(expected)


def _ignite_average(batch_values: list[list[float]], alpha: float) -> list[list[float]]:
    """Ignite's RunningAverage of per-class values, each class from its first defined value,
    an undefined (NaN) value keeping the running one."""
    running: list[float] | None = None
    out = []
    for values in batch_values:
        if running is None:
            running = list(values)
        else:
            running = [
                r if math.isnan(v) else v if math.isnan(r) else alpha * r + (1 - alpha) * v
                for r, v in zip(running, values, strict=True)
            ]
        out.append(running)
    return out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@settings(max_examples=20, deadline=None)
@given(
    st.integers(CLASSES, 40),
    st.lists(st.integers(1, 40), max_size=7),
    st.integers(0, 2**31 - 1),
    st.floats(0.05, 0.95),
)
def test_running_average_of_uneven_batches_matches_ignite(
    first: int, sizes: list[int], seed: int, alpha: float
) -> None:
    from ignite.engine import Engine, Events  # noqa: PLC0415
    from ignite.metrics import Accuracy as IgniteAccuracy  # noqa: PLC0415
    from ignite.metrics import RunningAverage  # noqa: PLC0415

    batches = _batches(seed, [first, *sizes])
    engine = Engine(lambda engine, batch: batch)
    RunningAverage(IgniteAccuracy(), alpha=alpha).attach(engine, "running")
    expected: list[float] = []
    engine.add_event_handler(
        Events.ITERATION_COMPLETED, lambda engine: expected.append(engine.state.metrics["running"])
    )
    engine.run(batches, max_epochs=1)
    ours = Running(AccuracyMetric(), alpha=alpha)
    entries = [ours.update(AccuracyInput(scores, targets), META) for scores, targets in batches]
    before = transfer_count()
    # Read together, the latest first: its predecessors' batches are read for it, once.
    resolve_entries(entries[::-1])
    assert transfer_count() - before <= 2
    logged = [NumericEntry.deserialize(entry.serialized).value / 100 for entry in entries]
    assert logged == pytest.approx(expected)
    assert ours.value() / 100 == pytest.approx(expected[-1])
    batch = (batches[-1][0].argmax(1) == batches[-1][1]).double().mean().item()
    assert entries[-1].formatted == f"running {100 * expected[-1]:.4f} - batch {100 * batch:.4f}"


def test_running_average_of_per_class_values_keeps_a_class_a_batch_lacks() -> None:
    alpha = 0.75
    ours = Running(RecallMetric.multiclass(reduction="none"), alpha=alpha)
    generator = torch.Generator().manual_seed(8)
    per_batch = []
    for size, seen in ((6, 2), (30, 4), (3, 1), (12, 3)):
        scores = torch.randn(size, CLASSES, generator=generator)
        targets = torch.randint(0, seen, (size,), generator=generator)
        ours.update(ConfusionStatsInput(scores, targets), META)
        recall = RecallMetric.multiclass(reduction="none")
        recall.update(ConfusionStatsInput(scores, targets), META)
        per_batch.append(recall.per_class())
        expected = _ignite_average(per_batch, alpha)[-1]
        assert ours.epoch_values() == pytest.approx(expected, nan_ok=True)
    assert any(math.isnan(value) for value in per_batch[2])


def test_running_average_folds_unread_batches_every_so_many_updates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("burnish.metric.wrappers.moving.UNREAD_LIMIT", 3)
    ours = Running(LossMetric(), alpha=0.5)
    losses = [torch.full((size,), float(size)) for size in (1, 2, 3, 4, 5, 6, 7, 8)]
    before = transfer_count()
    for loss in losses[:3]:
        ours.update(LossInput(loss), META)
    assert transfer_count() == before  # unread batches kept on the device
    ours.update(LossInput(losses[3]), META)
    assert transfer_count() == before + 1  # the limit reached: they are folded
    for loss in losses[4:]:
        ours.update(LossInput(loss), META)
    expected = _ignite_average([[float(len(loss))] for loss in losses], 0.5)[-1]
    assert ours.value() == pytest.approx(expected[0])


def _running_average_on(rank: int, alpha: float) -> tuple[float, float]:
    """Each process's batches of 8 into a moving average of accuracy, and into another on
    rank 0 only; both synced."""
    batches = _batches(rank, [8, 8, 8])
    both, first = Running(AccuracyMetric(), alpha=alpha), Running(AccuracyMetric(), alpha=alpha)
    for scores, targets in batches:
        both.update(AccuracyInput(scores, targets), META)
        if rank == 0:
            first.update(AccuracyInput(scores, targets), META)
    return tuple(NumericEntry.deserialize(m.compute().serialized).value for m in (both, first))


def test_a_synced_running_average_averages_the_runs_batch_values(tmp_path: Path) -> None:
    alpha = 0.6
    synced = results(spawn(_running_average_on, tmp_path, alpha))
    accuracies = [
        [(s.argmax(1) == t).double().mean().item() for s, t in _batches(rank, [8, 8, 8])]
        for rank in range(2)
    ]
    # Equal batches stepping together: each step's accuracy over both processes' batches.
    run = [[100 * (a + b) / 2] for a, b in zip(*accuracies, strict=True)]
    alone = [[100 * a] for a in accuracies[0]]
    want = (_ignite_average(run, alpha)[-1][0], _ignite_average(alone, alpha)[-1][0])
    for result in synced:
        assert result == pytest.approx(want)


def test_running_average_of_totals_decays_a_ratios_counts() -> None:
    alpha = 0.6
    ours = Running(PrecisionMetric.binary(), alpha=alpha, decayed="totals")
    true_positives = predicted = 0.0
    generator = torch.Generator().manual_seed(5)
    for step in range(6):
        size = 10 + step
        scores, targets = torch.rand(size, generator=generator), torch.randint(0, 2, (size,))
        entry = ours.update(ConfusionStatsInput(scores, targets), META)
        hits = ((scores > 0.5) & (targets == 1)).sum().item()
        positives = (scores > 0.5).sum().item()
        if step == 0:
            true_positives, predicted = hits, positives
        else:
            true_positives = alpha * true_positives + (1 - alpha) * hits
            predicted = alpha * predicted + (1 - alpha) * positives
        expected = true_positives / predicted
        assert ours.value() == pytest.approx(expected)
        assert entry.formatted == f"running {expected:.4f} - batch {hits / positives:.4f}"


def test_running_window_of_a_metric_without_totals_is_replayed() -> None:
    window = 3
    auroc = Running(AurocMetric.binary(), window)
    generator = torch.Generator().manual_seed(2)
    seen: list[Batch] = []
    entries = []
    for _ in range(5):
        scores, targets = torch.rand(20, generator=generator), torch.randint(0, 2, (20,))
        seen.append((scores, targets))
        entries.append(auroc.update(AurocInput(scores, targets), META))
    recent = seen[-window:]
    expected = roc_auc_score(torch.cat([t for _, t in recent]), torch.cat([s for s, _ in recent]))
    assert auroc.value() == pytest.approx(expected)
    assert auroc.compute().formatted == f"{expected:.4f}"
    first = roc_auc_score(seen[0][1], seen[0][0])
    assert NumericEntry.deserialize(entries[0].serialized).value == pytest.approx(first)
    with pytest.raises(ValueError, match="moving average needs a metric with totals"):
        Running(AurocMetric.binary(), alpha=0.5)


def test_running_state_clear_and_mistakes() -> None:
    batches = _batches(4, [10, 12, 14, 16])
    for make in (
        lambda: Running(PrecisionMetric.multiclass(), 2),
        lambda: Running(RecallMetric.multiclass(), alpha=0.8),
        lambda: Running(RecallMetric.multiclass(), alpha=0.8, decayed="totals"),
    ):
        whole, first = make(), make()
        for scores, targets in batches[:3]:
            whole.update(ConfusionStatsInput(scores, targets), META)
            first.update(ConfusionStatsInput(scores, targets), META)
        resumed = make()
        resumed.load_state_dict(first.state_dict())
        for metric in (whole, resumed):
            metric.update(ConfusionStatsInput(*batches[3]), META)
        assert resumed.value() == pytest.approx(whole.value())
        whole.clear()
        assert math.isnan(whole.value())
        whole.update(ConfusionStatsInput(*batches[0]), META)
        # After a clear, the window holds the one batch since.
        assert whole.value() == pytest.approx(whole.metric.running_value().value)
    with pytest.raises(ValueError, match="either a window or an alpha"):
        Running(LossMetric())
    with pytest.raises(ValueError, match="window as an int >= 1"):
        Running(LossMetric(), 0)
    with pytest.raises(ValueError, match=r"alpha within \(0, 1\)"):
        Running(LossMetric(), alpha=1.0)
    with pytest.raises(ValueError, match=r"expected decayed among \('values', 'totals'\)"):
        Running(LossMetric(), alpha=0.5, decayed="batches")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="decayed='totals' is for a moving average"):
        Running(LossMetric(), 3, decayed="totals")


@pytest.mark.parametrize("sampling", ["poisson", "multinomial"])
def test_bootstrapper_matches_torchmetrics_with_the_same_seed(sampling: str) -> None:
    batches = _batches(6, [25, 9, 40, 17])
    torch.manual_seed(11)
    theirs = TorchMetricsBootStrapper(
        MulticlassAccuracy(CLASSES, average="micro"),
        num_bootstraps=12,
        quantile=torch.tensor([0.05, 0.5, 0.95]),
        raw=True,
        sampling_strategy=sampling,
    )
    for scores, targets in batches:
        theirs.update(scores, targets)
    torch.manual_seed(11)
    ours = BootStrapper(
        AccuracyMetric(),
        12,
        quantiles=(0.05, 0.5, 0.95),
        sampling=sampling,  # type: ignore[arg-type]
    )
    before = transfer_count()
    for scores, targets in batches:
        ours.update(ClassificationOutput(torch.zeros(()), scores, targets), META)
    assert transfer_count() == before
    expected = {key: value.double() / 100 for key, value in theirs.compute().items()}
    result = ours.bootstrap()
    scale = 1 / 100
    assert result.mean * scale**2 == pytest.approx(expected["mean"].item(), rel=1e-5)
    assert result.std * scale**2 == pytest.approx(expected["std"].item(), rel=1e-5)
    assert [v * scale**2 for v in result.quantiles.values()] == pytest.approx(
        expected["quantile"].tolist(), rel=1e-5
    )
    assert [v * scale**2 for v in result.raw] == pytest.approx(expected["raw"].tolist(), rel=1e-5)
    assert ours.running_value().value == result.mean
    low, middle, high = result.quantiles.values()
    assert ours.compute().formatted == (
        f"{result.mean:.4f} ± {result.std:.4f} [0.05: {low:.4f}, 0.5: {middle:.4f}, "
        f"0.95: {high:.4f}]"
    )


def test_bootstrap_spread_is_the_binomial_one() -> None:
    # Accuracy of n items with p = 0.7: the bootstrap std approaches sqrt(p (1 - p) / n).
    generator = torch.Generator().manual_seed(0)
    n = 400
    targets = torch.randint(0, CLASSES, (n,), generator=generator)
    correct = torch.rand(n, generator=generator) < 0.7
    predicted = torch.where(correct, targets, (targets + 1) % CLASSES)
    scores = torch.nn.functional.one_hot(predicted, CLASSES).float()
    ours = BootStrapper(
        AccuracyMetric(), 200, sampling="multinomial", generator=torch.Generator().manual_seed(1)
    )
    for start in range(0, n, 50):
        ours.update(AccuracyInput(scores[start : start + 50], targets[start : start + 50]), META)
    accuracy = correct.double().mean().item()
    result = ours.bootstrap()
    assert result.mean / 100 == pytest.approx(accuracy, abs=0.01)
    assert result.std / 100 == pytest.approx(math.sqrt(accuracy * (1 - accuracy) / n), rel=0.2)
    low, high = result.quantiles.values()
    assert low < result.mean < high


def test_bootstrapper_state_is_exact_with_its_generator() -> None:
    batches = _batches(8, [20, 20, 20])

    def make() -> BootStrapper:
        return BootStrapper(
            RecallMetric.multiclass(), 5, generator=torch.Generator().manual_seed(3)
        )

    whole, first = make(), make()
    for scores, targets in batches[:2]:
        whole.update(ConfusionStatsInput(scores, targets), META)
        first.update(ConfusionStatsInput(scores, targets), META)
    resumed = make()
    resumed.load_state_dict(first.state_dict())
    for metric in (whole, resumed):
        metric.update(ConfusionStatsInput(*batches[2]), META)
    assert resumed.bootstrap() == whole.bootstrap()
    whole.reset()
    assert math.isnan(whole.running_value().value)
    with pytest.raises(ValueError, match="takes no input to resample"):
        BootStrapper(CpuUse(), 5)
    with pytest.raises(ValueError, match="num_bootstraps as an int >= 2"):
        BootStrapper(LossMetric(), 1)
    with pytest.raises(TypeError, match="one row per item"):
        BootStrapper(LossMetric(), 3).update(LossInput(torch.tensor(1.0)), META)


def test_usage_modes() -> None:
    batches = _batches(9, [10, 20, 30])
    batch_wise = BatchWise(AccuracyMetric())
    run_wise = RunningEpochWise(AccuracyMetric())
    outputs = [ClassificationOutput(torch.zeros(()), s, t) for s, t in batches]
    for output in outputs[:2]:
        batch_wise.update(output, META)
        run_wise.update(output, META)
    # An epoch ends: a learner computes, then clears.
    batch_wise.clear()
    run_wise.clear()
    batch_wise.update(outputs[2], META)
    run_wise.update(outputs[2], META)
    last = AccuracyMetric()
    last.update(outputs[2], META)
    everything = AccuracyMetric()
    for output in outputs:
        everything.update(output, META)
    assert batch_wise.running_value() == last.running_value()
    assert batch_wise.compute().formatted == last.compute().formatted
    assert run_wise.running_value() == everything.running_value()
    run_wise.reset()
    assert math.isnan(run_wise.running_value().value)
    resumed = BatchWise(AccuracyMetric())
    resumed.load_state_dict(batch_wise.state_dict())
    assert resumed.running_value() == last.running_value()


def test_wrappers_share_their_metric_in_a_collection(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = record_updates(monkeypatch, PrecisionMetric)
    precision = PrecisionMetric.multiclass(reduction="none")
    classwise = Classwise(precision, LABELS, name="By class")
    collection = MetricCollection(
        [precision, classwise, Running(precision, 2), Running(classwise["cat"], 3), precision[2]]
    )
    for scores, targets in _batches(1, [12, 12, 12]):
        collection.update(ClassificationOutput(torch.zeros(()), scores, targets))
    assert calls == ["Per-class Precision"] * 3
    clone = collection.clone(prefix="valid/")
    assert clone.values() == {f"valid/{key}": value for key, value in collection.values().items()}


def test_derived_and_wrapped_metrics_in_a_learner(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Classifier()
    train, valid = loaders()
    learn, _ = builder(tmp_path, epochs=2)
    precision, recall = PrecisionMetric.multiclass(), RecallMetric.multiclass()
    learn = (
        learn.metric_valid_numeric(precision)
        .metric_valid_numeric(recall)
        .metric_valid_numeric(derive(2 * precision * recall / (precision + recall), name="F1"))
        .metric_valid_numeric(Running(LossMetric(), 2))
        .metric_valid_numeric(BootStrapper(AccuracyMetric(), 5, sampling="multinomial"))
        .metric_train_numeric(Running(AccuracyMetric(), alpha=0.9))
    )
    result = learn.build(model, sgd(model)).fit(train, valid)
    p, r = result.value(Split.VALID, "Macro Precision"), result.value(Split.VALID, "Macro Recall")
    assert p is not None
    assert r is not None
    assert result.value(Split.VALID, "F1") == pytest.approx(2 * p * r / (p + r))
    model.eval()
    x, y = valid.dataset.tensors  # type: ignore[attr-defined]
    with torch.no_grad():
        predicted = model(x).argmax(1)
    assert p == pytest.approx(precision_score(y, predicted, average="macro", zero_division=0))
    for name in ("Running Loss", "Accuracy (bootstrap)"):
        assert result.value(Split.VALID, name) is not None
    assert result.value(Split.TRAIN, "Running Accuracy") is not None
