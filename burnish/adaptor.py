"""Adaptors: how a step's output becomes the input each metric takes.

Burn writes ``impl Adaptor<AccuracyInput> for ClassificationOutput``. Python cannot have one
method per return type, so :class:`Adaptor` is a protocol with ``adapt(kind) -> kind``; an output
implements it with one ``typing.overload`` per input type it feeds. For output types you do not
own, :func:`register_adaptor` plays the part of an ``impl`` in a downstream crate.
"""

from __future__ import annotations

import inspect
import typing
import weakref
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

import torch
from typing_extensions import get_overloads, is_protocol

__all__ = [
    "AccuracyInput",
    "Adaptor",
    "AurocInput",
    "ConfusionStatsInput",
    "FieldReaders",
    "HammingScoreInput",
    "LossInput",
    "MetricInput",
    "PerplexityInput",
    "StepAdaptations",
    "TopKAccuracyInput",
    "adapt",
    "adapt_all",
    "adapt_registered",
    "check_adaptable",
    "field_readers",
    "register_adaptor",
    "supported_inputs",
    "unsupported_input",
]

InputT = TypeVar("InputT")
OutputT = TypeVar("OutputT")
T = TypeVar("T")
_MISSING = object()


@runtime_checkable
class Adaptor(Protocol[InputT]):
    """An output that can be turned into the input ``InputT`` of some metrics."""

    def adapt(self, kind: type[InputT], /) -> InputT: ...


@dataclass(frozen=True, eq=False)
class MetricInput:
    """Base of the built-in inputs: a memo of values derived from the step's output.

    Inputs adapted from the same output share one memo, so work several metrics need (an
    argmax, a top-k, TP/FP/FN under one decision rule) is done once per step.
    """

    derived: dict[Hashable, Any] = field(default_factory=dict, repr=False, kw_only=True)

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, once per step and key across every metric that asks."""
        # One lookup on the path taken by every metric after the first.
        value = self.derived.get(key, _MISSING)
        if value is _MISSING:
            value = self.derived[key] = compute()
        return cast("T", value)


@dataclass(frozen=True, eq=False)
class LossInput(MetricInput):
    """The loss of a step: one value per item, or their mean over ``batch_size`` items.

    A scalar loss without ``batch_size`` counts as one item, as in Burn.
    """

    tensor: torch.Tensor
    batch_size: int | None = None


@dataclass(frozen=True, eq=False)
class AccuracyInput(MetricInput):
    """Class scores ``(N, C)`` (logits or probabilities) and integer targets ``(N,)``."""

    outputs: torch.Tensor
    targets: torch.Tensor


@dataclass(frozen=True, eq=False)
class TopKAccuracyInput(MetricInput):
    """Class scores ``(N, C)`` and integer targets ``(N,)``."""

    outputs: torch.Tensor
    targets: torch.Tensor


@dataclass(frozen=True, eq=False)
class ConfusionStatsInput(MetricInput):
    """Scores and targets from which TP/FP/FN/TN are counted under a decision rule.

    Multiclass: scores ``(N, C)`` and integer targets ``(N,)``. Binary: scores ``(N,)`` and 0/1
    targets ``(N,)``. Multilabel: scores ``(N, L)`` and 0/1 targets ``(N, L)``.
    """

    predictions: torch.Tensor
    targets: torch.Tensor


@dataclass(frozen=True, eq=False)
class AurocInput(MetricInput):
    """Scores and targets for ranking metrics (AUROC, average precision); shapes as above."""

    predictions: torch.Tensor
    targets: torch.Tensor


@dataclass(frozen=True, eq=False)
class HammingScoreInput(MetricInput):
    """Multilabel scores ``(N, L)`` and 0/1 targets ``(N, L)``."""

    outputs: torch.Tensor
    targets: torch.Tensor


@dataclass(frozen=True, eq=False)
class PerplexityInput(MetricInput):
    """Class logits ``(N, C)`` and integer targets ``(N,)`` (flatten sequences first)."""

    outputs: torch.Tensor
    targets: torch.Tensor


_registry: dict[tuple[type[Any], type[Any]], Callable[[Any], Any]] = {}


def register_adaptor(
    output_type: type[OutputT], input_type: type[InputT], adaptor: Callable[[OutputT], InputT]
) -> None:
    """Teach burnish to turn ``output_type`` (and its subclasses) into ``input_type``.

    A registration wins over the output's own ``adapt``, so it can also replace a built-in one.
    """
    _registry[(output_type, input_type)] = adaptor
    _adaptors.clear()
    _readers.clear()


def _registered(output_type: type[Any], input_type: type[Any]) -> Callable[[Any], Any] | None:
    for base in output_type.__mro__:
        found = _registry.get((base, input_type))
        if found is not None:
            return found
    return None


def supported_inputs(output_type: type[Any]) -> frozenset[type[Any]]:
    """The input types ``output_type`` can be adapted to, from the registry and its overloads."""
    registered = {input_type for (owner, input_type) in _registry if issubclass(output_type, owner)}
    return frozenset(registered | _overloaded_kinds(output_type))


# Reading type hints costs milliseconds per class, and a learner checks every metric's input at
# each split's start; a class's overloads do not change.
_overloads_read: weakref.WeakKeyDictionary[type[Any], frozenset[type[Any]]] = (
    weakref.WeakKeyDictionary()
)


def _overloaded_kinds(output_type: type[Any]) -> frozenset[type[Any]]:
    kinds = _overloads_read.get(output_type)
    if kinds is None:
        kinds = _overloads_read[output_type] = _read_overloaded_kinds(output_type)
    return kinds


def _read_overloaded_kinds(output_type: type[Any]) -> frozenset[type[Any]]:
    method = inspect.getattr_static(output_type, "adapt", None)
    if method is None:
        return frozenset()
    kinds: set[type[Any]] = set()
    for overload in get_overloads(method) or [method]:
        hints = typing.get_type_hints(overload)
        parameters = list(inspect.signature(overload).parameters)
        kind = hints.get(parameters[1]) if len(parameters) > 1 else None
        if typing.get_origin(kind) is type:
            (target,) = typing.get_args(kind)
            if isinstance(target, type):
                kinds.add(target)
    return frozenset(kinds)


def _type_name(kind: type[Any] | None) -> str:
    return "None (no input)" if kind is None else kind.__qualname__


def adapt_registered(output: object, kind: type[InputT]) -> InputT:
    """What an output's ``adapt`` falls back on for inputs it does not know itself."""
    registered = _registered(type(output), kind)
    if registered is None:
        raise unsupported_input(output, kind)
    return cast(InputT, registered(output))


