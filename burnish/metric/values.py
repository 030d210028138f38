"""Reading metric values to the host, and the plain number helpers every family shares."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from burnish.metric.entry import DeferredChecks, DeferredValue, FormatOptions, format_value
from burnish.metric.host import to_host

__all__ = ["format_values", "nan_mean", "read_checked", "read_values"]


def read_values(values: Sequence[DeferredValue]) -> list[list[float]]:
    """Host values of tensors and plain numbers alike, with one transfer for the tensors."""
    host = iter(to_host([value for value in values if isinstance(value, torch.Tensor)]))
    return [next(host) if isinstance(v, torch.Tensor) else [float(v)] for v in values]


def nan_mean(values: Sequence[float]) -> float:
    """The mean of the values that are not NaN; NaN when there are none."""
    if len(values) == 1:
        return values[0]  # most values are one number: read in bulk, this path matters
    defined = [value for value in values if not math.isnan(value)]
    return sum(defined) / len(defined) if defined else math.nan


def format_values(
    options: FormatOptions, values: Sequence[float], labels: Sequence[str] | None = None
) -> str:
    """One value as ``options`` formats it; several (per class) as their mean and a list, each
    named by its label (by default its index). With labels, even one value is listed."""
    if len(values) == 1 and labels is None:
        return options.format(values[0])
    names = [str(index) for index in range(len(values))] if labels is None else labels
    per_class = ", ".join(
        f"{name}: {format_value(value, options.precision_)}"
        for name, value in zip(names, values, strict=True)
    )
    return f"{options.format(nan_mean(values))} mean [{per_class}]"


def read_checked(values: Sequence[DeferredValue], checks: DeferredChecks) -> list[list[float]]:
    """Host values of ``values`` and ``checks`` in one transfer; raises a failed check first."""
    host = read_values([*values, *checks.pending()])
    checks.verify(host[len(values) :])
    return host[: len(values)]
