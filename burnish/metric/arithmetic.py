"""Arithmetic on metrics: derived metrics such as ``2 * p * r / (p + r)``.

Built-in numeric metrics take ``+ - * / // % **``, unary ``-``, ``abs()``, comparisons
(``< <= > >=``, and ``eq()`` / ``ne()``; 1 where true, else 0) and class indexing (``p[3]``),
with one another and with numbers. :func:`derive` brings any other numeric metric into an
expression (``derive(mine) * 2``) and names one (``derive(2 * p * r / (p + r), name="F1")``).
Values are computed per class with IEEE semantics (``x / 0`` is ``inf`` or NaN, as in
TorchMetrics' compositions): a per-class metric gives per-class results, a single value applies
to every class, and the numeric value is the mean of the defined classes, as for any per-class
metric.

A derived metric is a metric like any other: ``update()`` updates each distinct operand once
(``p * p`` too), each step gives an entry (the batch value from the operands' batch values, the
epoch value so far from theirs, read only when shown), ``compute()`` the epoch value from the
operands' epoch values, and ``state_dict()`` holds the operands' states. An F1 built from macro
precision and recall is so the harmonic mean of the two macro values, as in TorchMetrics;
:class:`~burnish.metric.confusion.FBetaScoreMetric` averages per-class F1 values instead.

Registered beside its operands (in a :class:`~burnish.metric.collection.MetricCollection` or a
learner), every metric is still updated once per step: the collection updates the operands and
the derived metric combines their entries. Used alone, update a derived metric or its operands,
not both.
"""

from __future__ import annotations

import math
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from burnish.adaptor import StepAdaptations
from burnish.distributed.sync import compute_view
from burnish.metric.base import MetricMetadata, Numeric
from burnish.metric.composite import CompositeMetric
from burnish.metric.entry import FormatOptions, MetricEntry, NumericEntry, Text
from burnish.metric.mixins import MetricMixin
from burnish.metric.operand import (
    NumericMetric,
    PendingGroup,
    batches,
    epoch_entry,
    epochs,
    step_texts,
)
from burnish.metric.totals import Totals, totals_of
from burnish.metric.values import nan_mean

__all__ = ["DerivedMetric", "NumericMetricMixin", "Operand", "combine", "derive", "pick"]

# Operator precedences, as Python's: how an expression's name is parenthesised.
_COMPARE, _SUM, _PRODUCT, _UNARY, _POWER, _ATOM = range(6)

Values = Mapping[int, torch.Tensor]
"""Each leaf metric's values (by ``id``), as a float64 vector: one value or one per class."""


class _Node(ABC):
    """A node of a derived metric's expression."""

    def precedence(self) -> int:
        return _ATOM

    def leaves(self) -> Iterator[NumericMetric]:
        return iter(())

    @abstractmethod
    def evaluate(self, values: Values) -> torch.Tensor: ...

    @abstractmethod
    def text(self) -> str: ...

    def direction(self) -> bool | None:
        """Whether higher is better; ``None`` when the node does not tell (a number)."""
        return None

    def sign(self) -> float | None:
        """A constant's sign (``None`` for anything else)."""
        return None

    def wrapped(self, parenthesise: bool) -> str:
        """The text, in parentheses when ``parenthesise``."""
        return f"({self.text()})" if parenthesise else self.text()


@dataclass(frozen=True, eq=False)
class _Leaf(_Node):
    metric: NumericMetric

    def leaves(self) -> Iterator[NumericMetric]:
        yield self.metric

    def evaluate(self, values: Values) -> torch.Tensor:
        return values[id(self.metric)]

    def text(self) -> str:
        return self.metric.name

    def direction(self) -> bool | None:
        return self.metric.higher_is_better


