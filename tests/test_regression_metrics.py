"""The regression metrics give scikit-learn's values for any batching and block split."""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from burnish import (
    ExplainedVarianceMetric,
    MeanAbsoluteErrorMetric,
    MeanSquaredErrorMetric,
    MetricMetadata,
    R2ScoreMetric,
    RegressionInput,
    RegressionOutput,
    RootMeanSquaredErrorMetric,
    Split,
)
from burnish.functional import regression as functional
from burnish.metric import MetricCollection, Numeric
from burnish.metric.host import transfer_count
from burnish.processor.events import StepsEvent
from burnish.processor.read import PendingStep, UnreadSteps
from tests.distributed_spawn import results, spawn
from tests.metric_checks import reads_forbidden

META = MetricMetadata.fake()
Metric = (
    MeanAbsoluteErrorMetric
    | MeanSquaredErrorMetric
    | RootMeanSquaredErrorMetric
    | R2ScoreMetric
    | ExplainedVarianceMetric
)


def _reference(name: str, multioutput: str, force_finite: bool) -> Callable[..., Any]:
    """scikit-learn's function for a metric, as ``reference(y_true, y_pred)``."""
    if name == "MAE":
        return lambda y, p: skm.mean_absolute_error(y, p, multioutput=multioutput)
    if name == "MSE":
        return lambda y, p: skm.mean_squared_error(y, p, multioutput=multioutput)
    if name == "RMSE":
        return lambda y, p: skm.root_mean_squared_error(y, p, multioutput=multioutput)
    if name == "R2":
        return lambda y, p: skm.r2_score(y, p, multioutput=multioutput, force_finite=force_finite)
    return lambda y, p: skm.explained_variance_score(
        y, p, multioutput=multioutput, force_finite=force_finite
    )


def _metrics(multioutput: str, force_finite: bool = True) -> list[Metric]:
    errors = "uniform_average" if multioutput == "variance_weighted" else multioutput
    return [
        MeanAbsoluteErrorMetric(errors),  # type: ignore[arg-type]
        MeanSquaredErrorMetric(errors),  # type: ignore[arg-type]
        RootMeanSquaredErrorMetric(errors),  # type: ignore[arg-type]
        R2ScoreMetric(multioutput, force_finite),  # type: ignore[arg-type]
        ExplainedVarianceMetric(multioutput, force_finite),  # type: ignore[arg-type]
    ]


def _expected(metric: Metric, targets: np.ndarray, outputs: np.ndarray) -> float:
    """The metric's numeric value per scikit-learn: raw values stand as their mean."""
    multioutput = getattr(metric, "multioutput", "uniform_average")
    force_finite = getattr(metric, "force_finite", True)
    reference = _reference(metric.name, multioutput, force_finite)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # R² of one item: NaN, with a warning
        with np.errstate(divide="ignore", invalid="ignore"):
            value = reference(targets, outputs)
    return float(np.mean(value))


def _close(got: float, want: float) -> bool:
    if math.isnan(want) or math.isnan(got):
        return math.isnan(want) and math.isnan(got)
    return got == pytest.approx(want, rel=1e-7, abs=1e-9)


@st.composite
def regression_steps(draw: st.DrawFn) -> tuple[list[RegressionOutput], list[int], str, bool]:
    """Steps of outputs and targets ``(N,)`` or ``(N, D)``, a split of them into blocks, a
    ``multioutput`` and ``force_finite``. Some steps are coarse (ties, constant targets and
    residuals, exact predictions), in integers, which every sum holds exactly."""
    width = draw(st.sampled_from([None, 1, 2, 4]))
    steps = draw(st.integers(1, 8))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**32 - 1)))
    outputs = []
    for _ in range(steps):
        size = draw(st.integers(1, 17))
        shape = (size,) if width is None else (size, width)
        targets = 3.0 * torch.randn(shape, generator=generator) + 1.0
        predicted = targets + torch.randn(shape, generator=generator)
        kind = draw(st.sampled_from(["continuous", "coarse", "constant", "exact", "offset"]))
        if kind == "coarse":
            targets, predicted = targets.round(), predicted.round()
        elif kind == "constant":
            targets = torch.full(shape, 2.0)
            predicted = predicted.round()
        elif kind == "exact":
            targets = targets.round()
            predicted = targets.clone()
        elif kind == "offset":
            targets = targets.round()
            predicted = targets + 1.0
        outputs.append(RegressionOutput(torch.zeros(()), predicted, targets))
    cuts = sorted(set(draw(st.lists(st.integers(1, max(1, steps - 1)), max_size=4))))
    multioutput = draw(st.sampled_from(["uniform_average", "variance_weighted", "raw_values"]))
    return outputs, cuts, multioutput, draw(st.booleans())


