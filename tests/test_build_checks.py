"""Configuration errors are caught when they are made or at ``build()``, before the first batch:
strategies watching a metric that is never recorded, objects that are not metrics, and metric
states loaded into the wrong metric."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from burnish import (
    AccuracyMetric,
    AucPrMetric,
    AurocMetric,
    BatchWise,
    BootStrapper,
    Classwise,
    ComposedCheckpointingStrategy,
    ConfusionMatrixMetric,
    CpuUse,
    Direction,
    FBetaScoreMetric,
    FunctionMetric,
    HammingScoreMetric,
    IterationSpeedMetric,
    KeepLastNCheckpoints,
    LearnerBuilder,
    LearningRateMetric,
    LossMetric,
    MetricCheckpointingStrategy,
    MetricEarlyStoppingStrategy,
    MetricEntry,
    NoImprovementSince,
    NumericEntry,
    PerplexityMetric,
    PrecisionMetric,
    RecallMetric,
    Running,
    RunningEpochWise,
    Split,
    TopKAccuracyMetric,
    derive,
)
from burnish.learner.history import MetricHistory
from tests.learner_fixtures import Classifier, NullRenderer, builder, loaders, sgd

# -- strategies watch registered numeric metrics ----------------------------------------------


def _build(learn: LearnerBuilder) -> None:
    model = Classifier()
    learn.build(model, sgd(model))


def test_early_stopping_on_a_misspelled_metric_is_refused_at_build(tmp_path: Path) -> None:
    learn, _ = builder(tmp_path)
    learn.early_stopping(MetricEarlyStoppingStrategy("loss", condition=NoImprovementSince(2)))
    with pytest.raises(
        ValueError,
        match=(
            r"early_stopping: MetricEarlyStoppingStrategy watches 'loss' of the valid split, .*"
            r"the numeric valid metrics are 'Loss', 'Accuracy'"
        ),
    ):
        _build(learn)


def test_a_split_without_numeric_metrics_says_how_to_register_one(tmp_path: Path) -> None:
    learn = LearnerBuilder(tmp_path).metric_valid_numeric(LossMetric()).renderer(NullRenderer())
    learn.with_file_checkpointer(MetricCheckpointingStrategy("Loss", split=Split.TRAIN))
    with pytest.raises(
        ValueError,
        match=(
            r"with_file_checkpointer: MetricCheckpointingStrategy watches 'Loss' of the train "
            r"split, .*there are no numeric train metrics: register one with "
            r"metric_train_numeric\(\)"
        ),
    ):
        _build(learn)


def test_a_metric_registered_as_text_cannot_be_watched(tmp_path: Path) -> None:
    learn = LearnerBuilder(tmp_path).metric_valid(AccuracyMetric()).renderer(NullRenderer())
    learn.early_stopping(MetricEarlyStoppingStrategy(AccuracyMetric(), direction=Direction.HIGHEST))
    with pytest.raises(ValueError, match=r"watches 'Accuracy' of the valid split"):
        _build(learn)


def test_the_test_split_is_not_watched_during_fit(tmp_path: Path) -> None:
    learn, _ = builder(tmp_path)
    learn.early_stopping(MetricEarlyStoppingStrategy("Loss", split=Split.TEST))
    with pytest.raises(ValueError, match=r"fit\(\) runs the train and valid splits only"):
        _build(learn)


def test_a_composed_strategy_is_checked_part_by_part(tmp_path: Path) -> None:
    learn, _ = builder(tmp_path)
    composed = ComposedCheckpointingStrategy(
        KeepLastNCheckpoints(3),
        MetricCheckpointingStrategy("Loss"),
        MetricCheckpointingStrategy("Accuracy ", direction=Direction.HIGHEST),
    )
    with pytest.raises(
        ValueError, match=r"ComposedCheckpointingStrategy watches 'Accuracy ' of the valid split"
    ):
        _build(learn.with_file_checkpointer(composed))


class _KeepEverything:
    """A user's strategy that does not say what it watches: not checked."""

    def wanted(self, epoch: int, history: MetricHistory) -> frozenset[int]:
        return frozenset(range(1, epoch + 1))


class _StopOnLag:
    """A user's strategy that says what it watches: checked like the built-in ones."""

    def should_stop(self, epoch: int, history: MetricHistory) -> bool:
        return False

    def watched(self) -> Iterable[tuple[Split, str]]:
        return [(Split.TRAIN, "Lag")]


def test_user_strategies_are_checked_when_they_say_what_they_watch(tmp_path: Path) -> None:
    learn, _ = builder(tmp_path)
    _build(learn.with_file_checkpointer(_KeepEverything()))
    with pytest.raises(ValueError, match=r"early_stopping: _StopOnLag watches 'Lag'"):
        _build(learn.early_stopping(_StopOnLag()))


def test_the_default_checkpointer_keeps_the_last_two_epochs_without_a_valid_loss(
    tmp_path: Path,
) -> None:
    model = Classifier()
    learn = LearnerBuilder(tmp_path).metric_train_numeric(LossMetric()).renderer(NullRenderer())
    learner = learn.num_epochs(3).with_file_checkpointer().build(model, sgd(model))
    learner.fit(*loaders())
    kept = sorted(path.name for path in (tmp_path / "checkpoint").glob("*.pt"))
    assert kept == ["epoch-2.pt", "epoch-3.pt"]