@dataclass(frozen=True, eq=False)
class _Constant(_Node):
    value: float

    def precedence(self) -> int:
        return _UNARY if self.value < 0 else _ATOM

    def evaluate(self, values: Values) -> torch.Tensor:
        return torch.tensor([self.value], dtype=torch.float64)

    def text(self) -> str:
        return str(int(self.value)) if self.value.is_integer() else repr(self.value)

    def sign(self) -> float | None:
        return -1.0 if self.value < 0 else 1.0


_UNARY_OPS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "neg": operator.neg,
    "abs": torch.abs,
}


@dataclass(frozen=True, eq=False)
class _Unary(_Node):
    op: str
    operand: _Node

    def precedence(self) -> int:
        return _UNARY if self.op == "neg" else _ATOM

    def leaves(self) -> Iterator[NumericMetric]:
        return self.operand.leaves()

    def evaluate(self, values: Values) -> torch.Tensor:
        return _UNARY_OPS[self.op](self.operand.evaluate(values))

    def text(self) -> str:
        if self.op == "abs":
            return f"abs({self.operand.text()})"
        return "-" + self.operand.wrapped(self.operand.precedence() < _UNARY)

    def direction(self) -> bool | None:
        inner = self.operand.direction()
        return _flip(inner) if self.op == "neg" else inner


def _compare(compare: Callable[[Any, Any], torch.Tensor]) -> Callable[..., torch.Tensor]:
    return lambda a, b: compare(a, b).to(torch.float64)


_BINARY_OPS: dict[str, tuple[Callable[[torch.Tensor, torch.Tensor], torch.Tensor], int]] = {
    "+": (operator.add, _SUM),
    "-": (operator.sub, _SUM),
    "*": (operator.mul, _PRODUCT),
    "/": (operator.truediv, _PRODUCT),
    "//": (torch.floor_divide, _PRODUCT),
    "%": (torch.remainder, _PRODUCT),
    "**": (torch.pow, _POWER),
    "<": (_compare(operator.lt), _COMPARE),
    "<=": (_compare(operator.le), _COMPARE),
    ">": (_compare(operator.gt), _COMPARE),
    ">=": (_compare(operator.ge), _COMPARE),
    "==": (_compare(operator.eq), _COMPARE),
    "!=": (_compare(operator.ne), _COMPARE),
}


def _flip(direction: bool | None) -> bool | None:
    return None if direction is None else not direction


@dataclass(frozen=True, eq=False)
class _Binary(_Node):
    op: str
    left: _Node
    right: _Node

    def precedence(self) -> int:
        return _BINARY_OPS[self.op][1]

    def leaves(self) -> Iterator[NumericMetric]:
        yield from self.left.leaves()
        yield from self.right.leaves()

    def evaluate(self, values: Values) -> torch.Tensor:
        left, right = self.left.evaluate(values), self.right.evaluate(values)
        try:
            return _BINARY_OPS[self.op][0](left, right)
        except RuntimeError as error:
            raise ValueError(
                f"{self.text()}: {self.op} combines {left.numel()} values with "
                f"{right.numel()} (per-class metrics of different class counts)"
            ) from error

    def text(self) -> str:
        own = self.precedence()
        # Python's rules: ** groups to the right, comparisons do not chain as arithmetic does.
        left_tight = self.op == "**" or own == _COMPARE
        right_tight = self.op != "**"
        left = self.left.wrapped(self.left.precedence() < own + left_tight)
        right = self.right.wrapped(self.right.precedence() < own + right_tight)
        return f"{left} {self.op} {right}"

    def direction(self) -> bool | None:
        left, right = self.left.direction(), self.right.direction()
        op = self.op
        if op in ("+", "-"):
            if left is not None:
                return left
            return right if op == "+" else _flip(right)
        if op in ("*", "/", "//"):
            right_sign, left_sign = self.right.sign(), self.left.sign()
            if right_sign is not None:  # x * c, x / c: a negative c turns it around
                return left if right_sign > 0 else _flip(left)
            if left_sign is not None:  # c * x keeps x's sense, c / x turns it around
                keeps = (op == "*") == (left_sign > 0)
                return right if keeps else _flip(right)
            return left if left is not None else right
        if op in ("%", "**"):
            return left if left is not None else right
        return None