def _arrays(outputs: Sequence[RegressionOutput]) -> tuple[np.ndarray, np.ndarray]:
    targets = torch.cat([o.targets for o in outputs]).double().numpy()
    predicted = torch.cat([o.output for o in outputs]).double().numpy()
    return targets, predicted


@settings(max_examples=60, deadline=None)
@given(regression_steps())
def test_step_and_epoch_values_match_sklearn(
    case: tuple[list[RegressionOutput], list[int], str, bool],
) -> None:
    outputs, _, multioutput, force_finite = case
    metrics = _metrics(multioutput, force_finite)
    for step, output in enumerate(outputs):
        entries = [metric.update(output, META) for metric in metrics]
        batch = _arrays([output])
        for metric, entry in zip(metrics, entries, strict=True):
            want = _expected(metric, *batch)
            assert _close(entry.numeric.value, want), (metric.name, step, entry)
            assert _close(metric.value(), want), metric.name
    epoch = _arrays(outputs)
    for metric in metrics:
        want = _expected(metric, *epoch)
        assert _close(metric.compute().numeric.value, want), metric.name
        assert _close(metric.running_value().value, want), metric.name


def _read_block(collection: MetricCollection, outputs: Sequence[Any]) -> StepsEvent:
    """The steps updated as the processor updates a block of them, and read as it reads one."""
    metadata = [MetricMetadata.fake()] * len(outputs)
    plan = collection.plan
    columns = plan.update_columns(outputs, metadata, [plan.update_moment(m) for m in metadata])
    steps = [PendingStep(None, 0, step, (), 0.0, (), None) for step in range(len(outputs))]
    numeric = [True if isinstance(metric, Numeric) else None for _, metric in collection.items()]
    return UnreadSteps(Split.TRAIN, 1, 1, None, steps, columns, numeric).read()


@settings(max_examples=40, deadline=None)
@given(regression_steps())
def test_blocks_give_what_steps_give_and_sklearn_gives(
    case: tuple[list[RegressionOutput], list[int], str, bool],
) -> None:
    """Each block's per-step numbers are each batch's values, its last texts those of
    step-by-step updates, and the epoch value that of every item at once; one transfer per
    block."""
    outputs, cuts, multioutput, force_finite = case
    stepwise = MetricCollection(list(_metrics(multioutput, force_finite)))
    blocked = MetricCollection(list(_metrics(multioutput, force_finite)))
    metrics = dict(blocked.items())
    expected = [stepwise.update(output) for output in outputs]
    for start, end in zip([0, *cuts], [*cuts, len(outputs)], strict=True):
        if start == end:
            continue  # a cut past the last step
        before = transfer_count()
        event = _read_block(blocked, outputs[start:end])
        assert transfer_count() == before + 1, "a block was not read in one transfer"
        for name, column in event.numbers.items():
            for step in range(len(column)):
                got = column.entry(step)
                want = expected[start + step][name].numeric
                assert (got.count, got.kind) == (want.count, want.kind), name
                assert _close(got.value, want.value), name
                batch = _arrays([outputs[start + step]])
                assert _close(got.value, _expected(metrics[name], *batch)), name
        for update in event.latest:
            step_entry = expected[end - 1][update.entry.name]
            assert _close(update.entry.numeric.value, step_entry.numeric.value)
            assert update.entry.formatted == step_entry.formatted
    epoch = _arrays(outputs)
    for name, entry in blocked.compute().items():
        assert _close(entry.numeric.value, _expected(metrics[name], *epoch)), name
        assert _close(entry.numeric.value, stepwise.compute()[name].numeric.value), name


