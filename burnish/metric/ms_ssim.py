"""Multi-scale SSIM (Burn's ``MsSsimMetric``), with TorchMetrics' values.

Reads an :class:`~burnish.adaptor.ImageInput`, checked as the other image metrics'
(:mod:`burnish.metric.vision`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F  # noqa: N812

from burnish.adaptor import ImageInput
from burnish.functional.vision import ssim_and_contrast
from burnish.metric.base import MetricMetadata
from burnish.metric.block import InputBlock
from burnish.metric.dtypes import widen
from burnish.metric.entry import BlockResult
from burnish.metric.host import accumulator_dtype
from burnish.metric.vision import DataRange, SsimMetric, clamped, data_ranges, width_of

__all__ = ["MultiScaleSsimMetric"]

Normalize = Literal["relu", "simple"] | None

# Wang, Simoncelli and Bovik's exponents (2003), as TorchMetrics and Burn use them.
BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


class MultiScaleSsimMetric(SsimMetric):
    """Multi-scale SSIM, the mean over the epoch's images, as TorchMetrics'
    ``MultiScaleStructuralSimilarityIndexMeasure`` with its defaults.

    At each of ``len(betas)`` scales (the images halved by 2x2 average pooling between them),
    each image's contrast-structure term is taken (its mean over the pixels the padding does
    not reach), and at the last scale its SSIM; the image's value is their product, each
    raised to its ``beta``. ``normalize="relu"`` (TorchMetrics' default) clamps each term at 0
    first, ``"simple"`` maps it to ``(x + 1) / 2``, ``None`` leaves it (a negative term raised
    to a fractional power is NaN). Window, ``k1``, ``k2`` and ``data_range`` as for
    :class:`~burnish.metric.vision.SsimMetric`; without a ``data_range``, each step's is taken
    at each scale from its pooled images, as TorchMetrics does. As TorchMetrics requires,
    images must be at least ``2 ** len(betas)`` pixels a side, and ``(len(betas) - 1) ** 2``
    times the window's width (176 pixels for the defaults), and their smallest scale wider than
    the window's radius (:attr:`min_size`).
    """

    def __init__(
        self,
        data_range: DataRange | None = None,
        *,
        betas: Sequence[float] = BETAS,
        normalize: Normalize = "relu",
        sigma: float = 1.5,
        kernel_size: int | None = None,
        gaussian: bool = True,
        k1: float = 0.01,
        k2: float = 0.03,
        name: str = "MS-SSIM",
    ) -> None:
        super().__init__(
            data_range,
            sigma=sigma,
            kernel_size=kernel_size,
            gaussian=gaussian,
            k1=k1,
            k2=k2,
            name=name,
        )
        betas = tuple(betas)
        if not betas or not all(isinstance(b, (int, float)) and math.isfinite(b) for b in betas):
            raise ValueError(f"{name}: expected betas as finite numbers, received {betas!r}")
        if normalize not in ("relu", "simple", None):
            raise ValueError(
                f"{name}: expected normalize 'relu', 'simple' or None, received {normalize!r}"
            )
        self.betas = betas
        self.normalize: Normalize = normalize

    @property
    def min_size(self) -> int:
        """The smallest side of the images it takes."""
        scales = len(self.betas)
        # TorchMetrics' rule, and the smallest scale wider than the window's radius (which its
        # rule implies for its defaults): reflection padding needs it.
        radius = self.kernel_size // 2
        size: int = max(
            2**scales,
            self.kernel_size * max(1, scales - 1) ** 2,
            (radius + 1) * 2 ** (scales - 1),
        )
        return size

    def update_block(
        self, block: InputBlock[ImageInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        runs, segments = self._checks.join(block, self.min_size)
        runs = [self._prepared(outputs, targets) for outputs, targets in runs]
        width = None if self.data_range is None else width_of(self.data_range)
        terms = []
        for scale in range(len(self.betas)):
            last = scale == len(self.betas) - 1
            ranges: Sequence[torch.Tensor | float]
            ranges = data_ranges(runs, segments) if width is None else [width] * len(runs)
            pairs = [
                ssim_and_contrast(
                    outputs,
                    targets,
                    ranges[index],
                    self._window_of(outputs),
                    k1=self.k1,
                    k2=self.k2,
                )
                for index, (outputs, targets) in enumerate(runs)
            ]
            # The last scale's SSIM, the others' contrast-structure terms.
            terms.append(_cat([pair[0] if last else pair[1] for pair in pairs]))
            if not last:
                runs = [
                    (F.avg_pool2d(outputs, 2), F.avg_pool2d(targets, 2))
                    for outputs, targets in runs
                ]
        stacked = torch.stack(terms)
        if self.normalize == "relu":
            stacked = stacked.relu()
        elif self.normalize == "simple":
            stacked = (stacked + 1) / 2
        betas = torch.tensor(self.betas, dtype=stacked.dtype).to(stacked.device, non_blocking=True)
        similarity = (stacked ** betas.view(-1, 1)).prod(0)
        sums = segments.sums(similarity, accumulator_dtype(similarity.device))
        return self._state.update_steps(sums, segments.sizes)

    def _prepared(
        self, outputs: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        outputs, targets = clamped(self.data_range, widen(outputs), widen(targets))
        return outputs, targets.to(outputs.dtype)

    def _window_of(self, images: torch.Tensor) -> torch.Tensor:
        return self._window(images.dtype, images.device)


def _cat(values: list[torch.Tensor]) -> torch.Tensor:
    return values[0] if len(values) == 1 else torch.cat(values)