def unsupported_input(output: object, kind: type[Any]) -> TypeError:
    """The error for an input that ``output`` cannot be adapted to."""
    supported = sorted(_type_name(k) for k in supported_inputs(type(output)))
    return TypeError(
        f"{type(output).__qualname__} cannot be adapted to {_type_name(kind)}; it feeds "
        f"{', '.join(supported) or 'no input'}. Use register_adaptor({type(output).__qualname__},"
        f" {_type_name(kind)}, fn) to teach it."
    )


def adapt(output: object, kind: type[InputT]) -> InputT:
    """Turn a step's output into ``kind``: a registered adaptor, else the output's ``adapt``."""
    return _adaptor(type(output), kind)(output)


def adapt_all(outputs: Sequence[object], kind: type[InputT]) -> tuple[InputT, ...]:
    """Every output turned into ``kind``, as :func:`adapt` does, finding how once for outputs
    of one type (a learner's block of steps, usually all)."""
    if not outputs:
        return ()
    output_type = type(outputs[0])
    adaptor = _adaptor(output_type, kind)
    return tuple(
        [
            adaptor(output) if type(output) is output_type else adapt(output, kind)
            for output in outputs
        ]
    )


def _adaptor(output_type: type[Any], kind: type[InputT]) -> Callable[[Any], InputT]:
    adaptor = _adaptors.get((output_type, kind))
    if adaptor is None:
        adaptor = _adaptors[(output_type, kind)] = _find_adaptor(output_type, kind)
    return adaptor


