"""Regression metrics as stateless tensor functions, computed as scikit-learn defines them.

Every metric here follows from per-output sums over the items (:func:`regression_terms`,
rows :data:`COUNT` to :data:`ABS_ERROR`) and, for R² and the explained variance, the extremes
of the targets and of the residuals: sums add over any split of the items into batches, so a
metric's state keeps them and nothing else. Residuals are ``targets - outputs``.

Constant targets (or residuals) are told exactly, by their extremes, not by a variance computed
from sums that rounding leaves a hair above zero; scikit-learn's ``force_finite`` rule then
applies: a score whose variance of targets is zero is 1 for perfect predictions and 0
otherwise (``force_finite=False``: NaN or -inf, as ``1 - numerator / 0`` gives).

Multiple outputs ``(N, D)`` average as scikit-learn's ``multioutput`` says: ``uniform_average``
(the mean over outputs), ``variance_weighted`` (weighted by each output's variance of targets;
R² and the explained variance only) and ``raw_values`` (one value per output).
"""

from __future__ import annotations

from typing import Literal, get_args

import torch

__all__ = [
    "ABS_ERROR",
    "COUNT",
    "ERROR",
    "SQUARED_ERROR",
    "SQUARED_TARGET",
    "TARGET",
    "Multioutput",
    "average_outputs",
    "check_multioutput",
    "explained_variance",
    "explained_variance_values",
    "mae_values",
    "mean_absolute_error",
    "mean_squared_error",
    "mse_values",
    "r2_score",
    "r2_values",
    "regression_sums",
    "regression_terms",
    "rmse_values",
    "root_mean_squared_error",
]

Multioutput = Literal["uniform_average", "variance_weighted", "raw_values"]

# The rows of regression_terms: the items counted, targets, residuals (the two compared for
# constancy, side by side), then squares and absolute residuals.
COUNT, TARGET, ERROR, SQUARED_TARGET, SQUARED_ERROR, ABS_ERROR = range(6)
TERMS = 6


def check_multioutput(metric: str, multioutput: str, *, weighted: bool) -> None:
    """Raise ``ValueError`` naming ``metric`` for a ``multioutput`` it does not take
    (``variance_weighted`` only where ``weighted``, as in scikit-learn)."""
    allowed = get_args(Multioutput) if weighted else ("uniform_average", "raw_values")
    if multioutput not in allowed:
        raise ValueError(
            f"{metric}: expected multioutput among {allowed}, received {multioutput!r}"
        )


