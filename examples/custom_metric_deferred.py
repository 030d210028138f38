"""A metric written from scratch against the protocol alone, free of host syncs: mean absolute
error whose sums stay on the device, read only when an entry is shown.

No burnish base class is involved. A metric is any object with ``name``, ``update``,
``compute`` and ``clear``; adding ``higher_is_better``, ``value`` and ``running_value`` makes it
numeric, so the dashboard plots it. Its input type is read from ``update``'s annotation, and
``register_adaptor`` teaches burnish's ``RegressionOutput`` to produce it. ``state_reductions``
says how its states combine across the processes of a distributed run (torchrun).

Run: python examples/custom_metric_deferred.py
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch

from burnish import (
    FormatOptions,
    MetricEntry,
    MetricMetadata,
    NumericEntry,
    RegressionOutput,
    adapt,
    register_adaptor,
)
from burnish.distributed import compute_view
from burnish.metric.host import to_host


@dataclass(frozen=True)
class AbsoluteErrorInput:
    """Predictions and targets of the same shape."""

    predictions: torch.Tensor
    targets: torch.Tensor


register_adaptor(
    RegressionOutput, AbsoluteErrorInput, lambda out: AbsoluteErrorInput(out.output, out.targets)
)


class MeanAbsoluteErrorMetric:
    """The mean absolute error over every element seen this epoch."""

    name = "MAE"
    higher_is_better = False
    state_reductions: ClassVar[dict[str, str]] = {"_sum": "sum", "_count": "sum"}

    def __init__(self) -> None:
        self._format = FormatOptions(self.name).precision(3)
        self._sum: torch.Tensor | float = 0.0
        self._count = 0
        self._current: torch.Tensor | float = math.nan

    def update(self, item: AbsoluteErrorInput, metadata: MetricMetadata) -> MetricEntry:
        if item.predictions.shape != item.targets.shape:
            raise ValueError(
                f"{self.name}: expected predictions and targets of the same shape, received "
                f"{tuple(item.predictions.shape)} and {tuple(item.targets.shape)}"
            )
        batch_sum = (item.predictions.detach() - item.targets).abs().sum().double()
        batch_count = item.targets.numel()
        # Out of place, so that the entry below keeps this step's values.
        self._sum = self._sum + batch_sum
        self._count += batch_count
        self._current = batch_sum / batch_count
        # Deferred: the tensors are read when the entry is shown, not here, so no step waits
        # for the device.
        return MetricEntry.deferred(
            self.name, [self._current, self._sum, self._count, batch_count], self._render
        )

    def _render(self, host: Sequence[list[float]]) -> tuple[str, str]:
        (current,), (total,), (count,), (batch_count,) = host
        formatted = (
            f"epoch {self._format.format(total / count)} - batch {self._format.format(current)}"
        )
        return formatted, NumericEntry(current, int(batch_count), "aggregated").serialize()

    def compute(self) -> MetricEntry:
        # Over every process's data in a distributed run; this metric itself otherwise.
        running = compute_view(self).running_value()
        return MetricEntry(self.name, self._format.format(running.value), running.serialize())

    def value(self) -> float:
        ((current,),) = to_host([torch.as_tensor(self._current)])
        return current

    def running_value(self) -> NumericEntry:
        ((total,),) = to_host([torch.as_tensor(self._sum)])
        count = self._count
        return NumericEntry(total / count if count else math.nan, count, "aggregated")

    def clear(self) -> None:
        self._sum = 0.0
        self._count = 0
        self._current = math.nan


def main() -> None:
    torch.manual_seed(0)
    metric = MeanAbsoluteErrorMetric()
    metadata = MetricMetadata.fake()
    for _ in range(5):
        predictions = torch.randn(32, 1)
        targets = predictions + 0.1 * torch.randn(32, 1)
        output = RegressionOutput(torch.tensor(0.0), predictions, targets)
        print(metric.update(adapt(output, AbsoluteErrorInput), metadata).formatted)
    print("epoch:", metric.compute().formatted)


if __name__ == "__main__":
    main()
