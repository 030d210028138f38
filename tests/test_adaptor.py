from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import pytest
import torch

import burnish.adaptor as adaptor_module
from burnish import (
    AccuracyInput,
    AurocInput,
    ClassificationOutput,
    ConfusionStatsInput,
    HammingScoreInput,
    LossInput,
    MultiLabelClassificationOutput,
    PerplexityInput,
    RegressionOutput,
    StepAdaptations,
    TopKAccuracyInput,
    adapt,
    check_adaptable,
    register_adaptor,
    supported_inputs,
)


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    saved = dict(adaptor_module._registry)
    adaptor_module._registry.clear()
    yield
    adaptor_module._registry.clear()
    adaptor_module._registry.update(saved)


def _classification() -> ClassificationOutput:
    return ClassificationOutput(torch.tensor(0.7), torch.randn(6, 4), torch.randint(0, 4, (6,)))


def test_outputs_feed_the_inputs_burn_gives_them() -> None:
    assert supported_inputs(ClassificationOutput) == {
        LossInput,
        AccuracyInput,
        TopKAccuracyInput,
        ConfusionStatsInput,
        AurocInput,
        PerplexityInput,
    }
    assert supported_inputs(MultiLabelClassificationOutput) == {
        LossInput,
        HammingScoreInput,
        ConfusionStatsInput,
        AurocInput,
    }
    assert supported_inputs(RegressionOutput) == {LossInput}


def test_adapt_carries_the_tensors() -> None:
    output = _classification()
    accuracy = output.adapt(AccuracyInput)
    assert accuracy.outputs is output.output
    assert accuracy.targets is output.targets
    loss = adapt(output, LossInput)
    assert loss.tensor is output.loss
    assert loss.batch_size == 6


def test_inputs_from_one_output_share_derived_work() -> None:
    output = _classification()
    calls = []

    def argmax() -> torch.Tensor:
        calls.append(1)
        return output.output.argmax(1)

    first = output.adapt(AccuracyInput).memo("argmax", argmax)
    second = output.adapt(ConfusionStatsInput).memo("argmax", argmax)
    assert first is second
    assert len(calls) == 1
    assert "argmax" not in _classification().adapt(AccuracyInput).derived


def test_step_adaptations_adapt_once_per_input_type() -> None:
    calls: list[str] = []

    @dataclass
    class Counted:
        def adapt(self, kind: type[LossInput], /) -> LossInput:
            calls.append(kind.__name__)
            return LossInput(torch.tensor(1.0))

    step = StepAdaptations(Counted())
    assert step.get(LossInput) is step.get(LossInput)
    assert calls == ["LossInput"]


def test_registry_teaches_a_type_you_do_not_own() -> None:
    @dataclass
    class Foreign:
        logits: torch.Tensor
        labels: torch.Tensor

    with pytest.raises(TypeError, match="Foreign cannot be adapted to AccuracyInput"):
        adapt(Foreign(torch.randn(2, 3), torch.tensor([0, 1])), AccuracyInput)
    register_adaptor(Foreign, AccuracyInput, lambda f: AccuracyInput(f.logits, f.labels))
    item = adapt(Foreign(torch.randn(2, 3), torch.tensor([0, 1])), AccuracyInput)
    assert item.targets.tolist() == [0, 1]
    assert supported_inputs(Foreign) == {AccuracyInput}
    check_adaptable(Foreign, AccuracyInput, "Accuracy")


def test_registry_extends_and_overrides_builtin_outputs() -> None:
    @dataclass(frozen=True)
    class ErrorInput:
        error: torch.Tensor

    output = RegressionOutput(torch.tensor(0.0), torch.ones(3), torch.zeros(3))
    register_adaptor(RegressionOutput, ErrorInput, lambda o: ErrorInput(o.output - o.targets))
    assert output.adapt(ErrorInput).error.tolist() == [1.0, 1.0, 1.0]  # type: ignore[arg-type]
    assert adapt(output, ErrorInput).error.tolist() == [1.0, 1.0, 1.0]

    replacement = LossInput(torch.tensor(42.0))
    register_adaptor(RegressionOutput, LossInput, lambda o: replacement)
    assert adapt(output, LossInput) is replacement


def test_registration_covers_subclasses() -> None:
    class Special(RegressionOutput):
        pass

    @dataclass(frozen=True)
    class Extra:
        value: int

    register_adaptor(RegressionOutput, Extra, lambda o: Extra(1))
    assert adapt(Special(torch.tensor(0.0), torch.ones(1), torch.ones(1)), Extra) == Extra(1)


def test_an_output_that_is_a_protocol_input_is_passed_as_it_is() -> None:
    @runtime_checkable
    class HasLoss(Protocol):
        loss: torch.Tensor

    @dataclass
    class WithLoss:
        loss: torch.Tensor

    @dataclass
    class Without:
        value: torch.Tensor

    with_loss = WithLoss(torch.tensor(1.0))
    assert adapt(with_loss, HasLoss) is with_loss
    with pytest.raises(TypeError, match=r"Without cannot be adapted to \S*HasLoss"):
        adapt(Without(torch.tensor(2.0)), HasLoss)
    register_adaptor(Without, HasLoss, lambda w: WithLoss(w.value))
    assert adapt(Without(torch.tensor(2.0)), HasLoss).loss.item() == 2.0
    # Whether an instance is one is asked of each instance.
    later = WithLoss(torch.tensor(3.0))
    del later.loss
    later.value = torch.tensor(4.0)  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match=r"WithLoss cannot be adapted to \S*HasLoss"):
        adapt(later, HasLoss)


def test_check_adaptable_names_metric_input_and_output() -> None:
    check_adaptable(ClassificationOutput, AccuracyInput, "Accuracy")
    check_adaptable(RegressionOutput, None, "CPU Usage")
    with pytest.raises(TypeError) as error:
        check_adaptable(RegressionOutput, AccuracyInput, "Accuracy")
    message = str(error.value)
    assert "'Accuracy'" in message
    assert "AccuracyInput" in message
    assert "RegressionOutput" in message
    assert "LossInput" in message


def test_missing_adaptor_on_a_builtin_output_lists_what_it_feeds() -> None:
    output = RegressionOutput(torch.tensor(0.0), torch.ones(3), torch.zeros(3))
    with pytest.raises(
        TypeError, match=r"RegressionOutput cannot be adapted to AccuracyInput.*LossInput"
    ):
        adapt(output, AccuracyInput)
