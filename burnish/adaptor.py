"""Adaptors: how a step's output becomes the input each metric takes.

Burn writes ``impl Adaptor<AccuracyInput> for ClassificationOutput``. Python cannot have one
method per return type, so an output says it in one place instead: a class attribute ``feeds``
(:data:`Feeds`) maps each input type it feeds to how each of that input's fields is read from it.
From it come ``adapt(kind)`` for one output, the fields of a block of many steps' outputs read
without an input per step (:func:`field_readers`), and what it feeds (:func:`supported_inputs`).
An output may instead implement :class:`Adaptor`, ``adapt(kind) -> kind``, itself. For output
types you do not own, :func:`register_adaptor` plays the part of an ``impl`` in a downstream
crate.
"""

from __future__ import annotations

import functools
import inspect
import operator
import typing
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

import torch
from typing_extensions import get_overloads, is_protocol

__all__ = [
    "AccuracyInput",
    "Adaptor",
    "AurocInput",
    "ConfusionStatsInput",
    "DiceInput",
    "Feeds",
    "FieldReaders",
    "HammingScoreInput",
    "ImageInput",
    "LossInput",
    "MetricInput",
    "PerplexityInput",
    "RegressionInput",
    "SequenceInput",
    "StepAdaptations",
    "TopKAccuracyInput",
    "adapt",
    "adapt_all",
    "adapt_declared",
    "check_adaptable",
    "field_readers",
    "isolated_adaptors",
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
    argmax, a top-k, TP/FP/FN under one decision rule) is done once per step. ``sources`` says
    where its fields were read, when its output's type declared it (``feeds``): inputs of
    other types reading a field with the same reader share what is derived from it.
    """

    derived: dict[Hashable, Any] = field(default_factory=dict, repr=False, kw_only=True)
    sources: FieldReaders | None = field(default=None, repr=False, kw_only=True)

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``, once per step and key across every metric that asks."""
        # One lookup on the path taken by every metric after the first.
        value = self.derived.get(key, _MISSING)
        if value is _MISSING:
            value = self.derived[key] = compute()
        return cast("T", value)

    def memo_from(self, key: Hashable, basis: Sequence[object], compute: Callable[[], T]) -> T:
        """``compute()`` from ``basis`` (a running sum, the bounds kept so far), once per step
        and key for the callers holding the very same ``basis`` objects: compared by identity,
        which is safe as the memo holds them, so none can be another's. A caller holding
        others computes its own."""
        found = self.derived.get(key)
        if (
            found is not None
            and len(found[0]) == len(basis)
            and all(map(operator.is_, found[0], basis))
        ):
            return cast("T", found[1])
        value = compute()
        self.derived[key] = (tuple(basis), value)
        return value


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


@dataclass(frozen=True, eq=False)
class ImageInput(MetricInput):
    """Predicted images ``(N, C, H, W)`` and their target images of the same shape (PSNR,
    SSIM)."""

    outputs: torch.Tensor
    targets: torch.Tensor


@dataclass(frozen=True, eq=False)
class DiceInput(MetricInput):
    """Segmentation scores, ``(N, C, H, W)`` per class or ``(N, H, W)`` binary, and target
    masks ``(N, H, W)`` of class indices (0/1 for binary)."""

    outputs: torch.Tensor
    targets: torch.Tensor


@dataclass(frozen=True, eq=False)
class SequenceInput(MetricInput):
    """Predicted token ids ``(N, P)`` and target token ids ``(N, R)`` (edit distances, BLEU).

    Tokens equal to ``pad_token`` are removed wherever they are; ``P`` and ``R`` may differ.
    """

    predictions: torch.Tensor
    targets: torch.Tensor
    pad_token: int | None = None


@dataclass(frozen=True, eq=False)
class RegressionInput(MetricInput):
    """Predicted values and targets of the same shape: ``(N,)``, or ``(N, D)`` for ``D``
    outputs per item."""

    outputs: torch.Tensor
    targets: torch.Tensor


FieldReaders = Mapping[str, Callable[[Any], Any]]
"""How one input's fields are read from an output: each field's name and its ``reader(output)``."""

Feeds = Mapping[type[Any], FieldReaders]
"""An output type's declaration (its ``feeds``): each input type it feeds, and how that input's
fields are read from it."""

_registry: dict[tuple[type[Any], type[Any]], Callable[[Any], Any]] = {}


def register_adaptor(
    output_type: type[OutputT], input_type: type[InputT], adaptor: Callable[[OutputT], InputT]
) -> None:
    """Teach burnish to turn ``output_type`` (and its subclasses) into ``input_type``.

    A registration wins over what the output declares or its own ``adapt``, so it can also
    replace a built-in one.
    """
    _registry[(output_type, input_type)] = adaptor
    _plans.clear()


