"""Every name the package exports exists (``from burnish import *`` works), and every name
``burnish.functional`` exports imports and is a function."""

from __future__ import annotations

import importlib

import burnish


def test_every_exported_name_exists() -> None:
    missing = [name for name in burnish.__all__ if not hasattr(burnish, name)]
    assert missing == []


def test_every_functional_name_imports_and_is_callable() -> None:
    functional = importlib.import_module("burnish.functional")
    found = {name: getattr(functional, name, None) for name in functional.__all__}
    assert [name for name, value in found.items() if not callable(value)] == []


def test_functional_exports_every_metric_family() -> None:
    functional = importlib.import_module("burnish.functional")
    for name in (
        "mean_absolute_error",
        "mean_squared_error",
        "root_mean_squared_error",
        "r2_score",
        "explained_variance",
        "matthews_corrcoef",
        "exact_matches",
        "edit_distances",
        "error_rate",
        "bleu_score",
        "rouge_fmeasures",
        "squared_errors",
        "psnr_from_mse",
        "ssim_per_image",
        "dice_score",
    ):
        assert name in functional.__all__, name
