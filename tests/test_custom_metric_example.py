"""The custom metric in examples/ works through the protocols alone."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import mean_absolute_error
from torch.utils.data import DataLoader, TensorDataset

from burnish import (
    InMemoryMetricLogger,
    LearnerBuilder,
    Metric,
    MetricMetadata,
    Numeric,
    RegressionOutput,
    Split,
    TrainOutput,
    TrainStep,
    adapt,
    check_adaptable,
    input_type_of,
)
from burnish.metric.entry import format_value
from burnish.metric.host import transfer_count
from burnish.renderer import PlainRenderer


def _load_example(name: str) -> ModuleType:
    path = Path(__file__).parents[1] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example = _load_example("custom_metric_deferred")
short = _load_example("custom_metric")


def test_it_is_a_numeric_metric_fed_through_a_registered_adaptor() -> None:
    metric = example.MeanAbsoluteErrorMetric()
    assert isinstance(metric, Metric)
    assert isinstance(metric, Numeric)
    assert input_type_of(metric) is example.AbsoluteErrorInput
    check_adaptable(RegressionOutput, example.AbsoluteErrorInput, metric.name)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 50), min_size=1, max_size=6), st.integers(0, 2**32 - 1))
def test_values_match_numpy(sizes: list[int], seed: int) -> None:
    rng = np.random.default_rng(seed)
    metric = example.MeanAbsoluteErrorMetric()
    predictions, targets = [], []
    before = transfer_count()
    for size in sizes:
        p, t = rng.standard_normal(size), rng.standard_normal(size)
        predictions.append(p)
        targets.append(t)
        output = RegressionOutput(torch.tensor(0.0), torch.from_numpy(p), torch.from_numpy(t))
        metric.update(adapt(output, example.AbsoluteErrorInput), MetricMetadata.fake())
    assert transfer_count() == before
    expected = np.abs(np.concatenate(predictions) - np.concatenate(targets)).mean()
    assert metric.running_value().value == pytest.approx(expected, rel=1e-9)
    assert metric.value() == pytest.approx(np.abs(predictions[-1] - targets[-1]).mean(), rel=1e-9)
    # Shown as every metric is: 3 decimals, or scientific notation where they would hide it.
    assert metric.compute().formatted == format_value(expected, 3)


def test_shape_mismatch_names_the_metric() -> None:
    with pytest.raises(ValueError, match=r"MAE: .* same shape, received \(3,\) and \(4,\)"):
        example.MeanAbsoluteErrorMetric().update(
            example.AbsoluteErrorInput(torch.zeros(3), torch.zeros(4)), MetricMetadata.fake()
        )


def test_the_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    example.main()
    out = capsys.readouterr().out
    assert out.count("epoch ") == 5
    assert "epoch: 0.0" in out


def test_the_short_metric_trains_with_a_learner_and_agrees_with_scikit_learn(
    tmp_path: Path,
) -> None:
    """The README's few-line metric, fed a regression model's outputs by a learner."""
    torch.manual_seed(0)
    x = torch.randn(96, 4)
    y = x @ torch.randn(4, 1)
    model = Regressor()
    memory = InMemoryMetricLogger()
    learn = LearnerBuilder(tmp_path).renderer(PlainRenderer(stream=io.StringIO()))
    learn.metric_train_numeric(short.MeanAbsoluteError()).with_metric_logger(memory)
    learn.num_epochs(2).build(model, torch.optim.SGD(model.parameters(), lr=0.0)).fit(
        DataLoader(TensorDataset(x, y), batch_size=16)
    )
    with torch.no_grad():
        expected = mean_absolute_error(y.numpy(), model(x).numpy())
    (*_, last) = memory.epochs[Split.TRAIN]["MAE"]
    assert last.value == pytest.approx(expected, rel=1e-5)
    assert last.count == 96


class Regressor(torch.nn.Linear, TrainStep[tuple[torch.Tensor, torch.Tensor], RegressionOutput]):
    def __init__(self) -> None:
        super().__init__(4, 1)

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> TrainOutput[RegressionOutput]:
        x, y = batch
        predictions = self(x)
        loss = torch.nn.functional.mse_loss(predictions, y)
        return TrainOutput(loss, RegressionOutput(loss, predictions, y))