@contextmanager
def isolated_adaptors() -> Iterator[None]:
    """A registry of its own for the ``with`` block (a test fixture, say): inside, only the
    adaptors registered inside apply; on leaving, they are gone and the earlier ones are back."""
    saved = dict(_registry)
    _registry.clear()
    _plans.clear()
    try:
        yield
    finally:
        _registry.clear()
        _registry.update(saved)
        _plans.clear()


def adapt(output: object, kind: type[InputT]) -> InputT:
    """Turn a step's output into ``kind`` (see :func:`check_adaptable` for who decides how)."""
    return cast("InputT", _lookup(type(output), kind).make(output))


def adapt_all(outputs: Sequence[object], kind: type[InputT]) -> tuple[InputT, ...]:
    """Every output turned into ``kind``, as :func:`adapt` does, finding how once for outputs
    of one type (a learner's block of steps, usually all)."""
    if not outputs:
        return ()
    output_type = type(outputs[0])
    make = _lookup(output_type, kind).make
    return tuple(
        [make(output) if type(output) is output_type else adapt(output, kind) for output in outputs]
    )


def field_readers(output_type: type[Any], kind: type[Any]) -> FieldReaders | None:
    """How each field of ``kind`` is read straight from an output of ``output_type``: its
    declaration's readers, the same values :func:`adapt` gives, when that is what makes
    ``kind`` (not a registered adaptor, nor an ``adapt`` defined below the declaring class);
    else ``None``. A learner's block of steps is then read by field, without an input per step.
    """
    return _lookup(output_type, kind).readers


def supported_inputs(output_type: type[Any]) -> frozenset[type[Any]]:
    """The input types ``output_type`` is known to feed: registered for it, declared by it, or
    named by the overloads of its own ``adapt`` (see :func:`check_adaptable`)."""
    return _plan(output_type).supported


def check_adaptable(output_type: type[Any], input_type: type[Any] | None, metric: str) -> None:
    """Raise ``TypeError`` now if ``metric``'s input cannot be made from ``output_type``.

    How an output becomes an input, first that applies: an output that is the input already
    (an instance of it, or of the protocol it names) is passed as it is; a registered adaptor
    (:func:`register_adaptor`); the output type's declaration, a class attribute ``feeds``
    (:data:`Feeds`) of the inputs it feeds and how each field is read, which holds unless an
    ``adapt`` defined below the declaring class replaces it; else the output's own
    ``adapt(kind)`` (the :class:`Adaptor` protocol).

    An output with only its own ``adapt`` says what it feeds in nothing but its
    ``typing.overload`` annotations (``type[AccuracyInput]``, ...), so they are read, once per
    type, as the only way to check it before its first output. When they do not tell (no
    overloads and ``type[Any]``, a type variable, no annotation), it is checked on its first
    output instead.
    """
    if input_type is None or _lookup(output_type, input_type).feeds is not False:
        return
    supported = supported_inputs(output_type)
    raise TypeError(
        f"metric {metric!r} takes {_type_name(input_type)}, which {output_type.__qualname__} "
        f"cannot be adapted to; it feeds {', '.join(sorted(map(_type_name, supported))) or 'none'}"
        f". Use register_adaptor({output_type.__qualname__}, {_type_name(input_type)}, fn) or "
        "implement adapt() for it."
    )


def adapt_declared(output: object, kind: type[InputT]) -> InputT:
    """An output's own ``adapt(kind)`` when its type declares ``feeds``: a registered adaptor,
    else the input built from the declared readers.

    Unlike :func:`adapt`, it never calls the output's ``adapt``: a subclass's own ``adapt``
    may end in ``super().adapt(kind)``.
    """
    output_type = type(output)
    registered = _registered(output_type, kind)
    if registered is not None:
        return cast("InputT", registered(output))
    feeds: Feeds = getattr(output_type, "feeds", {})
    readers = feeds.get(kind)
    if readers is None:
        raise unsupported_input(output, kind)
    return _build(kind, readers, output)


def unsupported_input(output: object, kind: type[Any]) -> TypeError:
    """The error for an input that ``output`` cannot be adapted to."""
    supported = sorted(_type_name(k) for k in supported_inputs(type(output)))
    return TypeError(
        f"{type(output).__qualname__} cannot be adapted to {_type_name(kind)}; it feeds "
        f"{', '.join(supported) or 'no input'}. Use register_adaptor({type(output).__qualname__},"
        f" {_type_name(kind)}, fn) to teach it."
    )


@dataclass(frozen=True)
class _Adaptation:
    """How outputs of one type become one input type."""

    make: Callable[[Any], Any]
    # Each field's reader, when the output type's declaration makes the input.
    readers: FieldReaders | None = None
    # Whether the output type feeds the input: None when only adapting an output tells.
    feeds: bool | None = True


