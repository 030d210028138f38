"""Metrics outside a learner: a built-in metric's ``update(item)`` needs no metadata, and a
metric whose item says nothing of its input (``Any``) is told what to write instead."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest
import torch

import burnish
from burnish import (
    LearningRateMetric,
    LossMetric,
    MetricEntry,
    MetricMetadata,
    RegressionOutput,
    input_type_of,
)
from tests.test_metric_outside_learner import FACTORIES


@pytest.mark.parametrize(("factory", "output"), FACTORIES)
def test_update_without_metadata_is_a_standalone_update(
    factory: Callable[[], Any], output: Callable[[], object]
) -> None:
    without, fake = factory(), factory()
    for _ in range(2):
        step = output()
        assert (
            without.update(step).serialized == fake.update(step, MetricMetadata.fake()).serialized
        )
    assert without.compute().serialized == fake.compute().serialized


def _update_methods() -> list[Any]:
    """Every public metric class's ``update``: not the protocol's, nor the collection's (whose
    ``None`` means the same standalone metadata)."""
    classes = [getattr(burnish, name) for name in burnish.__all__]
    return [
        pytest.param(cls, id=cls.__name__)
        for cls in classes
        if isinstance(cls, type)
        and cls not in (burnish.Metric, burnish.MetricCollection)
        and inspect.isfunction(getattr(cls, "update", None))
        and "metadata" in inspect.signature(cls.update).parameters
    ]


@pytest.mark.parametrize("cls", _update_methods())
def test_every_built_in_metric_defaults_its_metadata(cls: type[Any]) -> None:
    metadata = inspect.signature(cls.update).parameters["metadata"]
    assert metadata.default == MetricMetadata.fake()


def test_an_input_less_metric_updates_standalone() -> None:
    # Outside a learner there is no optimizer: the learning rate is not available.
    assert LearningRateMetric().update(None).formatted == "epoch n/a - batch n/a"


def test_loss_standalone() -> None:
    loss = LossMetric()
    loss.update(RegressionOutput(torch.tensor(2.0), torch.zeros(4, 1), torch.zeros(4, 1)))
    loss.update(RegressionOutput(torch.tensor(4.0), torch.zeros(4, 1), torch.zeros(4, 1)))
    assert loss.value() == 4.0
    assert loss.running_value().value == 3.0


class _AnyItem:
    name = "Anything"

    def update(self, item: Any, metadata: MetricMetadata) -> MetricEntry:
        raise AssertionError("never updated: its input is refused first")

    def compute(self) -> MetricEntry:
        raise AssertionError("never computed")

    def clear(self) -> None:
        pass


class _AnyAttribute(_AnyItem):
    input_type = Any


@pytest.mark.parametrize("metric", [_AnyItem(), _AnyAttribute()])
def test_an_item_annotated_any_is_told_to_name_its_input(metric: object) -> None:
    with pytest.raises(TypeError) as raised:
        input_type_of(metric)
    message = str(raised.value)
    assert message.startswith("metric 'Anything' (")
    assert "its input type is Any" in message
    assert "annotate update()'s item with the input class it takes" in message
    assert "register_adaptor" not in message