@settings(max_examples=40, deadline=None)
@given(regression_steps())
def test_functional_forms_match_sklearn(
    case: tuple[list[RegressionOutput], list[int], str, bool],
) -> None:
    outputs, _, multioutput, force_finite = case
    predicted = torch.cat([o.output for o in outputs])
    targets = torch.cat([o.targets for o in outputs])
    y, p = targets.double().numpy(), predicted.double().numpy()
    errors = "uniform_average" if multioutput == "variance_weighted" else multioutput
    pairs: list[tuple[torch.Tensor, Any]] = [
        (
            functional.mean_absolute_error(predicted, targets, errors),
            _reference("MAE", errors, True),
        ),  # type: ignore[arg-type]
        (
            functional.mean_squared_error(predicted, targets, errors),
            _reference("MSE", errors, True),
        ),  # type: ignore[arg-type]
        (
            functional.root_mean_squared_error(predicted, targets, errors),
            _reference("RMSE", errors, True),
        ),  # type: ignore[arg-type]
        (
            functional.r2_score(predicted, targets, multioutput, force_finite),
            _reference("R2", multioutput, force_finite),
        ),  # type: ignore[arg-type]
        (
            functional.explained_variance(predicted, targets, multioutput, force_finite),
            _reference("EV", multioutput, force_finite),
        ),  # type: ignore[arg-type]
    ]
    for got, reference in pairs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.errstate(divide="ignore", invalid="ignore"):
                want = np.atleast_1d(reference(y, p))
        assert got.dtype == torch.float64
        values = np.atleast_1d(got.numpy())
        if want.shape == (1,) and np.isnan(want[0]):
            want = np.broadcast_to(want, values.shape)  # R² of one item: NaN for each output
        np.testing.assert_allclose(values, want, rtol=1e-7, atol=1e-9)


# Edge cases, against scikit-learn where it is exact (integer values).

CONSTANT = torch.tensor([[2.0, 1.0], [2.0, 3.0], [2.0, 5.0]])


@pytest.mark.parametrize("force_finite", [True, False])
@pytest.mark.parametrize("multioutput", ["uniform_average", "variance_weighted", "raw_values"])
@pytest.mark.parametrize(
    "predicted",
    [CONSTANT.clone(), CONSTANT + torch.tensor([[1.0, 0.0], [-1.0, 1.0], [0.0, 0.0]])],
    ids=["perfect", "imperfect"],
)
def test_constant_targets_follow_force_finite(
    force_finite: bool, multioutput: str, predicted: torch.Tensor
) -> None:
    y, p = CONSTANT.double().numpy(), predicted.double().numpy()
    for metric in _metrics(multioutput, force_finite)[3:]:
        metric.update(RegressionInput(predicted, CONSTANT))
        assert _close(metric.compute().numeric.value, _expected(metric, y, p)), metric.name
    # One output, constant: force_finite gives 1 for perfect predictions, else 0.
    first = predicted[:, 0]
    r2 = functional.r2_score(first, CONSTANT[:, 0], force_finite=True)
    assert float(r2) == (1.0 if torch.equal(first, CONSTANT[:, 0]) else 0.0)


def test_a_constant_offset_explains_every_variance_but_not_r2() -> None:
    targets = torch.tensor([0.1, 0.7, 0.3, 0.9])
    r2, explained = R2ScoreMetric(), ExplainedVarianceMetric()
    for metric in (r2, explained):
        metric.update(RegressionInput(targets + 0.25, targets))
    assert explained.compute().numeric.value == pytest.approx(1.0)
    want = skm.r2_score(targets.double().numpy(), (targets + 0.25).double().numpy())
    assert r2.compute().numeric.value == pytest.approx(want)


def test_a_batch_of_one_item() -> None:
    item = RegressionInput(torch.tensor([1.5]), torch.tensor([2.0]))
    metrics = _metrics("uniform_average")
    values = {metric.name: metric.update(item, META).numeric.value for metric in metrics}
    assert values["MAE"] == 0.5
    assert values["MSE"] == 0.25
    assert values["RMSE"] == 0.5
    assert math.isnan(values["R2"])  # undefined under two items, as scikit-learn's
    assert values["Explained Variance"] == 1.0  # one residual: no variance left
    assert metrics[3].update(item, META).formatted == "epoch 0.0000 - batch n/a"


def test_an_empty_epoch_is_not_available() -> None:
    for metric in _metrics("raw_values"):
        assert math.isnan(metric.compute().numeric.value)
        assert metric.compute().formatted == "n/a"
        assert math.isnan(metric.value())
        assert math.isnan(metric.running_value().value)


def test_an_empty_batch_adds_nothing() -> None:
    targets = torch.tensor([[1.0, 2.0], [3.0, 5.0], [4.0, 4.0]])
    predicted = targets + torch.tensor([[0.5, -1.0], [0.0, 1.0], [-0.5, 0.0]])
    with_empty, without = _metrics("raw_values"), _metrics("raw_values")
    for metric in with_empty:
        empty = metric.update(RegressionInput(torch.zeros(0, 2), torch.zeros(0, 2)))
        assert math.isnan(empty.numeric.value)
        metric.update(RegressionInput(predicted, targets))
        metric.update(RegressionInput(torch.zeros(0, 2), torch.zeros(0, 2)))
    for metric in without:
        metric.update(RegressionInput(predicted, targets))
    for a, b in zip(with_empty, without, strict=True):
        assert a.compute().formatted == b.compute().formatted
        assert a.compute().numeric == b.compute().numeric


