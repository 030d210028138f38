"""A per-class report, as TorchMetrics' ``ClasswiseWrapper`` documentation makes one.

``Classwise`` names a per-class metric's values by class: its entries list every class by
label and ``values()`` gives them as a dict. The report's F1 column is derived from the
precision and recall columns by arithmetic; a class is one metric too (``precision["eight"]``),
and so is any scikit-learn function (Cohen's kappa here, computed once over the epoch). Each
metric is updated once per step, however many of the report's columns share it.

Run: python -m examples.classwise_report
"""

from __future__ import annotations

from sklearn.metrics import cohen_kappa_score

from burnish import (
    Classwise,
    ConfusionStatsInput,
    FunctionMetric,
    MetricCollection,
    PrecisionMetric,
    RecallMetric,
)
from examples.digits_outputs import validation_outputs

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _labels(item: ConfusionStatsInput) -> tuple[object, object]:
    return item.targets, item.predictions.argmax(1)


def main() -> dict[str, dict[str, float]]:
    precision = PrecisionMetric.multiclass(reduction="none")
    recall = RecallMetric.multiclass(reduction="none")
    columns = {
        "precision": Classwise(precision, NAMES, name="Precision"),
        "recall": Classwise(recall, NAMES, name="Recall"),
        "f1": Classwise(2 * precision * recall / (precision + recall), NAMES, name="F1"),
    }
    kappa = FunctionMetric(cohen_kappa_score, arrays=_labels, name="Cohen's kappa")
    metrics = MetricCollection([*columns.values(), columns["precision"]["eight"], kappa])
    for output in validation_outputs():
        metrics.update(output)
    report = {column: metric.values() for column, metric in columns.items()}
    print(f"{'class':>8} " + " ".join(f"{column:>9}" for column in report))
    for name in NAMES:
        print(f"{name:>8} " + " ".join(f"{report[column][name]:9.4f}" for column in report))
    for name, entry in metrics.compute().items():
        if name not in ("Precision", "Recall", "F1"):
            print(f"{name}: {entry.formatted}")
    return report


if __name__ == "__main__":
    main()
