"""PSNR, SSIM and Dice give TorchMetrics' values over any epoch, however its steps are updated.

TorchMetrics (``PeakSignalNoiseRatio``, ``StructuralSimilarityIndexMeasure``, ``DiceScore``) is
the reference, fed float64 copies of the images where its float32 arithmetic would be the
larger error.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast
from unittest import mock

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchmetrics.image import (
    MultiScaleStructuralSimilarityIndexMeasure,
    PeakSignalNoiseRatio,
    StructuralSimilarityIndexMeasure,
)
from torchmetrics.segmentation import DiceScore

from burnish import (
    DiceInput,
    DiceMetric,
    ImageInput,
    MetricCollection,
    MetricMetadata,
    MultiScaleSsimMetric,
    PsnrMetric,
    RegressionOutput,
    SegmentationOutput,
    SsimMetric,
)
from burnish.distributed import synced
from burnish.metric import vision
from burnish.metric.block import InputBlock
from burnish.metric.entry import BlockEntries, BlockResult, NumericEntry
from burnish.metric.host import to_host, transfer_count
from tests.distributed_spawn import results, spawn

META = MetricMetadata.fake()
Images = list[tuple[torch.Tensor, torch.Tensor]]


@st.composite
def image_epochs(draw: st.DrawFn, min_side: int = 1, max_side: int = 12) -> Images:
    """Steps of predicted and target images ``(N, C, H, W)`` in ``[0, 1]``, some constant,
    some predictions equal to their targets."""
    channels = draw(st.integers(1, 3))
    height, width = draw(st.integers(min_side, max_side)), draw(st.integers(min_side, max_side))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    steps = []
    for _ in range(draw(st.integers(1, 5))):
        size = draw(st.integers(1, 5))
        shape = (size, channels, height, width)
        outputs, targets = (
            torch.rand(shape, generator=generator),
            torch.rand(shape, generator=generator),
        )
        kind = draw(st.sampled_from(["random", "random", "noisy", "constant", "equal"]))
        if kind == "noisy":
            outputs = (targets + 0.05 * torch.randn(shape, generator=generator)).clamp(0, 1)
        elif kind == "constant":
            outputs = torch.full(shape, draw(st.floats(0, 1, width=32)))
            targets = torch.full(shape, draw(st.floats(0, 1, width=32)))
        elif kind == "equal":
            outputs = targets.clone()
        steps.append((outputs, targets))
    return steps


def _values(metric: Any) -> float:
    return float(metric.running_value().value)


def _reference(reference: Any, steps: Images) -> float:
    for outputs, targets in steps:
        reference.update(outputs.double(), targets.double())
    return float(reference.compute())


def _update_all(metric: Any, steps: Images) -> None:
    for outputs, targets in steps:
        metric.update(ImageInput(outputs, targets), META)


def _close(got: float, want: float, tolerance: float) -> bool:
    if math.isnan(want) or math.isinf(want):
        return got == want or (math.isnan(got) and math.isnan(want))
    return abs(got - want) <= tolerance * max(1.0, abs(want))


# PSNR --------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(image_epochs(), st.sampled_from([1.0, 2.0, (0.0, 1.0), (0.25, 0.75)]), st.booleans())
def test_psnr_matches_torchmetrics(
    steps: Images, data_range: float | tuple[float, float], per_image: bool
) -> None:
    metric = PsnrMetric(data_range, per_image=per_image)
    _update_all(metric, steps)
    dim = (1, 2, 3) if per_image else None
    want = _reference(PeakSignalNoiseRatio(data_range=data_range, dim=dim), steps)
    assert _close(_values(metric), want, 1e-5)


def test_psnr_is_from_the_epochs_summed_error_not_a_mean_of_batches() -> None:
    metric = PsnrMetric(1.0)
    zeros = torch.zeros(1, 1, 2, 2)
    metric.update(ImageInput(zeros + 0.1, zeros), META)  # MSE 0.01: 20 dB
    metric.update(ImageInput(zeros + 0.01, zeros), META)  # MSE 0.0001: 40 dB
    assert metric.value() == pytest.approx(40.0)
    assert _values(metric) == pytest.approx(10 * math.log10(1 / 0.00505))
    entry = metric.compute()
    assert entry.formatted == "22.97 dB"
    assert NumericEntry.deserialize(entry.serialized).kind == "final"


def test_psnr_of_an_image_equal_to_its_target_is_infinite() -> None:
    metric = PsnrMetric(1.0)
    image = torch.rand(2, 3, 4, 4)
    entry = metric.update(ImageInput(image, image.clone()), META)
    assert entry.formatted == "epoch inf dB - batch inf dB"
    assert metric.compute().formatted == "inf dB"
    want = PeakSignalNoiseRatio(data_range=1.0)
    want.update(image, image)
    assert math.isinf(float(want.compute()))


def test_psnr_requires_a_valid_data_range() -> None:
    for bad in (0.0, -1.0, math.inf, (1.0, 0.0), (0.0, math.nan)):
        with pytest.raises(ValueError, match=r"PSNR: expected data_range"):
            PsnrMetric(bad)


def test_psnr_reports_targets_wider_than_the_data_range_at_the_next_read() -> None:
    metric = PsnrMetric(1.0)
    entry = metric.update(ImageInput(torch.rand(2, 1, 4, 4) * 255, torch.rand(2, 1, 4, 4) * 255))
    with pytest.raises(ValueError, match=r"PSNR: expected targets spanning at most data_range=1"):
        _ = entry.formatted
    with pytest.raises(ValueError, match="spanning at most"):
        metric.compute()
    # Clamped to (low, high), any values are fine.
    clamped = PsnrMetric((0.0, 1.0))
    clamped.update(ImageInput(torch.rand(2, 1, 4, 4) * 255, torch.rand(2, 1, 4, 4) * 255))
    assert math.isfinite(_values(clamped))


@pytest.mark.parametrize("metric", [PsnrMetric(1.0), SsimMetric(1.0)], ids=["psnr", "ssim"])
def test_non_finite_images_are_reported_at_the_next_read(metric: Any) -> None:
    outputs = torch.rand(2, 1, 12, 12)
    outputs[0, 0, 0, 0] = math.nan
    metric.update(ImageInput(outputs, torch.rand(2, 1, 12, 12)))
    with pytest.raises(ValueError, match=rf"{metric.name}: expected outputs that are finite"):
        metric.compute()
    metric.clear()
    targets = torch.rand(2, 1, 12, 12)
    targets[1, 0, 3, 3] = math.inf
    metric.update(ImageInput(torch.rand(2, 1, 12, 12), targets))
    with pytest.raises(ValueError, match=rf"{metric.name}: expected targets"):
        metric.compute()


def test_psnr_checks_its_outputs_through_their_errors_reading_only_the_targets() -> None:
    outputs, targets = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    with mock.patch("torch.aminmax", wraps=torch.aminmax) as aminmax:
        PsnrMetric(1.0).update(ImageInput(outputs, targets))
    assert [call.args[0] is targets for call in aminmax.call_args_list] == [True]
    metric = PsnrMetric(1.0)
    outputs[1, 0, 0, 0] = math.inf
    metric.update(ImageInput(outputs, targets))
    with pytest.raises(
        ValueError, match="PSNR: expected outputs that are finite, received outputs whose squared"
    ):
        metric.compute()


@pytest.mark.parametrize("make", [lambda: PsnrMetric(1.0), lambda: SsimMetric(1.0)])
def test_wrong_images_raise_naming_the_metric(make: Callable[[], Any]) -> None:
    metric = make()
    name = metric.name
    cases: list[tuple[torch.Tensor, torch.Tensor, type[Exception], str]] = [
        (torch.rand(2, 12, 12), torch.rand(2, 12, 12), ValueError, r"\(N, C, H, W\)"),
        (torch.rand(2, 1, 12, 12), torch.rand(2, 1, 12, 11), ValueError, "same shape"),
        (torch.rand(2, 1, 12, 12), torch.ones(2, 1, 12, 12).long(), TypeError, "floating"),
    ]
    for outputs, targets, error, message in cases:
        with pytest.raises(error, match=rf"{name}: expected .*{message}.*received"):
            metric.update(ImageInput(outputs, targets))
    assert math.isnan(_values(metric))


# SSIM --------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    image_epochs(min_side=6),
    st.sampled_from([None, 1.0, 2.0, (0.0, 1.0), (0.2, 0.8)]),
    st.sampled_from([(1.5, True), (0.8, True), (1.0, False)]),
    st.sampled_from([(0.01, 0.03), (0.05, 0.1)]),
)
def test_ssim_matches_torchmetrics(
    steps: Images,
    data_range: float | tuple[float, float] | None,
    window: tuple[float, bool],
    constants: tuple[float, float],
) -> None:
    sigma, gaussian = window
    side = min(steps[0][0].shape[2:])
    kernel = None if gaussian else 5
    metric = SsimMetric(
        data_range,
        sigma=sigma,
        kernel_size=kernel,
        gaussian=gaussian,
        k1=constants[0],
        k2=constants[1],
    )
    if metric.kernel_size // 2 >= side:
        return  # too small for the window: see test_ssim_rejects_images_smaller_than_its_window
    _update_all(metric, steps)
    flat = [all(float(image.max() - image.min()) == 0 for image in step) for step in steps]
    if data_range is None and any(flat):
        # A step of flat images has no range of its own: 0/0, where TorchMetrics gives 0/0 or
        # its rounding error's quotient.
        assert math.isnan(_values(metric))
        return
    reference = StructuralSimilarityIndexMeasure(
        gaussian_kernel=gaussian,
        sigma=sigma,
        kernel_size=kernel or 11,
        data_range=data_range,
        k1=constants[0],
        k2=constants[1],
    )
    assert _close(_values(metric), _reference(reference, steps), 1e-5)


def test_ssim_on_float32_equals_torchmetrics_on_float32_within_1e_5() -> None:
    generator = torch.Generator().manual_seed(0)
    metric, reference = SsimMetric(1.0), StructuralSimilarityIndexMeasure(data_range=1.0)
    for size in (4, 1, 3):
        outputs = torch.rand(size, 3, 32, 32, generator=generator)
        targets = (outputs + 0.1 * torch.randn(size, 3, 32, 32, generator=generator)).clamp(0, 1)
        metric.update(ImageInput(outputs, targets))
        reference.update(outputs, targets)
    assert _values(metric) == pytest.approx(float(reference.compute()), abs=1e-5)


def test_ssim_window_defaults_follow_torchmetrics() -> None:
    assert SsimMetric().kernel_size == 11
    assert SsimMetric(sigma=0.8).kernel_size == 7
    assert SsimMetric(gaussian=False).kernel_size == 11
    image = torch.rand(1, 1, 16, 16)
    metric = SsimMetric(1.0)
    metric.update(ImageInput(image, image.clone()))
    assert metric.compute().formatted == "1.0000"


def test_ssim_rejects_images_smaller_than_its_window() -> None:
    metric = SsimMetric(1.0)
    with pytest.raises(ValueError, match=r"SSIM: expected images of at least 6x6 pixels"):
        metric.update(ImageInput(torch.rand(1, 1, 5, 8), torch.rand(1, 1, 5, 8)))
    small = SsimMetric(1.0, sigma=0.8)  # a 7-wide window fits 4x4 images
    small.update(ImageInput(torch.rand(1, 1, 4, 4), torch.rand(1, 1, 4, 4)))


@pytest.mark.parametrize(
    "options",
    [{"sigma": 0.0}, {"kernel_size": 4}, {"kernel_size": 0}, {"k1": -0.1}, {"data_range": 0}],
)
def test_ssim_rejects_impossible_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"SSIM: expected"):
        SsimMetric(**options)


def test_ssim_without_data_range_takes_each_steps_own() -> None:
    # A step's range decides its constants: the same images score differently beside others.
    bright = torch.rand(2, 1, 12, 12)
    dark = bright * 0.1
    metric = SsimMetric()
    reference = StructuralSimilarityIndexMeasure()
    for outputs, targets in ((bright, bright.flip(3)), (dark, dark.flip(2))):
        metric.update(ImageInput(outputs, targets))
        reference.update(outputs.double(), targets.double())
    assert _values(metric) == pytest.approx(float(reference.compute()), abs=1e-6)


# MS-SSIM -----------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    image_epochs(min_side=28, max_side=34),
    st.sampled_from([None, 1.0, (0.0, 1.0)]),
    st.sampled_from(["relu", "simple", None]),
)
def test_ms_ssim_matches_torchmetrics(
    steps: Images, data_range: float | tuple[float, float] | None, normalize: str | None
) -> None:
    # Three scales and a 7-wide window: TorchMetrics' size rule then takes 28-pixel images.
    betas = (0.3, 0.4, 0.3)
    metric = MultiScaleSsimMetric(
        data_range, betas=betas, normalize=cast(Any, normalize), sigma=0.8
    )
    _update_all(metric, steps)
    flat = [all(float(image.max() - image.min()) == 0 for image in step) for step in steps]
    if data_range is None and any(flat):
        assert math.isnan(_values(metric))  # as for SSIM: a flat step has no range
        return
    reference = MultiScaleStructuralSimilarityIndexMeasure(
        data_range=data_range, betas=betas, normalize=normalize, sigma=0.8, kernel_size=7
    )
    assert _close(_values(metric), _reference(reference, steps), 1e-5)


def test_ms_ssim_with_torchmetrics_defaults() -> None:
    generator = torch.Generator().manual_seed(0)
    metric = MultiScaleSsimMetric(1.0)
    reference = MultiScaleStructuralSimilarityIndexMeasure(data_range=1.0)
    for size in (2, 1):
        outputs = torch.rand(size, 3, 176, 180, generator=generator)
        targets = (outputs + 0.2 * torch.randn(outputs.shape, generator=generator)).clamp(0, 1)
        metric.update(ImageInput(outputs, targets))
        reference.update(outputs.double(), targets.double())
    assert _values(metric) == pytest.approx(float(reference.compute()), abs=1e-6)
    assert metric.min_size == 176
    with pytest.raises(ValueError, match=r"MS-SSIM: expected images of at least 176x176"):
        metric.update(ImageInput(torch.rand(1, 1, 175, 200), torch.rand(1, 1, 175, 200)))


@pytest.mark.parametrize(
    "options", [{"betas": ()}, {"betas": (0.5, math.nan)}, {"normalize": "sigmoid"}]
)
def test_ms_ssim_rejects_impossible_options(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"MS-SSIM: expected"):
        MultiScaleSsimMetric(**options)


# Dice --------------------------------------------------------------------------------------

Masks = list[tuple[torch.Tensor, torch.Tensor]]


@st.composite
def mask_epochs(draw: st.DrawFn, binary: bool) -> tuple[int, Masks]:
    classes = 2 if binary else draw(st.integers(2, 5))
    height, width = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    steps = []
    for _ in range(draw(st.integers(1, 5))):
        size = draw(st.integers(1, 4))
        # Few target classes at times, so that some classes are absent from a whole epoch.
        present = draw(st.integers(1, classes))
        targets = torch.randint(0, present, (size, height, width), generator=generator)
        if binary:
            scores = torch.rand(size, height, width, generator=generator)
        else:
            scores = torch.randn(size, classes, height, width, generator=generator)
            if draw(st.booleans()):
                scores = scores * torch.rand(1, classes, 1, 1, generator=generator)
        steps.append((scores, targets))
    return classes, steps


def _dice_reference(classes: int, steps: Masks, **options: Any) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchMetrics warns of its defaults' change
        reference = DiceScore(
            num_classes=classes, aggregation_level="global", input_format="index", **options
        )
    for scores, targets in steps:
        predicted = (scores > 0.5).long() if scores.ndim == 3 else scores.argmax(1)
        reference.update(predicted, targets)
    return reference.compute().double()


@settings(max_examples=60, deadline=None)
@given(mask_epochs(binary=False), st.sampled_from(["micro", "macro", "none"]), st.booleans())
def test_multiclass_dice_matches_torchmetrics(
    epoch: tuple[int, Masks], average: str, include_background: bool
) -> None:
    classes, steps = epoch
    metric = DiceMetric.multiclass(cast(Any, average), include_background=include_background)
    collection = MetricCollection([metric])
    for scores, targets in steps:
        collection.update(SegmentationOutput(torch.zeros(()), scores, targets), META)
    want = _dice_reference(classes, steps, average=average, include_background=include_background)
    if average == "none":
        got = torch.tensor(metric.per_class(), dtype=torch.float64)
        assert torch.allclose(got, want, atol=1e-6, equal_nan=True)
        want = want.nanmean()
    assert _close(_values(metric), float(want), 1e-6)


@settings(max_examples=40, deadline=None)
@given(mask_epochs(binary=True))
def test_binary_dice_is_the_foregrounds_as_torchmetrics_gives(epoch: tuple[int, Masks]) -> None:
    classes, steps = epoch
    metric = DiceMetric.binary()
    for scores, targets in steps:
        metric.update(DiceInput(scores, targets.bool() if targets.sum() % 2 else targets))
    want = _dice_reference(classes, steps, average="micro", include_background=False)
    assert _close(_values(metric), float(want), 1e-6)


def test_binary_dice_takes_logits_with_sigmoid() -> None:
    logits = torch.randn(3, 5, 5)
    targets = torch.randint(0, 2, (3, 5, 5))
    with_logits, with_probabilities = DiceMetric.binary(sigmoid=True), DiceMetric.binary()
    with_logits.update(DiceInput(logits, targets))
    with_probabilities.update(DiceInput(logits.sigmoid(), targets))
    assert _values(with_logits) == _values(with_probabilities)
    without = DiceMetric.binary()
    without.update(DiceInput(logits * 10, targets))
    with pytest.raises(ValueError, match=r"Dice: expected scores within \[0, 1\].*sigmoid=True"):
        without.compute()


def test_dice_of_an_empty_epoch_and_of_absent_classes() -> None:
    metric = DiceMetric.multiclass()
    assert metric.compute().formatted == "n/a"
    per_class = DiceMetric.multiclass("none")
    scores = torch.zeros(1, 3, 2, 2)  # every pixel predicted class 0, as every target
    per_class.update(DiceInput(scores, torch.zeros(1, 2, 2, dtype=torch.long)))
    assert per_class.compute().formatted == "1.0000 mean [0: 1.0000, 1: n/a, 2: n/a]"


def test_dice_input_errors_name_the_metric() -> None:
    metric = DiceMetric.multiclass()
    scores, targets = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    with pytest.raises(ValueError, match=r"Macro Dice: expected scores of shape \(N, num_classes"):
        metric.update(DiceInput(scores[:, 0], targets))
    with pytest.raises(ValueError, match=r"Macro Dice: expected targets of shape \(2, 4, 4\)"):
        metric.update(DiceInput(scores, targets[:, :3]))
    with pytest.raises(TypeError, match="Macro Dice: expected targets as integer"):
        metric.update(DiceInput(scores, targets.float()))
    metric.update(DiceInput(scores, targets))
    with pytest.raises(ValueError, match="expected scores with 3 classes as in earlier batches"):
        metric.update(DiceInput(torch.randn(2, 4, 4, 4), targets))
    metric.update(DiceInput(scores, targets + 1))
    with pytest.raises(ValueError, match=r"Macro Dice: expected targets within \[0, 2\]"):
        metric.compute()
    with pytest.raises(ValueError, match="at least 2 classes without the background"):
        DiceMetric.multiclass(include_background=False).update(
            DiceInput(torch.randn(2, 1, 4, 4), torch.zeros(2, 4, 4, dtype=torch.long))
        )


# Every metric: blocks, no device reads, checkpoints, processes -----------------------------


def _image_metrics() -> list[Any]:
    return [
        PsnrMetric(1.0),
        PsnrMetric((0.0, 1.0), per_image=True, name="PSNR per image"),
        SsimMetric(1.0),
        SsimMetric(name="SSIM own range"),
        MultiScaleSsimMetric(betas=(0.5, 0.5), sigma=0.8, name="MS-SSIM own range"),
    ]


def _dice_metrics() -> list[Any]:
    return [DiceMetric.multiclass(), DiceMetric.multiclass("micro", include_background=False)]


def _step_numbers(result: BlockResult) -> list[NumericEntry]:
    if isinstance(result, BlockEntries):
        numbers = result.reader.numbers(to_host(list(result.numbers_of)))
        return [numbers.entry(step) for step in range(result.steps)]
    return [cast(NumericEntry, entry.numeric) for entry in result]


def _check_blocks(
    make: Callable[[], list[Any]], outputs: Sequence[object], cuts: list[int]
) -> None:
    stepwise, blocked = make(), make()
    expected = [[metric.update(output, META) for metric in stepwise] for output in outputs]
    for start, end in zip([0, *cuts], [*cuts, len(outputs)], strict=True):
        if start == end:
            continue
        for index, metric in enumerate(blocked):
            block = InputBlock(outputs[start:end], metric.input_type)
            got = _step_numbers(metric.update_block(block, [META] * (end - start)))
            for step, entry in enumerate(got):
                want = expected[start + step][index].numeric
                assert (entry.count, entry.kind) == (want.count, want.kind)
                assert entry.value == pytest.approx(want.value, rel=1e-6, abs=1e-9, nan_ok=True)
    for got_metric, want_metric in zip(blocked, stepwise, strict=True):
        got, want = got_metric.running_value(), want_metric.running_value()
        assert got.value == pytest.approx(want.value, rel=1e-6, abs=1e-9, nan_ok=True)


# Steps are joined up to a byte budget: none (each step alone), some, or all of a block's.
JOINS = st.sampled_from([1, 2048, vision.JOIN_BYTES])


@settings(max_examples=30, deadline=None)
@given(image_epochs(min_side=8), st.data(), JOINS)
def test_image_blocks_split_anywhere_equal_steps_one_by_one(
    steps: Images, data: st.DataObject, join_bytes: int
) -> None:
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(steps) - 1)), max_size=3))))
    outputs = [RegressionOutput(torch.zeros(()), outputs, targets) for outputs, targets in steps]
    with mock.patch.object(vision, "JOIN_BYTES", join_bytes):
        _check_blocks(_image_metrics, outputs, cuts)


@settings(max_examples=20, deadline=None)
@given(st.lists(image_epochs(min_side=8), min_size=2, max_size=3), JOINS)
def test_images_of_other_sizes_in_one_epoch(epochs: list[Images], join_bytes: int) -> None:
    steps = [step for epoch in epochs for step in epoch]
    outputs = [RegressionOutput(torch.zeros(()), outputs, targets) for outputs, targets in steps]
    with mock.patch.object(vision, "JOIN_BYTES", join_bytes):
        _check_blocks(_image_metrics, outputs, [len(steps) // 2])
        psnr, ssim = PsnrMetric(1.0), SsimMetric(1.0)
        for metric in (psnr, ssim):
            metric.update_block(InputBlock(outputs, ImageInput), [META] * len(outputs))
    want_psnr = _reference(PeakSignalNoiseRatio(data_range=1.0), steps)
    want_ssim = _reference(StructuralSimilarityIndexMeasure(data_range=1.0), steps)
    assert _close(_values(psnr), want_psnr, 1e-5)
    assert _close(_values(ssim), want_ssim, 1e-5)


@settings(max_examples=30, deadline=None)
@given(mask_epochs(binary=False), st.data())
def test_dice_blocks_split_anywhere_equal_steps_one_by_one(
    epoch: tuple[int, Masks], data: st.DataObject
) -> None:
    _, steps = epoch
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, len(steps) - 1)), max_size=3))))
    outputs = [SegmentationOutput(torch.zeros(()), scores, targets) for scores, targets in steps]
    with mock.patch.object(vision, "JOIN_BYTES", data.draw(JOINS)):
        _check_blocks(_dice_metrics, outputs, cuts)


def _outputs(seed: int = 0) -> tuple[list[RegressionOutput], list[SegmentationOutput]]:
    generator = torch.Generator().manual_seed(seed)
    images = [
        RegressionOutput(
            torch.zeros(()),
            torch.rand(size, 2, 12, 12, generator=generator),
            torch.rand(size, 2, 12, 12, generator=generator),
        )
        for size in (4, 1, 3)
    ]
    masks = [
        SegmentationOutput(
            torch.zeros(()),
            torch.randn(size, 3, 8, 8, generator=generator),
            torch.randint(0, 3, (size, 8, 8), generator=generator),
        )
        for size in (4, 1, 3)
    ]
    return images, masks


def _steps_for(metric: Any, images: list[Any], masks: list[SegmentationOutput]) -> list[Any]:
    if metric.input_type is ImageInput:
        return images
    if metric.task == "binary":
        return [DiceInput(mask.output[:, 1].sigmoid(), mask.targets.clamp(0, 1)) for mask in masks]
    return masks


def _all_updates() -> tuple[list[Any], list[Any]]:
    """Every metric updated step by step, then with a block of the same steps."""
    images, masks = _outputs()
    metrics = [*_image_metrics(), *_dice_metrics(), DiceMetric.binary()]
    entries = []
    for metric in metrics:
        steps = _steps_for(metric, list(images), masks)
        entries += [metric.update(step, META) for step in steps]
        metric.update_block(InputBlock(steps, metric.input_type), [META] * len(steps))
    return metrics, entries


def test_updates_make_no_transfer_until_read() -> None:
    before = transfer_count()
    metrics, entries = _all_updates()
    assert transfer_count() == before
    _ = entries[-1].serialized
    assert transfer_count() == before + 1
    for metric in metrics:
        assert math.isfinite(_values(metric))


@pytest.mark.usefixtures("no_reads")
def test_updates_never_read_a_tensor() -> None:
    _all_updates()


def _through_a_checkpoint(state: dict[str, Any]) -> dict[str, Any]:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    loaded: dict[str, Any] = torch.load(buffer, weights_only=True)
    return loaded


@pytest.mark.parametrize("index", range(len(_image_metrics()) + len(_dice_metrics())))
def test_an_epoch_continues_from_a_checkpoint(index: int) -> None:
    def make() -> Any:
        return [*_image_metrics(), *_dice_metrics()][index]

    images, masks = _outputs()
    outputs: list[Any] = images if index < len(_image_metrics()) else masks
    straight, first, second = make(), make(), make()
    for output in outputs:
        straight.update(output, META)
    first.update(outputs[0], META)
    second.load_state_dict(_through_a_checkpoint(first.state_dict()))
    for output in outputs[1:]:
        second.update(output, META)
    assert second.compute().serialized == straight.compute().serialized
    assert second.compute().formatted == straight.compute().formatted


def _synced_values(rank: int) -> dict[str, str]:
    images, masks = _outputs(seed=rank + 1)
    values = {}
    for metric in [*_image_metrics(), *_dice_metrics()]:
        for output in images if metric.input_type is ImageInput else masks:
            metric.update(output, META)
        values[metric.name] = synced(metric).compute().serialized
    return values


def test_two_processes_sync_to_the_value_over_the_union(tmp_path: Path) -> None:
    outcomes = results(spawn(_synced_values, tmp_path))
    reference = {}
    union = [_outputs(seed=1), _outputs(seed=2)]
    for metric in [*_image_metrics(), *_dice_metrics()]:
        for images, masks in union:
            for output in images if metric.input_type is ImageInput else masks:
                metric.update(output, META)
        reference[metric.name] = metric.compute().serialized
    for outcome in outcomes:
        for name, serialized in outcome.items():
            got, want = (
                NumericEntry.deserialize(serialized),
                NumericEntry.deserialize(reference[name]),
            )
            assert got.value == pytest.approx(want.value, rel=1e-6), name


def test_the_denoising_example_runs_briefly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from examples import vision  # noqa: PLC0415 (scikit-learn's data, loaded only here)

    values = vision.main(["--quick", "--plain", "--directory", str(tmp_path)])
    out = capsys.readouterr().out
    assert "[valid] epoch 2/2 done" in out
    assert "PSNR" in out
    assert "SSIM" in out
    assert 5.0 < values["PSNR"] < 60.0
    assert 0.0 < values["SSIM"] <= 1.0
    # The noisy inputs' scores are what TorchMetrics gives them.
    _, valid = vision.digits_loaders(32, 600)
    inputs, clean = (torch.cat(parts) for parts in zip(*valid, strict=True))
    psnr = PeakSignalNoiseRatio(data_range=1.0)
    ssim = StructuralSimilarityIndexMeasure(data_range=1.0, sigma=0.8)
    assert values["noisy PSNR"] == pytest.approx(float(psnr(inputs, clean)), abs=1e-4)
    assert values["noisy SSIM"] == pytest.approx(float(ssim(inputs, clean)), abs=1e-5)
