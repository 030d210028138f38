"""Image quality metrics (Burn's ``PsnrMetric`` and ``SsimMetric``, behind its ``vision``
feature), with TorchMetrics' values.

Both read an :class:`~burnish.adaptor.ImageInput`: predicted and target images ``(N, C, H, W)``
of one shape, floating point (a :class:`~burnish.output.RegressionOutput` of images feeds it).
Shapes and dtypes are checked at once; values when the metric is next read: images must be
finite, and with a numeric ``data_range`` the targets must span no more than it (images in
``[0, 255]`` scored with ``data_range=1.0`` are reported). A ``(low, high)`` range clamps both
images to it first, as TorchMetrics does. The bounds are computed once per block for every
image metric reading the same fields. PSNR, bound by memory traffic, reads only its targets for
the checks and watches its outputs through their squared errors, which a NaN or an infinite
output makes non-finite (an infinite output clamped to ``(low, high)`` is a value like another).

Blocks. Every value is per image, so a block's steps need not be joined into one tensor:
consecutive steps are joined only while their images stay small (:func:`joined_runs`), where
fewer device operations pay; larger images are computed step by step, which copies nothing. The
per-image values are then joined and summed per step (``segments.sums``). Steps' images may
differ in size.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, cast

import torch

from burnish.adaptor import ImageInput
from burnish.functional.vision import (
    gaussian_kernel_size,
    gaussian_window,
    psnr_from_mse,
    squared_errors,
    ssim_per_image,
)
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock, Segments, detached
from burnish.metric.dtypes import widen
from burnish.metric.entry import BlockResult, FormatOptions
from burnish.metric.host import accumulator_dtype
from burnish.metric.state import NumericMetricState, NumericStateMetric
from burnish.metric.validation import GuardBounds, RangeGuard, describe

__all__ = ["DataRange", "PsnrMetric", "SsimMetric"]

DataRange = float | tuple[float, float]
"""The images' range: its width (the largest minus the smallest possible value), or the
``(low, high)`` bounds both images are clamped to."""


class _SpanGuard(RangeGuard):
    """Finite values spanning at most ``width`` (any, for ``None``): a range's width says how
    far apart values may be, not where they lie."""

    def __init__(self, metric: str, what: str, width: float | None) -> None:
        expected = "that are finite" if width is None else f"spanning at most data_range={width:g}"
        super().__init__(metric, what, -math.inf, math.inf, expected)
        self.width = width

    def verify(self, low: float, high: float) -> None:
        super().verify(low, high)
        # A relative margin: images rescaled in float32 overshoot their range by an ulp or so.
        if self.width is not None and high - low > self.width * (1 + 1e-6):
            raise ValueError(
                f"{self.metric}: expected {self.what} {self.expected} (pass the images' range), "
                f"received values in [{low:g}, {high:g}]"
            )


class _ErrorGuard(RangeGuard):
    """Finite outputs, watched through their images' squared errors, which a NaN or an infinite
    output makes NaN or infinite (as does an error beyond the images' dtype). Verified after
    the targets' guard: non-finite targets are reported as such."""

    def __init__(self, metric: str) -> None:
        super().__init__(metric, "outputs", -math.inf, math.inf, "that are finite")

    def verify(self, low: float, high: float) -> None:
        if math.isnan(high) or high == math.inf:
            raise ValueError(
                f"{self.metric}: expected outputs that are finite, received outputs whose "
                f"squared errors sum to {high:g}"
            )


def _check_range(metric: str, data_range: DataRange | None) -> None:
    if data_range is None:
        return
    if isinstance(data_range, tuple):
        if not (len(data_range) == 2 and all(map(math.isfinite, data_range))) or not (
            data_range[0] < data_range[1]
        ):
            raise ValueError(
                f"{metric}: expected data_range as (low, high) with low < high, received "
                f"{data_range!r}"
            )
    elif isinstance(data_range, bool) or not (
        isinstance(data_range, (int, float)) and 0 < data_range < math.inf
    ):
        raise ValueError(
            f"{metric}: expected data_range as a positive number or a (low, high) pair, "
            f"received {data_range!r}"
        )


class _ImageChecks(GuardBounds):
    """An image metric's checks: shapes and dtypes at once, values deferred (see the module).

    ``by_errors``: the outputs are watched through their squared errors
    (:meth:`observe_errors`), which the metric computes anyway, and only the targets are read
    for the checks: a pass over the outputs less, on a path bound by memory traffic (PSNR).
    ``(low, high)`` clamps infinite outputs, then, as it does any other value.
    """

    def __init__(
        self, metric: str, data_range: DataRange | None, *, by_errors: bool = False
    ) -> None:
        width = data_range if isinstance(data_range, (int, float)) else None
        targets = _SpanGuard(metric, "targets", None if width is None else float(width))
        if by_errors:
            super().__init__((targets, _ErrorGuard(metric)))
        else:
            outputs = RangeGuard(metric, "outputs", -math.inf, math.inf, "that are finite")
            super().__init__((outputs, targets))
        self.metric = metric
        self.by_errors = by_errors

    def join(
        self, block: InputBlock[ImageInput], min_size: int = 1
    ) -> tuple[list[tuple[torch.Tensor, ...]], Segments]:
        """The block's images in runs of steps (:func:`joined_runs`), each step's checked (each
        side at least ``min_size`` pixels), their value bounds observed (unless ``by_errors``);
        and where each step's images lie."""
        try:
            for outputs, targets in zip(
                block.column("outputs"), block.column("targets"), strict=True
            ):
                self.check(outputs, targets, min_size)
        except (TypeError, ValueError) as error:
            block.check_failed(error)
            raise
        runs = joined_runs(block, ("outputs", "targets"))
        if not self.by_errors:
            key = ("image-bounds", block.source("outputs"), block.source("targets"))
            bounds = block.memo(key, lambda: _bounds(runs))
            if bounds:
                self.observe(bounds, (block, key))
        return runs, block.segments("outputs", "targets")

    def observe_errors(self, target_bounds: tuple[torch.Tensor, ...], errors: torch.Tensor) -> None:
        """With ``by_errors``: observe the targets' bounds (:func:`per_image_and_bounds`) and
        the block's squared ``errors`` (a step's sum, or any per-step or per-image tensor)."""
        if target_bounds:
            extremes = (errors, errors) if errors.ndim == 0 else tuple(torch.aminmax(errors))
            self.observe((*target_bounds, *extremes))

    def check(self, outputs: torch.Tensor, targets: torch.Tensor, min_size: int) -> None:
        name = self.metric
        for what, tensor in (("outputs", outputs), ("targets", targets)):
            if not tensor.is_floating_point():
                raise TypeError(
                    f"{name}: expected {what} as floating point images, received {describe(tensor)}"
                )
            if tensor.ndim != 4:
                raise ValueError(
                    f"{name}: expected {what} of shape (N, C, H, W), received {describe(tensor)}"
                )
        if outputs.shape != targets.shape:
            raise ValueError(
                f"{name}: expected outputs and targets of the same shape, received outputs "
                f"{describe(outputs)} and targets {describe(targets)}"
            )
        if min(outputs.shape[2:]) < min_size:
            raise ValueError(
                f"{name}: expected images of at least {min_size}x{min_size} pixels for its "
                f"window, received {describe(outputs)}"
            )


# Consecutive steps are joined while their images stay within this many bytes a field: fewer
# device operations for small images, and no copy of large ones, whose operations are few
# beside their work (on a CPU, a fresh allocation of a block's images costs as much as PSNR).
JOIN_BYTES = 1 << 20


def joined_runs(block: InputBlock[Any], fields: tuple[str, ...]) -> list[tuple[torch.Tensor, ...]]:
    """The block's steps' ``fields`` tensors, detached, consecutive steps of one dtype and
    shape beyond the batch joined while each field's run stays within :data:`JOIN_BYTES`
    (a step alone whatever its size); once per block and fields for every metric asking."""

    def join() -> list[tuple[torch.Tensor, ...]]:
        if len(block.outputs) == 1:
            return [tuple(map(block.cat, fields))]  # the step's own tensors, detached
        columns = [block.column(field) for field in fields]
        runs: list[tuple[torch.Tensor, ...]] = []
        first, steps = 0, len(columns[0])
        while first < steps:
            last = first + 1
            size = max(_nbytes(column[first]) for column in columns)
            while last < steps and all(
                _joinable(column[first], column[last]) for column in columns
            ):
                size += max(_nbytes(column[last]) for column in columns)
                if size > JOIN_BYTES:
                    break
                last += 1
            runs.append(tuple(_joined(column[first:last]) for column in columns))
            first = last
        return runs

    return block.memo(("joined-runs", *map(block.source, fields)), join)


def _nbytes(tensor: torch.Tensor) -> int:
    return tensor.numel() * tensor.element_size()


def _joinable(first: torch.Tensor, other: torch.Tensor) -> bool:
    return first.dtype == other.dtype and first.shape[1:] == other.shape[1:]


def _joined(tensors: list[torch.Tensor]) -> torch.Tensor:
    if len(tensors) == 1:
        # Without a graph, the step's very tensor: no operation.
        return detached(tensors[0])
    # No graph: metrics never differentiate, and cat of tensors that require grad builds one.
    with torch.no_grad():
        return torch.cat(tensors)


def per_image(runs: list[tuple[torch.Tensor, ...]], compute: Any) -> torch.Tensor:
    """``compute(*run)`` ``(n,)`` of every run, joined ``(N,)``."""
    return _cat([compute(*run) for run in runs])


def _cat(values: list[torch.Tensor]) -> torch.Tensor:
    return values[0] if len(values) == 1 else torch.cat(values)


def per_image_and_bounds(
    runs: list[tuple[torch.Tensor, ...]], compute: Any
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """:func:`per_image` and the targets' bounds, each run's targets read for their bounds just
    before ``compute`` reads them again: from cache, on a path bound by memory traffic."""
    values, bounds = [], []
    for outputs, targets in runs:
        if targets.numel():
            bounds.append(tuple(torch.aminmax(targets)))
        values.append(compute(outputs, targets))
    return _cat(values), _extremes(bounds)


def _bounds(runs: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
    """The smallest and largest outputs, then targets, of the runs (none when empty)."""
    return _extremes(
        [
            (*torch.aminmax(outputs), *torch.aminmax(targets))
            for outputs, targets in runs
            if outputs.numel()
        ]
    )


def _extremes(per_run: list[tuple[torch.Tensor, ...]]) -> tuple[torch.Tensor, ...]:
    """The runs' bounds ``(low, high, ...)`` combined: the lowest lows, the highest highs."""
    if len(per_run) <= 1:
        return per_run[0] if per_run else ()
    stacked = torch.stack([torch.stack(bounds) for bounds in per_run])  # (runs, 2 * fields)
    lows, highs = stacked[:, 0::2].amin(0), stacked[:, 1::2].amax(0)
    return tuple(bound for pair in zip(lows, highs, strict=True) for bound in pair)


def clamped(
    data_range: DataRange | None, outputs: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(data_range, tuple):
        low, high = data_range
        return outputs.clamp(low, high), targets.clamp(low, high)
    return outputs, targets


def width_of(data_range: DataRange) -> float:
    if isinstance(data_range, tuple):
        return float(data_range[1] - data_range[0])
    return float(data_range)


class PsnrMetric(BlockUpdateMixin[ImageInput], NumericStateMetric[NumericMetricState]):
    """The peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``.

    As TorchMetrics' ``PeakSignalNoiseRatio`` (whose default it follows, unlike Burn's mean of
    per-image values): the epoch value is the PSNR of the mean squared error over every pixel
    of the epoch, and a step's the PSNR of its batch's. ``data_range`` is required (as in
    TorchMetrics): the images' width of range (``1.0`` for ``[0, 1]``, ``255.0`` for 8-bit), or
    ``(low, high)`` to clamp both images to. ``per_image=True`` averages each image's PSNR
    instead (TorchMetrics' ``dim=(1, 2, 3)``). Images equal to their targets have an error of 0
    and a PSNR of ``inf``, shown as ``inf dB``, as TorchMetrics gives (Burn clamps the error to
    ``1e-10``, about 100 dB for ``[0, 1]`` images). ``base`` changes the logarithm's base.
    """

    input_type = ImageInput
    higher_is_better = True

    def __init__(
        self,
        data_range: DataRange,
        *,
        base: float = 10.0,
        per_image: bool = False,
        name: str = "PSNR",
    ) -> None:
        self.name = name
        _check_range(name, data_range)
        if not (base > 0 and base != 1 and math.isfinite(base)):
            raise ValueError(f"{name}: expected base > 0 and != 1, received {base!r}")
        self.data_range = data_range
        self.base = base
        self.per_image = per_image
        self._checks = _ImageChecks(name, data_range, by_errors=True)
        options = FormatOptions(name).unit("dB").precision(2)
        transform = None
        if not per_image:
            transform = functools.partial(psnr_from_mse, data_range=width_of(data_range), base=base)
        self._state = NumericMetricState(options, self._checks, transform=transform)

    def update_block(
        self, block: InputBlock[ImageInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        runs, segments = self._checks.join(block)
        data_range = self.data_range

        def errors_of(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            return squared_errors(*clamped(data_range, widen(outputs), widen(targets)))

        if self.per_image:
            log_width, scale = 2 * math.log(width_of(data_range)), 10 / math.log(self.base)

            def mse_of(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
                return errors_of(outputs, targets) / outputs.shape[1:].numel()

            mse, bounds = per_image_and_bounds(runs, mse_of)
            self._checks.observe_errors(bounds, mse)
            # log(0) is -inf: an exact image scores inf, as TorchMetrics' does.
            scores = (log_width - torch.log(mse)) * scale
            sums = segments.sums(scores, accumulator_dtype(scores.device))
            return self._state.update_steps(sums, segments.sizes)
        if isinstance(data_range, tuple):
            errors, bounds = per_image_and_bounds(runs, errors_of)
        else:
            # Shared by the PSNR metrics of the same images (of another base, say).
            key = ("squared-errors", block.source("outputs"), block.source("targets"))
            errors, bounds = block.memo(key, lambda: per_image_and_bounds(runs, errors_of))
        pixels = [tensor.shape[1:].numel() for tensor in block.column("outputs")]
        counts = [size * count for size, count in zip(segments.sizes, pixels, strict=True)]
        # Each step's images' errors summed in their dtype (the state adds the sums in float64,
        # converted as it adds them): no conversion of every image's error first.
        sums = segments.sums(errors)
        self._checks.observe_errors(bounds, sums)
        return self._state.update_steps(sums, counts)


def _step_extremes(values: torch.Tensor, segments: Segments, largest: bool) -> torch.Tensor:
    """Each step's largest (or smallest) of per-image ``values`` ``(N,)``, ``(steps,)``."""
    if segments.steps == 1:
        return values.amax().unsqueeze(0) if largest else values.amin().unsqueeze(0)
    if len(set(segments.sizes)) == 1:
        grouped = values.view(segments.steps, -1)
        return grouped.amax(1) if largest else grouped.amin(1)
    start = values.new_full((segments.steps,), -math.inf if largest else math.inf)
    return start.scatter_reduce(0, segments.step_of_item, values, "amax" if largest else "amin")


def data_ranges(runs: list[tuple[torch.Tensor, ...]], segments: Segments) -> list[torch.Tensor]:
    """Each run's images' ranges ``(n,)``, as TorchMetrics takes them from the data of their
    step (its update): the wider of the outputs' and the targets' spans over the step."""
    spans = []
    for field in range(2):
        flat = [run[field].flatten(1) for run in runs]
        high = _cat([images.amax(1) for images in flat])
        low = _cat([images.amin(1) for images in flat])
        spans.append(
            _step_extremes(high, segments, largest=True)
            - _step_extremes(low, segments, largest=False)
        )
    per_step = torch.maximum(*spans)
    if segments.steps == 1:
        return [per_step.expand(segments.items)]
    ranges = per_step[segments.step_of_item]
    return list(torch.split(ranges, [run[0].shape[0] for run in runs]))


class SsimMetric(BlockUpdateMixin[ImageInput], NumericStateMetric[NumericMetricState]):
    """The structural similarity index (SSIM), the mean over the epoch's images of each image's
    mean SSIM over its pixels and channels, as TorchMetrics'
    ``StructuralSimilarityIndexMeasure`` with its defaults.

    The window is a Gaussian of standard deviation ``sigma`` (1.5), ``kernel_size`` wide; left
    out, the width TorchMetrics uses, ``2 * int(3.5 sigma + 0.5) + 1`` (11 for 1.5: TorchMetrics
    ignores ``kernel_size`` for a Gaussian window). ``gaussian=False``: a uniform window
    ``kernel_size`` wide (11 when left out). Images are reflection-padded by the window's radius,
    so they must be wider and taller than it. ``k1``, ``k2``: the stabilising constants
    ``(k data_range)^2``. ``data_range``: as for :class:`PsnrMetric`; left out, as TorchMetrics,
    each step's own, the wider of its outputs' and targets' spans (a step of flat images then
    scores NaN, 0/0).
    """

    input_type = ImageInput
    higher_is_better = True

    def __init__(
        self,
        data_range: DataRange | None = None,
        *,
        sigma: float = 1.5,
        kernel_size: int | None = None,
        gaussian: bool = True,
        k1: float = 0.01,
        k2: float = 0.03,
        name: str = "SSIM",
    ) -> None:
        self.name = name
        _check_range(name, data_range)
        if not (sigma > 0 and math.isfinite(sigma)):
            raise ValueError(f"{name}: expected sigma > 0, received {sigma!r}")
        if kernel_size is None:
            kernel_size = gaussian_kernel_size(sigma) if gaussian else 11
        if (
            isinstance(kernel_size, bool)
            or not isinstance(kernel_size, int)
            or (kernel_size < 1 or kernel_size % 2 == 0)
        ):
            raise ValueError(
                f"{name}: expected kernel_size as an odd positive int, received {kernel_size!r}"
            )
        for label, k in (("k1", k1), ("k2", k2)):
            if not (k > 0 and math.isfinite(k)):
                raise ValueError(f"{name}: expected {label} > 0, received {k!r}")
        self.data_range = data_range
        self.sigma = sigma
        self.kernel_size = kernel_size
        self.gaussian = gaussian
        self.k1, self.k2 = k1, k2
        self._checks = _ImageChecks(name, data_range)
        self._state = NumericMetricState(FormatOptions(name).precision(4), self._checks)

    def _window(self, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        if self.gaussian:
            return gaussian_window(self.kernel_size, self.sigma, dtype, device)
        return torch.full((self.kernel_size,), 1 / self.kernel_size, dtype=dtype, device=device)

    def update_block(
        self, block: InputBlock[ImageInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        # Reflection padding needs a radius below each side.
        runs, segments = self._checks.join(block, self.kernel_size // 2 + 1)
        ranges = None if self.data_range is not None else iter(data_ranges(runs, segments))
        width = None if self.data_range is None else width_of(self.data_range)

        def similarity_of(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
            outputs, targets = clamped(self.data_range, widen(outputs), widen(targets))
            targets = targets.to(outputs.dtype)
            window = self._window(outputs.dtype, outputs.device)
            data_range = next(ranges) if ranges is not None else cast("float", width)
            return ssim_per_image(outputs, targets, data_range, window, k1=self.k1, k2=self.k2)

        similarity = per_image(runs, similarity_of)
        sums = segments.sums(similarity, accumulator_dtype(similarity.device))
        return self._state.update_steps(sums, segments.sizes)