# How each output type turns into each input type, found once: every step adapts every
# output to every input its metrics take. Registering an adaptor clears it.
_adaptors: dict[tuple[type[Any], type[Any]], Callable[[Any], Any]] = {}


def _find_adaptor(output_type: type[Any], kind: type[Any]) -> Callable[[Any], Any]:
    if is_protocol(kind):
        # Whether an output is a protocol's can depend on the instance (its attributes).
        otherwise = _adaptor_of_type(output_type, kind)
        return lambda output: output if isinstance(output, kind) else otherwise(output)
    if issubclass(output_type, kind):
        return _itself
    return _adaptor_of_type(output_type, kind)


def _adaptor_of_type(output_type: type[Any], kind: type[Any]) -> Callable[[Any], Any]:
    registered = _registered(output_type, kind)
    if registered is not None:
        return registered
    own = getattr(output_type, "adapt", None)
    if own is None:

        def unsupported(output: object) -> Any:
            raise unsupported_input(output, kind)

        return unsupported
    return lambda output: own(output, kind)


def _itself(output: object) -> object:
    return output


FieldReaders = Mapping[str, Callable[[Any], Any]]


def field_readers(output_type: type[Any], kind: type[Any]) -> FieldReaders | None:
    """How each field of ``kind`` is read straight from an output of ``output_type``, when the
    output type says so and nothing replaces its own ``adapt``; else ``None``.

    An output type says so with a classmethod ``input_fields(kind)`` returning a reader per
    field, the same values ``adapt(kind)`` gives. A learner's block of steps is then adapted by
    field, without an input object per step. It is ignored when a registered adaptor, or an
    ``adapt`` defined below the class that defines ``input_fields``, makes ``kind`` instead.
    """
    key = (output_type, kind)
    readers = _readers.get(key, _MISSING)
    if readers is _MISSING:
        readers = _readers[key] = _find_readers(output_type, kind)
    return cast("FieldReaders | None", readers)


_readers: dict[tuple[type[Any], type[Any]], FieldReaders | None] = {}


def _find_readers(output_type: type[Any], kind: type[Any]) -> FieldReaders | None:
    if _registered(output_type, kind) is not None:
        return None
    fields_owner = _definer(output_type, "input_fields")
    adapt_owner = _definer(output_type, "adapt")
    if fields_owner is None or adapt_owner is None or not issubclass(fields_owner, adapt_owner):
        return None
    readers: FieldReaders | None = output_type.input_fields(kind)
    return readers


def _definer(output_type: type[Any], name: str) -> type[Any] | None:
    """The class of ``output_type``'s MRO whose own ``name`` it uses."""
    return next((base for base in output_type.__mro__ if name in base.__dict__), None)


def check_adaptable(output_type: type[Any], input_type: type[Any] | None, metric: str) -> None:
    """Raise ``TypeError`` now if ``metric``'s input cannot be made from ``output_type``.

    An output whose ``adapt`` has no discoverable overloads cannot be checked ahead of time; it
    is then checked on its first output instead.
    """
    if input_type is None or issubclass(output_type, input_type):
        return
    supported = supported_inputs(output_type)
    if input_type in supported:
        return
    if not supported and callable(getattr(output_type, "adapt", None)):
        return
    raise TypeError(
        f"metric {metric!r} takes {_type_name(input_type)}, which {output_type.__qualname__} "
        f"cannot be adapted to; it feeds {', '.join(sorted(map(_type_name, supported))) or 'none'}"
        f". Use register_adaptor({output_type.__qualname__}, {_type_name(input_type)}, fn) or "
        "implement adapt() for it."
    )


class StepAdaptations:
    """One step's output, adapted at most once per input type however many metrics ask."""

    __slots__ = ("_adapted", "output")

    def __init__(self, output: object) -> None:
        self.output = output
        self._adapted: dict[type[Any], Any] = {}

    def get(self, kind: type[InputT]) -> InputT:
        adapted = self._adapted.get(kind, _MISSING)
        if adapted is _MISSING:
            adapted = self._adapted[kind] = adapt(self.output, kind)
        return cast("InputT", adapted)
