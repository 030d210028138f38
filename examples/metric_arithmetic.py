"""F1 built from precision and recall by arithmetic, as TorchMetrics' and Ignite's
documentation build it.

Ignite's ``MetricsLambda`` example divides per-class precision and recall,
``precision * recall * 2 / (precision + recall + 1e-20)``, then averages: that is the macro F1
(``FBetaScoreMetric``). TorchMetrics' metric arithmetic on macro precision and recall gives
the harmonic mean of the two averages instead, a different number. Both are derived metrics
here: each operand is updated once per step, every step's entry is read without a device
synchronisation, and the results print, plot and log like any metric.

Run: python -m examples.metric_arithmetic
"""

from __future__ import annotations

from burnish import (
    AccuracyMetric,
    FBetaScoreMetric,
    MetricCollection,
    PrecisionMetric,
    RecallMetric,
    derive,
)
from examples.digits_outputs import validation_outputs


def main() -> dict[str, float]:
    precision = PrecisionMetric.multiclass(reduction="none")
    recall = RecallMetric.multiclass(reduction="none")
    per_class_f1 = derive(precision * recall * 2 / (precision + recall + 1e-20), name="F1")
    macro_precision, macro_recall = PrecisionMetric.multiclass(), RecallMetric.multiclass()
    harmonic = derive(
        2 * macro_precision * macro_recall / (macro_precision + macro_recall),
        name="F1 of the macro averages",
    )
    accuracy = AccuracyMetric()
    metrics = MetricCollection(
        [
            per_class_f1,
            FBetaScoreMetric.multiclass(),
            harmonic,
            1 - accuracy / 100,
            macro_precision > macro_recall,
        ]
    )
    for output in validation_outputs():
        entries = metrics.update(output)
    print("last step:", entries["F1"].formatted)
    for name, entry in metrics.compute().items():
        print(f"{name}: {entry.formatted}")
    return metrics.values()


if __name__ == "__main__":
    main()
