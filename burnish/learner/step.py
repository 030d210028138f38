"""What a model implements to be trained: Burn's ``TrainStep`` and ``ValidStep``."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import torch

from burnish.distributed import is_sharded

__all__ = [
    "BatchTransfer",
    "TrainOutput",
    "TrainStep",
    "ValidStep",
    "batch_size_of",
    "batches_total",
    "declared_output",
    "device_of",
    "items_total",
    "model_steps",
    "move_to_device",
    "step_method",
]

BatchT = TypeVar("BatchT")
OutputT = TypeVar("OutputT")
OutputT_co = TypeVar("OutputT_co", covariant=True)


@dataclass(frozen=True, slots=True)
class TrainOutput(Generic[OutputT_co]):
    """A training step's result: the loss to minimise and the item the metrics read."""

    loss: torch.Tensor
    item: OutputT_co


def move_to_device(batch: BatchT, device: torch.device) -> BatchT:
    """Move every tensor in a batch (nested tuples, lists, dicts, dataclasses) to ``device``.

    Copies from the host are asynchronous where the memory allows (pinned memory).
    """
    if type(batch) is tuple or type(batch) is list:
        # The common batch, a tuple of tensors already in place, costs no call per tensor.
        for value in cast("Sequence[Any]", batch):
            if type(value) is not torch.Tensor or value.device != device:
                break
        else:
            return batch
    return _move(batch, device)  # type: ignore[no-any-return]


def _move(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value if value.device == device else value.to(device, non_blocking=True)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_move(v, device) for v in value))
    if isinstance(value, list | tuple):
        return type(value)(_move(v, device) for v in value)
    if isinstance(value, Mapping):
        return {key: _move(v, device) for key, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _move(getattr(value, f.name), device) for f in dataclasses.fields(value)}
        return dataclasses.replace(value, **changes)
    return value


def batch_size_of(batch: object) -> int:
    """The length of the first tensor found in a batch (its leading dimension), else 1."""
    if (type(batch) is tuple or type(batch) is list) and batch and type(batch[0]) is torch.Tensor:
        batch = batch[0]
    if isinstance(batch, torch.Tensor):
        return batch.shape[0] if batch.ndim else 1
    if isinstance(batch, Mapping):
        values: list[Any] = list(batch.values())
    elif isinstance(batch, list | tuple):
        values = list(batch)
    elif dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        values = [getattr(batch, f.name) for f in dataclasses.fields(batch)]
    else:
        return 1
    for value in values:
        if isinstance(value, torch.Tensor | Mapping | list | tuple) or dataclasses.is_dataclass(
            value
        ):
            return batch_size_of(value)
    return 1


class BatchTransfer(Generic[BatchT]):
    """The hook that moves a batch to the model's device before each step.

    Override ``transfer_batch`` for batches that :func:`move_to_device` does not know.
    """

    def transfer_batch(self, batch: BatchT, device: torch.device) -> BatchT:
        return move_to_device(batch, device)


class TrainStep(BatchTransfer[BatchT], Generic[BatchT, OutputT]):
    """Mix into a ``torch.nn.Module`` to train it: ``class Net(nn.Module, TrainStep[B, O])``."""

    def train_step(self, batch: BatchT) -> TrainOutput[OutputT]:
        raise NotImplementedError(f"{type(self).__qualname__} must implement train_step(batch)")


class ValidStep(BatchTransfer[BatchT], Generic[BatchT, OutputT]):
    """Mix into a ``torch.nn.Module`` to validate it; runs under ``torch.no_grad`` in eval mode."""

    def valid_step(self, batch: BatchT) -> OutputT:
        raise NotImplementedError(f"{type(self).__qualname__} must implement valid_step(batch)")


def items_total(loader: Iterable[Any]) -> int | None:
    sampler = getattr(loader, "sampler", None)
    if is_sharded(sampler):
        return len(sampler)  # type: ignore[arg-type]
    dataset = getattr(loader, "dataset", None)
    try:
        return len(dataset) if dataset is not None else len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def batches_total(loader: Iterable[Any]) -> int | None:
    try:
        return len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None