def test_raw_values_list_each_output_and_stand_as_their_mean() -> None:
    targets = torch.tensor([[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]])
    predicted = targets + torch.tensor([[1.0, 2.0], [-1.0, 0.0], [1.0, -2.0]])
    metric = MeanAbsoluteErrorMetric("raw_values")
    entry = metric.update(RegressionInput(predicted, targets))
    assert entry.formatted == "epoch 1.1667 mean [0: 1.0000, 1: 1.3333] - batch 1.1667"
    assert metric.compute().formatted == "1.1667 mean [0: 1.0000, 1: 1.3333]"
    assert metric.compute().numeric.value == pytest.approx(7 / 6)
    # A mean over items: loggers may re-weight it by its count.
    assert (entry.numeric.count, entry.numeric.kind) == (3, "aggregated")
    assert R2ScoreMetric().update(RegressionInput(predicted, targets)).numeric.kind == "value"


def test_integer_targets_and_half_precision_outputs() -> None:
    targets = torch.tensor([1, 2, 3, 5])
    predicted = torch.tensor([1.5, 2.0, 2.5, 6.0], dtype=torch.float16)
    metric = RootMeanSquaredErrorMetric()
    metric.update(RegressionInput(predicted, targets))
    want = skm.root_mean_squared_error(targets.numpy(), predicted.double().numpy())
    assert metric.compute().numeric.value == pytest.approx(want)


# Errors: shapes and dtypes now, values at the next read.


SHAPE = r"expected targets of the outputs' shape \(4,\), received shape \(4, 1\)"
NDIM = r"expected outputs of shape \(N,\) or \(N, D\), received shape \(4, 2, 2\)"
FLOAT = r"expected outputs as floating point, received shape \(4,\), dtype int64"
REAL = r"expected targets as real numbers .* dtype bool"


@pytest.mark.parametrize(
    ("predicted", "targets", "error", "message"),
    [
        (torch.zeros(4), torch.zeros(4, 1), ValueError, SHAPE),
        (torch.zeros(4, 2, 2), torch.zeros(4, 2, 2), ValueError, NDIM),
        (torch.zeros(4, dtype=torch.long), torch.zeros(4), TypeError, FLOAT),
        (torch.zeros(4), torch.zeros(4, dtype=torch.bool), TypeError, REAL),
    ],
)
def test_wrong_shapes_and_dtypes_fail_now(
    predicted: torch.Tensor, targets: torch.Tensor, error: type[Exception], message: str
) -> None:
    for metric in _metrics("uniform_average"):
        with pytest.raises(error, match=f"{metric.name}: {message}"):
            metric.update(RegressionInput(predicted, targets))


def test_the_number_of_outputs_is_kept_over_the_epoch() -> None:
    metric = R2ScoreMetric()
    metric.update(RegressionInput(torch.randn(4, 3), torch.randn(4, 3)))
    with pytest.raises(ValueError, match=r"R2: expected outputs with 3 values per item"):
        metric.update(RegressionInput(torch.randn(4, 2), torch.randn(4, 2)))
    metric.clear()
    metric.update(RegressionInput(torch.randn(4, 2), torch.randn(4, 2)))


def test_a_multioutput_the_metric_does_not_take_fails_at_construction() -> None:
    with pytest.raises(ValueError, match=r"MAE: expected multioutput among .*'variance_weighted'"):
        MeanAbsoluteErrorMetric("variance_weighted")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"R2: expected multioutput among"):
        R2ScoreMetric("macro")  # type: ignore[arg-type]


NAN, INF = "received NaN", "received infinite values"


@pytest.mark.parametrize(
    ("predicted", "targets", "message"),
    [
        (
            torch.tensor([1.0, math.nan]),
            torch.tensor([1.0, 2.0]),
            f"outputs that are finite, {NAN}",
        ),
        (
            torch.tensor([1.0, math.inf]),
            torch.tensor([1.0, 2.0]),
            f"outputs that are finite, {INF}",
        ),
        (
            torch.tensor([1.0, 2.0]),
            torch.tensor([-math.inf, 2.0]),
            f"targets that are finite, {INF}",
        ),
        (
            torch.tensor([1.0, 2.0]),
            torch.tensor([math.nan, 2.0]),
            f"targets that are finite, {NAN}",
        ),
    ],
)
def test_non_finite_values_fail_at_the_next_read(
    predicted: torch.Tensor, targets: torch.Tensor, message: str
) -> None:
    for metric in _metrics("raw_values"):
        good = RegressionInput(torch.ones(2), torch.zeros(2))
        metric.update(good)
        entry = metric.update(RegressionInput(predicted, targets))  # no read: no error yet
        with pytest.raises(ValueError, match=f"{metric.name}: expected {message}"):
            _ = entry.formatted
        with pytest.raises(ValueError, match=message):
            metric.compute()


