"""A numeric metric of your own, in a few lines: mean absolute error of a regression model.

Any object with ``name``, ``update``, ``compute`` and ``clear`` is a metric; ``higher_is_better``,
``value`` and ``running_value`` make it numeric (plotted, summarised, usable by strategies).
``update``'s item may be annotated with a step output type, as here, or with an input type.
This one reads the device at each step (``float(...)``), which is simple but waits for it;
``custom_metric_deferred.py`` keeps its sums on the device instead.

Run: python examples/custom_metric.py
"""

from __future__ import annotations

import torch

from burnish import MetricEntry, MetricMetadata, NumericEntry, RegressionOutput


class MeanAbsoluteError:
    name, higher_is_better = "MAE", False

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.total, self.count, self.last = 0.0, 0, float("nan")

    def update(self, item: RegressionOutput, metadata: MetricMetadata) -> MetricEntry:
        errors = (item.output.detach() - item.targets).abs()
        self.last, self.total = float(errors.mean()), self.total + float(errors.sum())
        self.count += errors.numel()
        return MetricEntry(self.name, f"{self.last:.3f}", NumericEntry(self.last))

    def value(self) -> float:
        return self.last

    def running_value(self) -> NumericEntry:
        return NumericEntry(self.total / max(self.count, 1), self.count, "aggregated")

    def compute(self) -> MetricEntry:
        epoch = self.running_value()
        return MetricEntry(self.name, f"{epoch.value:.3f}", epoch)


def main() -> None:
    torch.manual_seed(0)
    metric = MeanAbsoluteError()
    for _ in range(3):
        predictions = torch.randn(32, 1)
        targets = predictions + 0.1 * torch.randn(32, 1)
        output = RegressionOutput(torch.tensor(0.0), predictions, targets)
        print(metric.update(output, MetricMetadata.fake()).formatted)
    print("epoch:", metric.compute().formatted)


if __name__ == "__main__":
    main()
