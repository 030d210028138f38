"""Image metrics' maths: squared errors (PSNR), structural similarity (SSIM) and Dice counts.

Tensors in, tensors out, nothing read back to the host. Values follow TorchMetrics'
``PeakSignalNoiseRatio``, ``StructuralSimilarityIndexMeasure`` and ``DiceScore``; where the
computation differs (a separable window, variances of mean-shifted images) the values agree with
TorchMetrics' in float64 and are closer to them than TorchMetrics' own in float32.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F  # noqa: N812

__all__ = [
    "dice_counts",
    "dice_score",
    "gaussian_kernel_size",
    "gaussian_window",
    "psnr_from_mse",
    "squared_errors",
    "ssim_and_contrast",
    "ssim_per_image",
]


def squared_errors(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The sum of squared errors of each image ``(N,)`` of ``(N, ...)`` images: each image's
    differences multiplied by themselves in one batched matrix product, which reads them once
    and writes no tensor of squares (squaring and summing writes one and reads it again)."""
    n, pixels = outputs.shape[0], outputs.shape[1:].numel()
    difference = (outputs - targets).reshape(n, 1, pixels)
    return torch.bmm(difference, difference.mT).view(-1)


def psnr_from_mse(mse: float, data_range: float, base: float = 10.0) -> float:
    """``10 log10(data_range^2 / mse)`` in dB (for ``base`` 10); ``inf`` for an error of 0, as
    TorchMetrics gives."""
    if math.isnan(mse):
        return math.nan
    if mse <= 0.0:
        return math.inf
    return (2.0 * math.log(data_range) - math.log(mse)) * 10.0 / math.log(base)


def gaussian_kernel_size(sigma: float) -> int:
    """The Gaussian window's width for ``sigma``, TorchMetrics' rule: ``2 * int(3.5 sigma +
    0.5) + 1`` (11 for 1.5)."""
    return 2 * int(3.5 * sigma + 0.5) + 1