# No host reads while updating.


def _steps() -> list[RegressionOutput]:
    generator = torch.Generator().manual_seed(3)
    sizes = [(16, 3), (1, 3), (5, 3)]
    return [
        RegressionOutput(torch.zeros(()), torch.randn(s, generator=generator), torch.randn(s))
        for s in sizes
    ]


@pytest.mark.parametrize("multioutput", ["uniform_average", "variance_weighted", "raw_values"])
def test_update_makes_no_transfer_and_reads_no_tensor(multioutput: str) -> None:
    metrics = _metrics(multioutput)
    before = transfer_count()
    with reads_forbidden():
        entries = [[metric.update(step, META) for metric in metrics] for step in _steps()]
        blocked = MetricCollection(_metrics(multioutput))
        plan = blocked.plan
        metadata = [META] * 3
        plan.update_columns(_steps(), metadata, [plan.update_moment(m) for m in metadata])
    assert transfer_count() == before
    _ = entries[-1][3].serialized
    assert transfer_count() == before + 1


# Checkpoints and distributed runs.


@pytest.mark.parametrize("multioutput", ["uniform_average", "variance_weighted", "raw_values"])
def test_state_dict_round_trip_mid_epoch(multioutput: str) -> None:
    steps = _steps()
    whole, resumed = _metrics(multioutput), _metrics(multioutput)
    for metric in whole:
        metric.update(steps[0], META)
    for saved, fresh in zip(whole, resumed, strict=True):
        buffer = io.BytesIO()
        torch.save(saved.state_dict(), buffer)
        buffer.seek(0)
        fresh.load_state_dict(torch.load(buffer, weights_only=True))
        assert fresh.value() == saved.value()
    for step in steps[1:]:
        for a, b in zip(whole, resumed, strict=True):
            assert a.update(step, META).formatted == b.update(step, META).formatted
    for a, b in zip(whole, resumed, strict=True):
        assert a.compute().formatted == b.compute().formatted
        assert a.compute().numeric == b.compute().numeric


def test_a_state_of_another_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot load this state"):
        R2ScoreMetric().load_state_dict({"sum": 0.0, "count": 0})


def sync_regression(rank: int) -> dict[str, float]:
    """Each process updates with its own items; compute() covers both."""
    generator = torch.Generator().manual_seed(rank)
    metrics = _metrics("variance_weighted") + _metrics("raw_values")
    for _ in range(3):
        targets = torch.randn(8 + rank, 2, generator=generator)
        predicted = targets + torch.randn(8 + rank, 2, generator=generator)
        for metric in metrics:
            metric.update(RegressionInput(predicted, targets))
    return {f"{m.name} {i}": m.compute().numeric.value for i, m in enumerate(metrics)}


def test_compute_covers_every_process(tmp_path: Path) -> None:
    synced = results(spawn(sync_regression, tmp_path / "sync"))
    assert synced[0] == synced[1]
    y, p = [], []
    for rank in (0, 1):
        generator = torch.Generator().manual_seed(rank)
        for _ in range(3):
            targets = torch.randn(8 + rank, 2, generator=generator)
            y.append(targets)
            p.append(targets + torch.randn(8 + rank, 2, generator=generator))
    arrays = torch.cat(y).double().numpy(), torch.cat(p).double().numpy()
    metrics = _metrics("variance_weighted") + _metrics("raw_values")
    for index, metric in enumerate(metrics):
        assert _close(synced[0][f"{metric.name} {index}"], _expected(metric, *arrays))


# The example.


def test_the_regression_example_trains_briefly(tmp_path: Path) -> None:
    from examples import regression  # noqa: PLC0415 (imports scikit-learn's data set)

    values = regression.main(["--quick", "--plain", "--directory", str(tmp_path / "run")])
    assert set(values) == {"MAE", "RMSE", "R2"}
    assert all(math.isfinite(value) for value in values.values())
    assert values["MAE"] <= values["RMSE"]
    assert (tmp_path / "run" / "version-1" / "metrics.jsonl").is_file()
