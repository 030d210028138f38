"""The metric examples run, and give what Ignite, TorchMetrics and scikit-learn give."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, classification_report, f1_score
from torchmetrics.classification import MulticlassPrecision, MulticlassRecall

from examples import bootstrap_interval, classwise_report, custom_accuracy, metric_arithmetic
from examples.digits_outputs import validation_outputs


@pytest.fixture(scope="module")
def labelled() -> tuple[np.ndarray, np.ndarray, list[torch.Tensor], list[torch.Tensor]]:
    outputs = validation_outputs()
    scores = [output.output for output in outputs]
    targets = [output.targets for output in outputs]
    predicted = torch.cat(scores).argmax(1).numpy()
    return torch.cat(targets).numpy(), predicted, scores, targets


# Importing Ignite warns of its use of torch.jit.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_custom_accuracy_matches_ignites(
    labelled: tuple[np.ndarray, np.ndarray, list[torch.Tensor], list[torch.Tensor]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ignite.metrics import Metric as IgniteMetric  # noqa: PLC0415

    class IgniteCustomAccuracy(IgniteMetric):  # type: ignore[misc]
        """Ignite's documentation example, as written there."""

        def __init__(self, ignored_class: int) -> None:
            self.ignored_class = ignored_class
            self._num_correct = torch.tensor(0)
            self._num_examples = 0
            super().__init__()

        def reset(self) -> None:
            self._num_correct = torch.tensor(0)
            self._num_examples = 0
            super().reset()

        def update(self, output: tuple[torch.Tensor, torch.Tensor]) -> None:
            y_pred, y = output[0].detach(), output[1].detach()
            indices = torch.argmax(y_pred, dim=1)
            mask = y != self.ignored_class
            mask &= indices != self.ignored_class
            y = y[mask]
            indices = indices[mask]
            correct = torch.eq(indices, y).view(-1)
            self._num_correct += torch.sum(correct)
            self._num_examples += correct.shape[0]

        def compute(self) -> float:
            return self._num_correct.item() / self._num_examples

    y, predicted, scores, targets = labelled
    values = custom_accuracy.main()
    ignite = IgniteCustomAccuracy(ignored_class=8)
    for batch_scores, batch_targets in zip(scores, targets, strict=True):
        ignite.update((batch_scores, batch_targets))
    assert values["Accuracy without 8"] == pytest.approx(ignite.compute())
    assert values["Accuracy"] == pytest.approx(100 * accuracy_score(y, predicted))
    assert "Accuracy without 8: " in capsys.readouterr().out


def test_f1_by_arithmetic_matches_torchmetrics_and_sklearn(
    labelled: tuple[np.ndarray, np.ndarray, list[torch.Tensor], list[torch.Tensor]],
) -> None:
    y, predicted, scores, targets = labelled
    values = metric_arithmetic.main()
    macro = f1_score(y, predicted, average="macro")
    assert values["F1"] == pytest.approx(macro)
    assert values["Macro F1 Score"] == pytest.approx(macro)
    precision, recall = MulticlassPrecision(10), MulticlassRecall(10)
    harmonic = 2 * precision * recall / (precision + recall)
    for batch_scores, batch_targets in zip(scores, targets, strict=True):
        harmonic.update(batch_scores, batch_targets)
    assert values["F1 of the macro averages"] == pytest.approx(harmonic.compute().item(), rel=1e-5)
    assert values["1 - Accuracy / 100"] == pytest.approx(1 - accuracy_score(y, predicted))
    assert values["Macro Precision > Macro Recall"] in (0.0, 1.0)


def test_classwise_report_matches_sklearns(
    labelled: tuple[np.ndarray, np.ndarray, list[torch.Tensor], list[torch.Tensor]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    y, predicted, _, _ = labelled
    report = classwise_report.main()
    expected = classification_report(y, predicted, output_dict=True)
    for index, name in enumerate(classwise_report.NAMES):
        for column, key in (("precision", "precision"), ("recall", "recall"), ("f1", "f1-score")):
            assert report[column][name] == pytest.approx(expected[str(index)][key])
    out = capsys.readouterr().out
    assert "Precision[eight]: " in out
    assert "Cohen's kappa: " in out


def test_bootstrap_interval_surrounds_the_accuracy(
    labelled: tuple[np.ndarray, np.ndarray, list[torch.Tensor], list[torch.Tensor]],
) -> None:
    y, predicted, _, _ = labelled
    results = bootstrap_interval.main(num_bootstraps=100)
    accuracy = accuracy_score(y, predicted)
    result = results["accuracy"]
    assert len(result.raw) == 100
    low, high = result.quantiles.values()
    assert low < 100 * accuracy < high
    # The bootstrap spread of an accuracy over n items is the binomial one.
    binomial = math.sqrt(accuracy * (1 - accuracy) / len(y))
    assert result.std / 100 == pytest.approx(binomial, rel=0.25)
    low, high = results["macro F1"].quantiles.values()
    assert low < f1_score(y, predicted, average="macro") < high