def regression_terms(
    outputs: torch.Tensor, targets: torch.Tensor, dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    """Each item's terms ``(N, 6, D)`` in ``dtype``: 1, y, e, y², e², |e| per output, with
    ``e = y - output``; ``(N,)`` inputs have ``D = 1``."""
    y, predicted = targets.detach().to(dtype), outputs.detach().to(dtype)
    if y.ndim == 1:
        y, predicted = y.unsqueeze(1), predicted.unsqueeze(1)
    e = y - predicted
    return torch.stack((torch.ones_like(y), y, e, y * y, e * e, e.abs()), dim=1)


def regression_sums(
    outputs: torch.Tensor, targets: torch.Tensor, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The summed terms ``(6, D)`` of :func:`regression_terms`, and the lowest and highest
    target and residual ``(2, D)`` (``inf`` and ``-inf`` for no items)."""
    terms = regression_terms(outputs, targets, dtype)
    values = terms[:, TARGET : ERROR + 1]
    if values.shape[0] == 0:
        return (
            terms.sum(0),
            values.new_full(values.shape[1:], torch.inf),
            -values.new_full(values.shape[1:], torch.inf),
        )
    return terms.sum(0), values.amin(0), values.amax(0)


def mae_values(sums: torch.Tensor) -> torch.Tensor:
    """Per-output mean absolute errors ``(..., D)`` from sums ``(..., 6, D)``."""
    return sums[..., ABS_ERROR, :] / sums[..., COUNT, :]


def mse_values(sums: torch.Tensor) -> torch.Tensor:
    """Per-output mean squared errors ``(..., D)`` from sums ``(..., 6, D)``."""
    return sums[..., SQUARED_ERROR, :] / sums[..., COUNT, :]


def rmse_values(sums: torch.Tensor) -> torch.Tensor:
    """Per-output root mean squared errors ``(..., D)`` from sums ``(..., 6, D)``."""
    return mse_values(sums).sqrt()


def _spread(sums: torch.Tensor, row: int, squares: int) -> torch.Tensor:
    """``n`` times the variance of ``row``: its sum of squares about its mean, never below 0."""
    count = sums[..., COUNT, :]
    return (sums[..., squares, :] - sums[..., row, :].square() / count).clamp_min(0.0)


def _fraction(
    numerator: torch.Tensor,
    denominator: torch.Tensor,
    numerator_zero: torch.Tensor,
    denominator_zero: torch.Tensor,
    force_finite: bool,
) -> torch.Tensor:
    """``1 - numerator / denominator``, with scikit-learn's ``force_finite`` rule."""
    numerator = numerator.masked_fill(numerator_zero, 0.0)
    denominator = denominator.masked_fill(denominator_zero, 0.0)
    scores = 1.0 - numerator / denominator
    if not force_finite:
        return scores
    finite = torch.where(denominator_zero, torch.zeros_like(scores), scores)
    return torch.where(numerator_zero, torch.ones_like(scores), finite)


def r2_values(
    sums: torch.Tensor, low: torch.Tensor, high: torch.Tensor, force_finite: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output R² ``(..., D)`` from sums ``(..., 6, D)`` and extremes ``(..., 2, D)``, and
    each output's weight for ``variance_weighted`` (its targets' spread, 0 when constant).

    NaN under two items, as scikit-learn's ``r2_score``."""
    residual = sums[..., SQUARED_ERROR, :]
    constant = low[..., 0, :] == high[..., 0, :]
    spread = _spread(sums, TARGET, SQUARED_TARGET).masked_fill(constant, 0.0)
    scores = _fraction(residual, spread, residual == 0, constant, force_finite)
    scores = scores.masked_fill(sums[..., COUNT, :] < 2, torch.nan)
    return scores, spread


def explained_variance_values(
    sums: torch.Tensor, low: torch.Tensor, high: torch.Tensor, force_finite: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output explained variance ``(..., D)`` and ``variance_weighted`` weights, as
    :func:`r2_values` (defined from one item on, as scikit-learn's score)."""
    constant = low[..., 0, :] == high[..., 0, :]
    spread = _spread(sums, TARGET, SQUARED_TARGET).masked_fill(constant, 0.0)
    residual = _spread(sums, ERROR, SQUARED_ERROR)
    residual_constant = low[..., 1, :] == high[..., 1, :]
    scores = _fraction(residual, spread, residual_constant, constant, force_finite)
    return scores, spread


def average_outputs(
    values: torch.Tensor, multioutput: Multioutput, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """The value ``(...)`` of per-output ``values`` ``(..., D)``: their mean (for
    ``raw_values`` too: the number that stands for them), or weighted by ``weights`` for
    ``variance_weighted``, uniform when every weight is 0 (as scikit-learn)."""
    mean = values.mean(-1)
    if multioutput != "variance_weighted" or weights is None:
        return mean
    total = weights.sum(-1)
    # The weighted sum as NumPy's average forms it: a NaN or infinite score of weight 0 counts.
    weighted = (values * weights).sum(-1) / total
    return torch.where(total > 0, weighted, mean)


def _result(
    values: torch.Tensor, multioutput: Multioutput, weights: torch.Tensor | None
) -> torch.Tensor:
    return values if multioutput == "raw_values" else average_outputs(values, multioutput, weights)


def mean_absolute_error(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    multioutput: Literal["uniform_average", "raw_values"] = "uniform_average",
) -> torch.Tensor:
    """The mean absolute error (float64): 0-d, or ``(D,)`` for ``raw_values``."""
    check_multioutput("mean_absolute_error", multioutput, weighted=False)
    return _result(mae_values(regression_sums(outputs, targets)[0]), multioutput, None)


def mean_squared_error(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    multioutput: Literal["uniform_average", "raw_values"] = "uniform_average",
) -> torch.Tensor:
    """The mean squared error (float64): 0-d, or ``(D,)`` for ``raw_values``."""
    check_multioutput("mean_squared_error", multioutput, weighted=False)
    return _result(mse_values(regression_sums(outputs, targets)[0]), multioutput, None)


def root_mean_squared_error(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    multioutput: Literal["uniform_average", "raw_values"] = "uniform_average",
) -> torch.Tensor:
    """The root mean squared error of each output (float64), averaged over outputs as
    ``multioutput`` says (the mean of per-output roots, as scikit-learn)."""
    check_multioutput("root_mean_squared_error", multioutput, weighted=False)
    return _result(rmse_values(regression_sums(outputs, targets)[0]), multioutput, None)


def r2_score(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    multioutput: Multioutput = "uniform_average",
    force_finite: bool = True,
) -> torch.Tensor:
    """The coefficient of determination R² (float64), as scikit-learn's ``r2_score``."""
    check_multioutput("r2_score", multioutput, weighted=True)
    values, weights = r2_values(*regression_sums(outputs, targets), force_finite)
    return _result(values, multioutput, weights)


def explained_variance(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    multioutput: Multioutput = "uniform_average",
    force_finite: bool = True,
) -> torch.Tensor:
    """The explained variance (float64), as scikit-learn's ``explained_variance_score``."""
    check_multioutput("explained_variance", multioutput, weighted=True)
    values, weights = explained_variance_values(*regression_sums(outputs, targets), force_finite)
    return _result(values, multioutput, weights)