@dataclass(frozen=True, eq=False)
class _Index(_Node):
    operand: _Node
    index: int
    label: str | None = None

    def leaves(self) -> Iterator[NumericMetric]:
        return self.operand.leaves()

    def evaluate(self, values: Values) -> torch.Tensor:
        vector = self.operand.evaluate(values)
        if not -vector.numel() <= self.index < vector.numel():
            raise ValueError(
                f"{self.text()}: index {self.index} is out of range for {vector.numel()} values"
            )
        return vector[self.index].reshape(1)

    def text(self) -> str:
        shown = self.index if self.label is None else self.label
        return f"{self.operand.wrapped(self.operand.precedence() < _ATOM)}[{shown}]"

    def direction(self) -> bool | None:
        return self.operand.direction()


@dataclass(frozen=True, eq=False)
class _Named(_Node):
    """An expression given a name or a direction, shown by its name within larger ones."""

    node: _Node
    name: str
    higher_is_better: bool
    named: bool

    def precedence(self) -> int:
        return _ATOM if self.named else self.node.precedence()

    def leaves(self) -> Iterator[NumericMetric]:
        return self.node.leaves()

    def evaluate(self, values: Values) -> torch.Tensor:
        return self.node.evaluate(values)

    def text(self) -> str:
        return self.name if self.named else self.node.text()

    def direction(self) -> bool | None:
        return self.higher_is_better


Operand = Numeric | float
"""What arithmetic combines: numeric metrics and numbers."""


def _derive(op: str, *operands: object) -> DerivedMetric:
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
        return pick(self, index)


class DerivedMetric(NumericMetricMixin, CompositeMetric):
    """A numeric metric computed from other metrics' values (see the module text).

    Made by arithmetic on metrics or by :func:`derive`. Its name is the expression
    (``2 * Precision * Recall / (Precision + Recall)``) unless given; higher is better when the
    operands say so, turned around by a negation, a subtraction of or a division by a metric,
    or a negative factor (pass ``higher_is_better`` to :func:`derive` to decide). Its input is
    its operands' when they share one, else the step's output (``input_type`` ``object``).
    """

    def __init__(
        self, node: _Node, *, name: str | None = None, higher_is_better: bool | None = None
    ) -> None:
        operands = list({id(leaf): leaf for leaf in node.leaves()}.values())
        super().__init__(operands)
        # The expression's own metrics, in reader order: a synced copy's readers read synced
        # copies of them, and their values still go to these leaves.
        self._operands = tuple(operands)
        self._node = node
        self.name = node.text() if name is None else name
        self._named = name is not None
        direction = node.direction() if higher_is_better is None else higher_is_better
        self.higher_is_better = True if direction is None else direction
        self._directed = higher_is_better is not None
        self._options = FormatOptions(self.name).precision(4)

    def __repr__(self) -> str:
        return f"DerivedMetric({self.name!r})"

    def __bool__(self) -> bool:
        raise TypeError(
            f"{self.name!r} is a metric, not a truth value: read its value() (a comparison of "
            "metrics gives 1 or 0)"
        )

    def _as_operand(self) -> _Node:
        """The expression, as an operand of a larger one."""
        if not (self._named or self._directed):
            return self._node
        return _Named(self._node, self.name, self.higher_is_better, self._named)

    def _evaluate(self, vectors: Sequence[list[float]]) -> list[float]:
        values = {
            id(operand): torch.tensor(vector, dtype=torch.float64)
            for operand, vector in zip(self._operands, vectors, strict=True)
        }
        result: list[float] = self._node.evaluate(values).reshape(-1).tolist()
        return result

    def combine(
        self, step: StepAdaptations, entries: Sequence[MetricEntry], metadata: MetricMetadata
    ) -> MetricEntry:
        self._updates += 1
        pending = [reader.step(entry) for reader, entry in zip(self._readers, entries, strict=True)]
        return PendingGroup(pending).entry(self.name, self._render)

    def _render(self, group: PendingGroup, host: Sequence[list[float]]) -> tuple[Text, Text]:
        decoded = group.decode(host)
        batch = self._evaluate(batches(decoded))
        running = epochs(decoded)
        epoch = None if running is None else self._evaluate(running)
        return step_texts(self._options, batch, epoch)

    def value(self) -> float:
        """The latest batch's value, from the operands' batch values; NaN before any."""
        return nan_mean(self._evaluate(batches(self._now())))

    def epoch_values(self) -> list[float]:
        """The epoch's values so far: one, or one per class."""
        running = epochs(self._now())
        return [math.nan] if running is None else self._evaluate(running)

    def running_value(self) -> NumericEntry:
        """The epoch's value so far, a ``final`` entry (it is not a mean of the steps)."""
        return NumericEntry(nan_mean(self.epoch_values()), self._updates, "final")

    def compute(self) -> MetricEntry:
        """The epoch entry, over every process of a distributed run (see ``SyncOnCompute``)."""
        values = compute_view(self).epoch_values()
        return epoch_entry(self.name, self._options, values, self._updates)

    def totals(self) -> Totals | None:
        """The operands' totals together, when every operand has them."""
        parts = [totals_of(reader.metric) for reader in self._readers]
        found = [part for part in parts if part is not None]
        if len(found) < len(parts):
            return None
        sizes = [len(part.values) for part in found]

        def evaluate(host: Sequence[list[float]]) -> list[float]:
            vectors, offset = [], 0
            for part, size in zip(found, sizes, strict=True):
                vectors.append(part.evaluate(host[offset : offset + size]))
                offset += size
            return self._evaluate(vectors)

        values = tuple(value for part in found for value in part.values)
        return Totals(values, evaluate, tuple(check for part in found for check in part.checks))