def _lookup(output_type: type[Any], kind: type[Any]) -> _Adaptation:
    """How ``output_type`` becomes ``kind``: the one answer :func:`adapt`, :func:`adapt_all`,
    :func:`field_readers` and :func:`check_adaptable` give, found once per pair."""
    plan = _plan(output_type)
    found = plan.adaptations.get(kind)
    if found is None:
        found = plan.adaptations[kind] = plan.find(kind)
    return found


def _plan(output_type: type[Any]) -> _Plan:
    plan = _plans.get(output_type)
    if plan is None:
        plan = _plans[output_type] = _Plan(output_type)
    return plan


class _Plan:
    """How outputs of one type are adapted, found on first use.

    Every step adapts its output to every input its metrics take, and a learner checks every
    metric's input at each split's start: what a type declares, and its overloads, are read
    once. Kept until the registry changes (:func:`register_adaptor` forgets them all).
    """

    def __init__(self, output_type: type[Any]) -> None:
        self.output_type = output_type
        self.adaptations: dict[type[Any], _Adaptation] = {}
        declaring, adapting = _definer(output_type, "feeds"), _definer(output_type, "adapt")
        # The declaration holds unless an ``adapt`` defined below the declaring class replaces it.
        in_use = declaring is not None and (adapting is None or issubclass(declaring, adapting))
        self.declared: Feeds | None = output_type.feeds if in_use else None
        own = None if in_use else getattr(output_type, "adapt", None)
        self.own: Callable[[Any, type[Any]], Any] | None = own if callable(own) else None

    @functools.cached_property
    def overloaded(self) -> frozenset[type[Any]] | None:
        """The input types named by the overloads of the type's own ``adapt``; ``None`` when
        they do not tell."""
        return None if self.own is None else _read_overloaded_kinds(self.output_type)

    @functools.cached_property
    def supported(self) -> frozenset[type[Any]]:
        registered = {kind for (owner, kind) in _registry if issubclass(self.output_type, owner)}
        return frozenset(registered.union(self.declared or (), self.overloaded or ()))

    def find(self, kind: type[Any]) -> _Adaptation:
        if is_protocol(kind):
            # Whether an output is a protocol's can depend on the instance (its attributes).
            otherwise = self._convert(kind)
            convert = otherwise.make

            def make(output: object) -> Any:
                return output if isinstance(output, kind) else convert(output)

            return _Adaptation(make, feeds=True if otherwise.feeds else None)
        if issubclass(self.output_type, kind):
            return _ITSELF
        return self._convert(kind)

    def _convert(self, kind: type[Any]) -> _Adaptation:
        registered = _registered(self.output_type, kind)
        if registered is not None:
            return _Adaptation(registered)
        readers = None if self.declared is None else self.declared.get(kind)
        if readers is not None:
            return _Adaptation(functools.partial(_build, kind, readers), readers)
        own = self.own
        if own is not None:
            feeds = None if self.overloaded is None else kind in self.overloaded
            return _Adaptation(lambda output: own(output, kind), feeds=feeds)

        def unsupported(output: object) -> Any:
            raise unsupported_input(output, kind)

        return _Adaptation(unsupported, feeds=False)


# Strong references, as the registry's: output types are few and live as long as their module.
_plans: dict[type[Any], _Plan] = {}


def _build(kind: type[InputT], readers: FieldReaders, output: object) -> InputT:
    fields = {name: read(output) for name, read in readers.items()}
    if issubclass(kind, MetricInput):
        fields["sources"] = readers
    return kind(**fields)


def _itself(output: object) -> object:
    return output


_ITSELF = _Adaptation(_itself)


def _registered(output_type: type[Any], input_type: type[Any]) -> Callable[[Any], Any] | None:
    for base in output_type.__mro__:
        found = _registry.get((base, input_type))
        if found is not None:
            return found
    return None


def _definer(output_type: type[Any], name: str) -> type[Any] | None:
    """The class of ``output_type``'s MRO whose own ``name`` it uses."""
    return next((base for base in output_type.__mro__ if name in base.__dict__), None)


def _read_overloaded_kinds(output_type: type[Any]) -> frozenset[type[Any]] | None:
    method = inspect.getattr_static(output_type, "adapt")
    kinds: set[type[Any]] = set()
    for overload in get_overloads(method) or [method]:
        try:
            hints = typing.get_type_hints(overload)
            parameters = list(inspect.signature(overload).parameters)
        except (NameError, TypeError, ValueError):
            return None  # annotations naming what is out of reach, or no signature
        kind = hints.get(parameters[1]) if len(parameters) > 1 else None
        target = typing.get_args(kind)[0] if typing.get_origin(kind) is type else None
        # Any is a class since Python 3.11.
        if not isinstance(target, type) or target is object or target is Any:
            return None  # type[Any], a type variable, no annotation: anything, as far as it says
        kinds.add(target)
    return frozenset(kinds)


def _type_name(kind: type[Any] | None) -> str:
    return "None (no input)" if kind is None else kind.__qualname__


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
