from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import pytest
import torch
from typing_extensions import overload

from burnish import (
    AccuracyInput,
    AurocInput,
    ClassificationOutput,
    ConfusionStatsInput,
    DiceInput,
    HammingScoreInput,
    ImageInput,
    LossInput,
    MultiLabelClassificationOutput,
    PerplexityInput,
    RegressionInput,
    RegressionOutput,
    SegmentationOutput,
    SequenceInput,
    SequenceOutput,
    StepAdaptations,
    TopKAccuracyInput,
    adapt,
    check_adaptable,
    register_adaptor,
    supported_inputs,
)
from burnish.adaptor import field_readers, isolated_adaptors
from burnish.metric.block import InputBlock

InputT = TypeVar("InputT")


@pytest.fixture(autouse=True)
def _own_registry() -> Iterator[None]:
    with isolated_adaptors():
        yield


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
    assert supported_inputs(RegressionOutput) == {LossInput, RegressionInput, ImageInput}
    assert supported_inputs(SegmentationOutput) == {LossInput, DiceInput}
    assert supported_inputs(SequenceOutput) == {
        LossInput,
        SequenceInput,
        AccuracyInput,
        TopKAccuracyInput,
        PerplexityInput,
    }


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
    assert output.adapt(ErrorInput).error.tolist() == [1.0, 1.0, 1.0]
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


def _multilabel() -> MultiLabelClassificationOutput:
    targets = torch.randint(0, 2, (5, 3))
    return MultiLabelClassificationOutput(torch.tensor(0.2), torch.randn(5, 3), targets)


def _regression() -> RegressionOutput:
    return RegressionOutput(torch.tensor(1.5), torch.randn(4), torch.randn(4))


_OUTPUTS: list[Callable[[], object]] = [_classification, _multilabel, _regression]


def _input_fields(kind: type[object]) -> list[str]:
    return [f.name for f in dataclasses.fields(kind) if f.init and not f.kw_only]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "kind"),
    [(make, kind) for make in _OUTPUTS for kind in sorted(supported_inputs(type(make())), key=str)],
)
def test_a_block_of_builtin_outputs_reads_each_field_as_adapt_fills_it(
    make: Callable[[], object], kind: type[object]
) -> None:
    outputs = [make() for _ in range(3)]
    assert field_readers(type(outputs[0]), kind) is not None
    block = InputBlock(outputs, kind)
    for name in _input_fields(kind):
        expected = [getattr(adapt(output, kind), name) for output in outputs]
        column = block.column(name)
        assert all(
            got is want or (not isinstance(got, torch.Tensor) and got == want)
            for got, want in zip(column, expected, strict=True)
        ), name
    assert "steps" not in vars(block)  # no input was made per step


def test_a_registered_adaptor_replaces_the_fields_of_a_builtin_output() -> None:
    register_adaptor(
        ClassificationOutput, AccuracyInput, lambda o: AccuracyInput(o.output * 2, o.targets)
    )
    outputs = [_classification() for _ in range(2)]
    assert field_readers(ClassificationOutput, AccuracyInput) is None
    block = InputBlock(outputs, AccuracyInput)
    for got, output in zip(block.column("outputs"), outputs, strict=True):
        assert torch.equal(got, output.output * 2)


def test_a_subclass_with_its_own_adapt_is_adapted_by_it() -> None:
    @dataclass(frozen=True, eq=False)
    class Softmaxed(ClassificationOutput):
        def adapt(self, kind: type[object], /) -> object:  # type: ignore[override]
            if kind is AccuracyInput:
                return AccuracyInput(self.output.softmax(1), self.targets)
            return super().adapt(kind)

    outputs = [
        Softmaxed(o.loss, o.output, o.targets) for o in (_classification(), _classification())
    ]
    assert field_readers(Softmaxed, AccuracyInput) is None
    for got, output in zip(
        InputBlock(outputs, AccuracyInput).column("outputs"), outputs, strict=True
    ):
        assert torch.equal(got, output.output.softmax(1))


def test_a_block_of_outputs_of_several_types_adapts_each() -> None:
    class Tagged(ClassificationOutput):
        pass

    first = _classification()
    outputs = [first, Tagged(first.loss, first.output + 1, first.targets)]
    block = InputBlock(outputs, ConfusionStatsInput)
    assert [t.sum() for t in block.column("predictions")] == [
        first.output.sum(),
        (first.output + 1).sum(),
    ]