@functools.lru_cache(maxsize=32)
def gaussian_window(
    size: int, sigma: float, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """The normalised 1-D Gaussian window ``(size,)``; the 2-D window is its outer product,
    applied as two 1-D passes (``2 size`` taps a pixel rather than ``size^2``)."""
    distance = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    window = torch.exp(-((distance / sigma) ** 2) / 2)
    return (window / window.sum()).to(dtype=dtype, device=device)


def _filtered(planes: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """``planes`` ``(P, H + 2r, W + 2r)`` filtered by the separable ``window`` ``(2r + 1,)``
    without padding: ``(P, H, W)``."""
    size, count = window.shape[0], planes.shape[0]
    # Every plane a group of one image: a depthwise convolution, several times faster on a CPU
    # than the planes as a batch of one channel, or as TorchMetrics' groups of C channels.
    columns = window.view(1, 1, size, 1).expand(count, 1, size, 1)
    rows = window.view(1, 1, 1, size).expand(count, 1, 1, size)
    filtered = F.conv2d(planes.unsqueeze(0), columns, groups=count)
    return F.conv2d(filtered, rows, groups=count).squeeze(0)


def ssim_per_image(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    data_range: torch.Tensor | float,
    window: torch.Tensor,
    *,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """The mean SSIM of each image ``(N,)`` of ``(N, C, H, W)`` images, as TorchMetrics
    computes it: reflection-padded by the window's radius, the SSIM map over every pixel of
    every channel averaged.

    ``data_range``: a number, or a tensor ``(N,)`` of each image's. ``window``: a 1-D window
    (:func:`gaussian_window`, or a uniform one).
    """
    similarity, _ = _ssim_maps(outputs, targets, data_range, window, k1=k1, k2=k2)
    return similarity.view(outputs.shape[0], -1).mean(1)


def ssim_and_contrast(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    data_range: torch.Tensor | float,
    window: torch.Tensor,
    *,
    k1: float = 0.01,
    k2: float = 0.03,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each image's mean SSIM (as :func:`ssim_per_image`) and mean contrast-structure term
    ``(2 cov + c2) / (var_x + var_y + c2)`` ``(N,)``, the latter without the border the
    padding reaches, as TorchMetrics' MS-SSIM takes them at each scale."""
    n, _, h, w = outputs.shape
    similarity, contrast = _ssim_maps(outputs, targets, data_range, window, k1=k1, k2=k2)
    r = (window.shape[0] - 1) // 2
    inner = contrast.view(n, -1, h, w)[:, :, r : h - r, r : w - r]
    return similarity.view(n, -1).mean(1), inner.reshape(n, -1).mean(1)


def _ssim_maps(
    outputs: torch.Tensor,
    targets: torch.Tensor,
    data_range: torch.Tensor | float,
    window: torch.Tensor,
    *,
    k1: float,
    k2: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The SSIM map and the contrast-structure map ``(N * C, H, W)``."""
    n, c, h, w = outputs.shape
    radius = (window.shape[0] - 1) // 2
    x = outputs.reshape(n * c, h, w)
    y = targets.reshape(n * c, h, w)
    # Local variances are taken of images shifted by their own mean: they are unchanged, and no
    # longer the small difference of large numbers that makes float32 SSIM of flat images drift.
    x_shift = x.mean(dim=(1, 2), keepdim=True)
    y_shift = y.mean(dim=(1, 2), keepdim=True)
    x, y = x - x_shift, y - y_shift
    stacked = torch.cat((x, y, x * x, y * y, x * y))
    padded = F.pad(stacked, (radius, radius, radius, radius), mode="reflect")
    mu_x, mu_y, xx, yy, xy = _filtered(padded, window).view(5, n * c, h, w).unbind(0)
    var_x = (xx - mu_x * mu_x).clamp(min=0.0)
    var_y = (yy - mu_y * mu_y).clamp(min=0.0)
    covariance = xy - mu_x * mu_y
    mu_x, mu_y = mu_x + x_shift, mu_y + y_shift
    if isinstance(data_range, torch.Tensor):
        data_range = data_range.to(outputs.dtype).repeat_interleave(c).view(n * c, 1, 1)
    c1: torch.Tensor | float = (k1 * data_range) ** 2
    c2: torch.Tensor | float = (k2 * data_range) ** 2
    luminance: torch.Tensor = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    structure = (2 * covariance + c2) / (var_x + var_y + c2)
    return luminance * structure, structure


def dice_counts(
    predicted: torch.Tensor,
    targets: torch.Tensor,
    num_classes: int,
    step_of_item: torch.Tensor | None = None,
    steps: int = 1,
) -> torch.Tensor:
    """Dice's counts ``(2, C)`` of predicted classes and target classes ``(N, ...)``: twice
    the pixels where both are the class, and the pixels where either is (each counted once
    per side), summed over every pixel. With ``step_of_item`` (each image's step in
    ``[0, steps)``), each step's ``(steps, 2, C)``. One ``scatter_add_`` into a fixed-size
    tensor: no host synchronisation. Every index must lie in ``[0, num_classes)``."""
    predicted, targets = predicted.flatten(1).long(), targets.flatten(1).long()
    width = num_classes + 1
    # Pixels whose prediction misses go to a spill column C, cut off: no data-dependent mask.
    hits = targets.masked_fill(predicted != targets, num_classes)
    index = torch.stack((hits, predicted, targets))
    if step_of_item is not None:
        index = index + (step_of_item * width).view(1, -1, 1)
    # Rows: hits, then predicted and target pixels both added to the second row.
    index[1:] += steps * width
    counts = torch.zeros(2 * steps * width, dtype=torch.long, device=targets.device)
    counts.scatter_add_(0, index.reshape(-1), torch.ones_like(index.reshape(-1)))
    counts = counts.view(2, steps, width)[:, :, :num_classes]
    counts = counts * torch.tensor([[[2]], [[1]]], device=counts.device)
    return counts[:, 0] if step_of_item is None else counts.transpose(0, 1)


def dice_score(counts: torch.Tensor, average: str) -> torch.Tensor:
    """Dice from counts ``(..., 2, C)``: ``micro`` (of the counts summed over classes),
    ``macro`` (the mean over classes present among predictions or targets) or ``none`` (per
    class, NaN for a class in neither). A class, or a micro total, in neither is NaN (0/0, as
    TorchMetrics' ``zero_division="nan"``). float64 values of the leading shape."""
    counts = counts.to(torch.float64)
    numerator, denominator = counts[..., 0, :], counts[..., 1, :]
    if average == "micro":
        return numerator.sum(-1) / denominator.sum(-1)
    per_class = numerator / denominator
    if average == "none":
        return per_class
    return per_class.nanmean(-1)