def step_method(model: object, method: str, mixin: str) -> Callable[[Any], Any]:
    step = getattr(model, method, None)
    if not callable(step):
        name = type(model).__qualname__
        raise TypeError(
            f"{name} has no {method}(batch): subclass {mixin} "
            f"(class {name}(nn.Module, {mixin}[Batch, Output])) and implement it"
        )
    return cast(Callable[[Any], Any], step)


def _declared_return(model: object, method: str) -> Any:
    """A step method's return annotation; ``None`` when it has none that resolves."""
    function = getattr(type(model), method, None)
    try:
        return typing.get_type_hints(function).get("return") if function else None
    except (NameError, TypeError):
        return None


def declared_output(model: object, method: str) -> type[Any] | None:
    """The item type a step method declares it returns, if its annotation says."""
    declared = _declared_return(model, method)
    if typing.get_origin(declared) is TrainOutput:
        (declared,) = typing.get_args(declared) or (None,)
    origin = typing.get_origin(declared) or declared
    return origin if isinstance(origin, type) and origin is not TrainOutput else None


def check_train_step_returns(model: object) -> None:
    """Refuse a ``train_step`` annotated to return other than ``TrainOutput``: the annotation
    says now what the first step would say an epoch's set-up later."""
    declared = _declared_return(model, "train_step")
    if declared is not None and (typing.get_origin(declared) or declared) is not TrainOutput:
        item = getattr(declared, "__name__", "Output")
        raise TypeError(
            f"{type(model).__qualname__}.train_step is annotated to return {declared!r}: it "
            f"must return TrainOutput(loss, item), annotated TrainOutput[{item}]"
        )


def model_steps(
    model: object, compile_options: dict[str, Any] | None
) -> tuple[Callable[[Any], Any], Callable[[Any], Any] | None]:
    """The model's ``train_step`` and ``valid_step`` (if it has one), compiled with
    ``compile_options``; a model whose steps cannot be what the learner calls is refused."""
    refuse_compiled(model)
    check_train_step_returns(model)
    train = compile_step(step_method(model, "train_step", "TrainStep"), compile_options)
    valid = getattr(model, "valid_step", None)
    return train, compile_step(valid, compile_options) if callable(valid) else None


def refuse_compiled(model: object) -> None:
    """Refuse ``torch.compile(module)``: its steps are the module's own, uncompiled, since
    compiling a module compiles its ``forward`` alone."""
    if isinstance(model, torch._dynamo.eval_frame.OptimizedModule):
        raise TypeError(
            "the model is torch.compile(module), whose train_step and valid_step are not "
            "compiled (only forward is): pass the module itself and call "
            "LearnerBuilder.compile(**options), which compiles the steps the learner calls"
        )


def compile_step(
    step: Callable[[Any], Any], options: dict[str, Any] | None
) -> Callable[[Any], Any]:
    """``step`` compiled with ``torch.compile(step, **options)``; as it is without options."""
    return step if options is None else cast(Callable[[Any], Any], torch.compile(step, **options))


def nonempty_size(batch: Any, epoch: int, number: int) -> int:
    """The batch's size; an empty batch is an error, not a step (its mean loss would be NaN)."""
    size = batch_size_of(batch)
    if size == 0:
        raise ValueError(
            f"the train loader yielded an empty batch (0 items) at epoch {epoch}, batch "
            f"{number}: a training step needs at least one item"
        )
    return size


def check_train_output(model: object, output: object) -> None:
    if not isinstance(output, TrainOutput):
        raise TypeError(
            f"{type(model).__qualname__}.train_step must return TrainOutput(loss, item), got "
            f"{type(output).__qualname__}"
        )


def device_of(model: torch.nn.Module) -> torch.device:
    """Where the model's parameters are (the host for a model without any)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def batch_transfer(model: object) -> Callable[[Any, torch.device], Any]:
    """The model's ``transfer_batch``; the default one itself, called directly: a call less
    every step."""
    if getattr(type(model), "transfer_batch", None) is BatchTransfer.transfer_batch:
        return move_to_device
    hook = getattr(model, "transfer_batch", move_to_device)
    return cast(Callable[[Any, torch.device], Any], hook)