def test_a_registration_replaces_what_was_found_before_it_and_leaves_with_its_scope() -> None:
    output = _classification()
    assert adapt(output, AccuracyInput).outputs is output.output
    assert field_readers(ClassificationOutput, AccuracyInput) is not None
    doubled = AccuracyInput(output.output * 2, output.targets)
    with isolated_adaptors():
        register_adaptor(ClassificationOutput, AccuracyInput, lambda o: doubled)
        assert adapt(output, AccuracyInput) is doubled
        assert output.adapt(AccuracyInput) is doubled
        assert field_readers(ClassificationOutput, AccuracyInput) is None
    assert adapt(output, AccuracyInput).outputs is output.output
    assert field_readers(ClassificationOutput, AccuracyInput) is not None


def test_an_output_of_your_own_can_declare_what_it_feeds() -> None:
    @dataclass(frozen=True)
    class Scored:
        scores: torch.Tensor
        labels: torch.Tensor

        feeds = {  # noqa: RUF012
            AccuracyInput: {"outputs": lambda o: o.scores, "targets": lambda o: o.labels}
        }

    output = Scored(torch.randn(3, 2), torch.tensor([0, 1, 1]))
    assert supported_inputs(Scored) == {AccuracyInput}
    assert adapt(output, AccuracyInput).targets is output.labels
    check_adaptable(Scored, AccuracyInput, "Accuracy")
    with pytest.raises(TypeError, match=r"'AUROC'.*Scored.*it feeds AccuracyInput"):
        check_adaptable(Scored, AurocInput, "AUROC")
    block = InputBlock([output, Scored(torch.randn(1, 2), torch.tensor([1]))], AccuracyInput)
    assert [len(t) for t in block.column("targets")] == [3, 1]
    assert "steps" not in vars(block)


def test_an_output_with_only_adapt_is_checked_by_its_overloads() -> None:
    class Overloaded:
        @overload
        def adapt(self, kind: type[LossInput], /) -> LossInput: ...
        @overload
        def adapt(self, kind: type[AccuracyInput], /) -> AccuracyInput: ...
        def adapt(self, kind: type[Any], /) -> Any:
            if kind is LossInput:
                return LossInput(torch.tensor(1.0))
            return AccuracyInput(torch.eye(2), torch.tensor([0, 1]))

    assert supported_inputs(Overloaded) == {LossInput, AccuracyInput}
    check_adaptable(Overloaded, AccuracyInput, "Accuracy")
    with pytest.raises(TypeError, match=r"'AUROC'.*it feeds AccuracyInput, LossInput"):
        check_adaptable(Overloaded, AurocInput, "AUROC")
    assert adapt(Overloaded(), LossInput).tensor.item() == 1.0
    assert field_readers(Overloaded, LossInput) is None


def test_an_adapt_whose_annotations_do_not_tell_is_checked_on_its_first_output() -> None:
    class Untold:
        def adapt(self, kind: type[Any], /) -> Any:
            raise TypeError(f"no {kind.__name__}")

    assert supported_inputs(Untold) == frozenset()
    check_adaptable(Untold, AurocInput, "AUROC")
    with pytest.raises(TypeError, match="no AurocInput"):
        adapt(Untold(), AurocInput)


def test_a_subclass_adapt_may_defer_to_the_declaration() -> None:
    calls: list[type[Any]] = []

    @dataclass(frozen=True, eq=False)
    class Counting(ClassificationOutput):
        def adapt(self, kind: type[InputT], /) -> InputT:
            calls.append(kind)
            return super().adapt(kind)

    base = _classification()
    output = Counting(base.loss, base.output, base.targets)
    assert adapt(output, ConfusionStatsInput).predictions is output.output
    assert output.adapt(AccuracyInput).outputs is output.output
    assert calls == [ConfusionStatsInput, AccuracyInput]
    assert field_readers(Counting, AccuracyInput) is None
    # Its adapt tells nothing of what it feeds: checked on its first output.
    check_adaptable(Counting, HammingScoreInput, "Hamming")
    with pytest.raises(TypeError, match="Counting cannot be adapted to HammingScoreInput"):
        adapt(output, HammingScoreInput)


def test_a_protocol_with_data_members_is_checked_on_the_first_output() -> None:
    @runtime_checkable
    class HasLoss(Protocol):
        loss: torch.Tensor

    check_adaptable(RegressionOutput, HasLoss, "loss")
    output = _regression()
    assert adapt(output, HasLoss) is output