def test_the_default_checkpointer_sees_a_valid_loss_registered_after_it(tmp_path: Path) -> None:
    learn = LearnerBuilder(tmp_path).renderer(NullRenderer()).with_file_checkpointer()
    model = Classifier()
    learner = learn.metric_valid_numeric(LossMetric()).build(model, sgd(model))
    strategy = learner.config.checkpointing
    assert isinstance(strategy, ComposedCheckpointingStrategy)
    assert list(strategy.watched()) == [(Split.VALID, "Loss")]


# -- registration needs a metric ----------------------------------------------------------------

_METRIC_MEMBERS = ("name", "update", "compute", "clear")
_NUMERIC_MEMBERS = ("higher_is_better", "value", "running_value")


def _entry(self: Any, *args: object) -> MetricEntry:
    return MetricEntry("Custom", "", "")


_MEMBERS: dict[str, object] = {
    "name": "Custom",
    "update": _entry,
    "compute": _entry,
    "clear": lambda self: None,
    "higher_is_better": True,
    "value": lambda self: 0.0,
    "running_value": lambda self: NumericEntry(0.0),
}


def _metric_without(missing: Iterable[str]) -> object:
    members = {key: value for key, value in _MEMBERS.items() if key not in missing}
    return type("Custom", (), members)()


@given(
    missing=st.sets(st.sampled_from(_METRIC_MEMBERS), min_size=1),
    option=st.sampled_from(
        ["metric_train", "metric_valid", "metric_train_numeric", "metric_valid_numeric"]
    ),
)
def test_registering_an_object_that_is_not_a_metric_names_what_it_lacks(
    missing: set[str], option: str
) -> None:
    register = getattr(LearnerBuilder("unused"), option)
    lacks = re.escape(f"Custom is not a metric: it lacks {', '.join(sorted(missing))} (")
    with pytest.raises(TypeError, match=lacks):
        register(_metric_without(missing))


@given(
    missing=st.sets(st.sampled_from(_NUMERIC_MEMBERS), min_size=1),
    option=st.sampled_from(["metric_train_numeric", "metric_valid_numeric"]),
)
def test_registering_a_metric_as_numeric_names_what_it_lacks(
    missing: set[str], option: str
) -> None:
    register = getattr(LearnerBuilder("unused"), option)
    lacks = re.escape(
        f"metric 'Custom' (Custom) is not numeric: it lacks {', '.join(sorted(missing))} ("
    )
    with pytest.raises(TypeError, match=lacks):
        register(_metric_without(missing))
    LearnerBuilder("unused").metric_train(_metric_without(missing))


def test_a_complete_custom_metric_registers_as_numeric() -> None:
    LearnerBuilder("unused").metric_train_numeric(_metric_without(()))


# -- a metric loads only a state shaped as its own ----------------------------------------------


def _mean(targets: Any, predictions: Any) -> float:
    return 0.0


STATEFUL: list[Callable[[], Any]] = [
    LossMetric,
    AccuracyMetric,
    lambda: TopKAccuracyMetric(2),
    PrecisionMetric.multiclass,
    lambda: RecallMetric.multiclass(reduction="none"),
    lambda: FBetaScoreMetric.multilabel(beta=2.0),
    AurocMetric.multiclass,
    lambda: AucPrMetric.multiclass(bins=50),
    HammingScoreMetric,
    PerplexityMetric,
    ConfusionMatrixMetric.multiclass,
    LearningRateMetric,
    IterationSpeedMetric,
    CpuUse,
    lambda: FunctionMetric(_mean),
    lambda: BatchWise(LossMetric()),
    lambda: RunningEpochWise(AccuracyMetric()),
    lambda: BootStrapper(AccuracyMetric(), 3),
    lambda: Running(PrecisionMetric.multiclass(), 2),
    lambda: Classwise(RecallMetric.multiclass(reduction="none")),
    lambda: derive(2 * PrecisionMetric.multiclass(), name="Twice"),
]


def _refused(metric: Any, state: object) -> str:
    label = f"metric {metric.name!r} ({type(metric).__qualname__}) cannot load this state: "
    with pytest.raises(ValueError, match=re.escape(label)) as raised:
        metric.load_state_dict(state)
    return str(raised.value)


@pytest.mark.parametrize("make", STATEFUL, ids=lambda make: make().name)
def test_a_metric_refuses_a_state_with_other_keys(make: Callable[[], Any]) -> None:
    metric = make()
    own = metric.state_dict()
    expected = f"expected the keys {list(own)}"
    extra = {**own, "unrelated": 0}
    assert f"{expected}, received {list(extra)}" in _refused(metric, extra)
    if own:
        missing = dict(list(own.items())[1:])
        assert f"{expected}, received {list(missing)}" in _refused(metric, missing)
    assert "expected a dict, received list" in _refused(metric, list(own))
    metric.load_state_dict(make().state_dict())


@pytest.mark.parametrize("make", STATEFUL, ids=lambda make: make().name)
def test_a_metric_refuses_another_metrics_state(make: Callable[[], Any]) -> None:
    metric = make()
    own = metric.state_dict()
    for other in STATEFUL:
        state = other().state_dict()
        if set(state) != set(own):
            assert f"received {list(state)}" in _refused(metric, state)


def test_a_nested_state_is_checked_too() -> None:
    message = _refused(LossMetric(), AccuracyMetric().state_dict())
    assert message.endswith(
        "at state['checks'], expected the keys ['bounds'], received ['num_classes', 'bounds']"
    )