def _node_of(operand: object) -> _Node | None:
    if isinstance(operand, DerivedMetric):
        return operand._as_operand()
    if isinstance(operand, int | float):
        return _Constant(float(operand))
    if isinstance(operand, NumericMetric):
        return _Leaf(operand)
    return None


def combine(op: str, *operands: object) -> DerivedMetric:
    """``op`` (``"+"``, ``"neg"``, ``"abs"``, ...) applied to metrics and numbers; Python's
    ``NotImplemented`` for an operand that is neither, so that Python tries the other side."""
    nodes = [_node_of(operand) for operand in operands]
    if any(node is None for node in nodes):
        return NotImplemented  # type: ignore[no-any-return]
    found = [node for node in nodes if node is not None]
    if len(found) == 1:
        return DerivedMetric(_Unary(op, found[0]))
    return DerivedMetric(_Binary(op, *found))


def pick(metric: object, index: int, label: str | None = None) -> DerivedMetric:
    """Class ``index`` of a per-class metric, as a metric (shown as ``label`` when given)."""
    node = _node_of(metric)
    if node is None or isinstance(node, _Constant):
        raise TypeError(f"expected a numeric metric to index, received {type(metric).__qualname__}")
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError(f"{node.text()}: expected a class index (int), received {index!r}")
    return DerivedMetric(_Index(node, index, label))


def derive(
    metric: NumericMetric, *, name: str | None = None, higher_is_better: bool | None = None
) -> DerivedMetric:
    """``metric`` as a derived metric: any numeric metric (your own too) made an operand of
    arithmetic (``derive(mine) * 2``), or an expression given a name and a direction
    (``derive(2 * p * r / (p + r), name="F1")``). Shares the metric's operands, never copies."""
    node = _node_of(metric)
    if node is None or isinstance(node, _Constant):
        raise TypeError(
            f"expected a numeric metric (name, update, higher_is_better, value, running_value), "
            f"received {type(metric).__qualname__}"
        )
    return DerivedMetric(node, name=name, higher_is_better=higher_is_better)
