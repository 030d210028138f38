"""Regression metrics: MAE, MSE, RMSE, R² and the explained variance, as scikit-learn's.

Each takes a :class:`~burnish.adaptor.RegressionInput` (fed by
:class:`~burnish.output.RegressionOutput`): outputs and targets of the same shape, ``(N,)`` or
``(N, D)`` for ``D`` outputs. Every value is computed from per-output sums over the items (see
:mod:`burnish.functional.regression`), so an epoch value is that of all its items at once,
never a mean of batch values, and a batch value is that of the batch's items.

``multioutput`` averages the outputs as scikit-learn's: ``uniform_average``,
``variance_weighted`` (R² and explained variance) or ``raw_values``, whose texts list every
output's value and whose numeric value (logged, plotted, compared by strategies) is their mean.
R² and the explained variance follow scikit-learn's ``force_finite`` (default true): constant
targets score 1 when predicted perfectly and 0 otherwise, rather than NaN or -inf; R² of fewer
than two items is NaN (n/a), as scikit-learn's.

Outputs and targets must be finite: a NaN or infinite value is reported as an error at the next
read of the metric, without a host read during the update; shapes and dtypes are checked now.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from burnish.adaptor import RegressionInput
from burnish.functional.regression import (
    Multioutput,
    average_outputs,
    check_multioutput,
    explained_variance_values,
    mae_values,
    mse_values,
    r2_values,
    rmse_values,
)
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock
from burnish.metric.entry import BlockResult, FormatOptions
from burnish.metric.regression_state import Evaluate, RegressionState, regression_steps
from burnish.metric.state import NumericStateMetric

__all__ = [
    "ExplainedVarianceMetric",
    "MeanAbsoluteErrorMetric",
    "MeanSquaredErrorMetric",
    "R2ScoreMetric",
    "RootMeanSquaredErrorMetric",
]

ErrorAverage = Literal["uniform_average", "raw_values"]


@dataclass(frozen=True, slots=True)
class _Errors:
    """An error metric's evaluation: per-output values, averaged uniformly."""

    values_of: Callable[[torch.Tensor], torch.Tensor]
    multioutput: Multioutput

    def __call__(
        self, sums: torch.Tensor, low: torch.Tensor | None, high: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        values = self.values_of(sums)
        return values, average_outputs(values, self.multioutput)


@dataclass(frozen=True, slots=True)
class _Fractions:
    """R²'s or the explained variance's evaluation, from sums and extremes."""

    multioutput: Multioutput
    force_finite: bool
    explained: bool

    def __call__(
        self, sums: torch.Tensor, low: torch.Tensor | None, high: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if low is None or high is None:
            raise ValueError("R2 and the explained variance need the extremes of their items")
        scores = explained_variance_values if self.explained else r2_values
        values, weights = scores(sums, low, high, self.force_finite)
        return values, average_outputs(values, self.multioutput, weights)


class _RegressionMetric(BlockUpdateMixin[RegressionInput], NumericStateMetric[RegressionState]):
    """What the regression metrics share: the input, its checks and the block update."""

    input_type = RegressionInput

    def __init__(
        self, name: str, evaluate: Evaluate, multioutput: str, *, extremes: bool, mean: bool
    ) -> None:
        self.name = name
        self.multioutput = multioutput
        self._state = RegressionState(
            FormatOptions(name).precision(4),
            evaluate,
            extremes=extremes,
            show_outputs=multioutput == "raw_values",
            mean_of_items=mean,
        )

    def update_block(
        self, block: InputBlock[RegressionInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        state = self._state
        return state.update_steps(regression_steps(self.name, block, state.outputs_seen))


class _ErrorMetric(_RegressionMetric):
    higher_is_better = False

    def __init__(
        self,
        name: str,
        values_of: Callable[[torch.Tensor], torch.Tensor],
        multioutput: ErrorAverage,
        *,
        mean: bool,
    ) -> None:
        check_multioutput(name, multioutput, weighted=False)
        evaluate = _Errors(values_of, multioutput)
        super().__init__(name, evaluate, multioutput, extremes=False, mean=mean)


class MeanAbsoluteErrorMetric(_ErrorMetric):
    """The mean absolute error, ``mean(|targets - outputs|)`` (scikit-learn's
    ``mean_absolute_error``); a mean over items, logged as one."""

    def __init__(self, multioutput: ErrorAverage = "uniform_average", name: str = "MAE") -> None:
        super().__init__(name, mae_values, multioutput, mean=True)


class MeanSquaredErrorMetric(_ErrorMetric):
    """The mean squared error (scikit-learn's ``mean_squared_error``); a mean over items,
    logged as one."""

    def __init__(self, multioutput: ErrorAverage = "uniform_average", name: str = "MSE") -> None:
        super().__init__(name, mse_values, multioutput, mean=True)


class RootMeanSquaredErrorMetric(_ErrorMetric):
    """The root mean squared error (scikit-learn's ``root_mean_squared_error``): with several
    outputs, the mean of each output's root, not the root of the mean."""

    def __init__(self, multioutput: ErrorAverage = "uniform_average", name: str = "RMSE") -> None:
        super().__init__(name, rmse_values, multioutput, mean=False)


class _FractionMetric(_RegressionMetric):
    higher_is_better = True

    def __init__(
        self, name: str, multioutput: Multioutput, force_finite: bool, *, explained: bool
    ) -> None:
        check_multioutput(name, multioutput, weighted=True)
        self.force_finite = force_finite
        evaluate = _Fractions(multioutput, force_finite, explained)
        super().__init__(name, evaluate, multioutput, extremes=True, mean=False)


class R2ScoreMetric(_FractionMetric):
    """The coefficient of determination R², ``1 - SS_res / SS_tot`` (scikit-learn's
    ``r2_score``, ``force_finite`` included); NaN (n/a) under two items."""

    def __init__(
        self,
        multioutput: Multioutput = "uniform_average",
        force_finite: bool = True,
        name: str = "R2",
    ) -> None:
        super().__init__(name, multioutput, force_finite, explained=False)


class ExplainedVarianceMetric(_FractionMetric):
    """The explained variance, ``1 - Var(targets - outputs) / Var(targets)`` (scikit-learn's
    ``explained_variance_score``, ``force_finite`` included): R² blind to a constant offset."""

    def __init__(
        self,
        multioutput: Multioutput = "uniform_average",
        force_finite: bool = True,
        name: str = "Explained Variance",
    ) -> None:
        super().__init__(name, multioutput, force_finite, explained=True)
