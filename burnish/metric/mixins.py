"""What every built-in metric offers beyond the protocols: ``update(item)`` without metadata,
``reset()``, ``to(device)`` and, for numeric metrics, arithmetic (``2 * p * r / (p + r)``) and
class indexing (``p[3]``).

Users' metrics need none of this: :func:`~burnish.metric.arithmetic.derive` brings any numeric
metric into an expression.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import torch

from burnish.metric.base import Numeric, Stateful

if TYPE_CHECKING:
    from burnish.metric.arithmetic import DerivedMetric

__all__ = ["MetricMixin", "NumericMetricMixin", "check_state"]


class _Clearable(Protocol):
    def clear(self) -> None: ...


StatefulT = TypeVar("StatefulT", bound=Stateful)


def _moved(state: Any, device: torch.device) -> tuple[Any, bool]:
    """``state`` with its tensors on ``device``, and whether any had to move."""
    if isinstance(state, torch.Tensor):
        return state.to(device), state.device != device
    if isinstance(state, Mapping | list | tuple):
        items = state.items() if isinstance(state, Mapping) else enumerate(state)
        moved = {key: _moved(value, device) for key, value in items}
        changed = any(change for _, change in moved.values())
        values = {key: value for key, (value, _) in moved.items()}
        if isinstance(state, Mapping):
            return values, changed
        return type(state)(values.values()), changed
    return state, False


def check_state(metric: Stateful, state: object) -> None:
    """Raise ``ValueError`` when ``state`` is not shaped as ``metric``'s own state dict (its
    dicts and their keys), naming the metric, the keys it expects and those it received.

    Built-in metrics call it before loading a state: another metric's state would otherwise
    fail halfway through with a bare ``KeyError``, or load into slots that mean something else.
    """
    mismatch = _mismatch(metric.state_dict(), state, "")
    if mismatch is not None:
        label = f"metric {getattr(metric, 'name', None)!r} ({type(metric).__qualname__})"
        raise ValueError(f"{label} cannot load this state: {mismatch}")


def _mismatch(expected: object, received: object, path: str) -> str | None:
    """How ``received`` differs from ``expected`` in its dicts and their keys, at ``path`` (the
    keys leading there); ``None`` when it does not. Other values are not compared: a slot holds
    a number or a tensor, or ``None`` before the first update, depending on the epoch so far."""
    where = f"at state{path}, " if path else ""
    if not isinstance(expected, Mapping) or not isinstance(received, Mapping):
        if isinstance(expected, Mapping) == isinstance(received, Mapping):
            return None
        wanted = "a dict" if isinstance(expected, Mapping) else "no dict"
        return f"{where}expected {wanted}, received {type(received).__qualname__}"
    if set(expected) != set(received):
        return f"{where}expected the keys {list(expected)}, received {list(received)}"
    for key, value in expected.items():
        mismatch = _mismatch(value, received[key], f"{path}[{key!r}]")
        if mismatch is not None:
            return mismatch
    return None


class MetricMixin:
    """``reset()`` and ``to(device)`` for a metric with ``clear()`` and a state dict."""

    def reset(self: _Clearable) -> None:
        """Start afresh: ``clear()`` under the name TorchMetrics and Ignite use."""
        self.clear()

    def to(self: StatefulT, device: torch.device | str) -> StatefulT:
        """Move the metric's state to ``device``, where its next inputs will be.

        Not needed to start: a state is created on the device of the first input it sees.
        """
        state, changed = _moved(self.state_dict(), torch.device(device))
        if changed:
            self.load_state_dict(state)
        return self


Operand = Numeric | float
"""What arithmetic combines: numeric metrics and numbers."""


def _derive(op: str, *operands: object) -> DerivedMetric:
    # Imported here: the derived metric is built on the states, whose metrics carry this mixin.
    from burnish.metric.arithmetic import combine  # noqa: PLC0415

    return combine(op, *operands)


class NumericMetricMixin(MetricMixin):
    """Arithmetic on numeric metrics, giving :class:`~burnish.metric.arithmetic.DerivedMetric`.

    ``+ - * / // % **``, unary ``-`` and ``abs()`` with metrics or numbers; ``< <= > >=`` and
    :meth:`eq` / :meth:`ne` give 0/1 values; ``metric[i]`` picks class ``i`` of a per-class
    metric. ``==`` keeps its Python meaning (identity), as metrics are kept in sets and dicts.
    """

    # Indexing must not make a metric iterable: ``list(metric)`` would never end.
    __iter__: ClassVar[None] = None

    def __add__(self, other: Operand) -> DerivedMetric:
        return _derive("+", self, other)

    def __radd__(self, other: Operand) -> DerivedMetric:
        return _derive("+", other, self)

    def __sub__(self, other: Operand) -> DerivedMetric:
        return _derive("-", self, other)

    def __rsub__(self, other: Operand) -> DerivedMetric:
        return _derive("-", other, self)

    def __mul__(self, other: Operand) -> DerivedMetric:
        return _derive("*", self, other)

    def __rmul__(self, other: Operand) -> DerivedMetric:
        return _derive("*", other, self)

    def __truediv__(self, other: Operand) -> DerivedMetric:
        return _derive("/", self, other)

    def __rtruediv__(self, other: Operand) -> DerivedMetric:
        return _derive("/", other, self)

    def __floordiv__(self, other: Operand) -> DerivedMetric:
        return _derive("//", self, other)

    def __rfloordiv__(self, other: Operand) -> DerivedMetric:
        return _derive("//", other, self)

    def __mod__(self, other: Operand) -> DerivedMetric:
        return _derive("%", self, other)

    def __rmod__(self, other: Operand) -> DerivedMetric:
        return _derive("%", other, self)

    def __pow__(self, other: Operand) -> DerivedMetric:
        return _derive("**", self, other)

    def __rpow__(self, other: Operand) -> DerivedMetric:
        return _derive("**", other, self)

    def __lt__(self, other: Operand) -> DerivedMetric:
        return _derive("<", self, other)

    def __le__(self, other: Operand) -> DerivedMetric:
        return _derive("<=", self, other)

    def __gt__(self, other: Operand) -> DerivedMetric:
        return _derive(">", self, other)

    def __ge__(self, other: Operand) -> DerivedMetric:
        return _derive(">=", self, other)

    def eq(self, other: Operand) -> DerivedMetric:
        """1 where this metric's value equals ``other``'s, else 0."""
        return _derive("==", self, other)

    def ne(self, other: Operand) -> DerivedMetric:
        """1 where this metric's value differs from ``other``'s, else 0."""
        return _derive("!=", self, other)

    def __neg__(self) -> DerivedMetric:
        return _derive("neg", self)

    def __abs__(self) -> DerivedMetric:
        return _derive("abs", self)

    def __getitem__(self, index: int) -> DerivedMetric:
        """Class ``index`` of a per-class metric (``reduction="none"``), as a metric."""
        from burnish.metric.arithmetic import pick  # noqa: PLC0415

        return pick(self, index)
