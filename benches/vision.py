"""Image metrics: burnish's PSNR, SSIM and Dice against TorchMetrics' on the same inputs.

Run with ``python benches/vision.py`` (``--device cuda`` on a GPU; ``--steps``, ``--batch``,
``--size``, ``--repeats`` to change the workload); prints a markdown table. Each metric sees
an epoch of ``--steps`` steps of ``--batch`` images ``3 x size x size`` in ``[0, 1]`` (Dice:
scores of 4 classes and their masks; MS-SSIM: ``--ms-steps`` of ``--ms-batch`` images
``3 x 192 x 192``, as its five scales need): updated every step, then computed. burnish is timed
step by step (``update`` per step, as outside a learner) and by blocks of 10 steps
(``update_block``, as a learner updates it); TorchMetrics step by step. Every timing is the best
of ``--repeats`` repetitions, the contenders interleaved in each (the minimum is the least
disturbed by other processes); the ratio is TorchMetrics' time over burnish's. The epoch values
are printed beside, to show that both computed the same thing.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torchmetrics import Metric as TorchMetric
from torchmetrics.image import (
    MultiScaleStructuralSimilarityIndexMeasure,
    PeakSignalNoiseRatio,
    StructuralSimilarityIndexMeasure,
)
from torchmetrics.segmentation import DiceScore

from burnish import DiceMetric, MetricMetadata, MultiScaleSsimMetric, PsnrMetric, SsimMetric
from burnish.adaptor import StepAdaptations
from burnish.metric.block import InputBlock
from burnish.output import RegressionOutput, SegmentationOutput

META = MetricMetadata.fake()
BLOCK = 10


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_burnish(
    make: Callable[[], Any],
    outputs: Sequence[RegressionOutput | SegmentationOutput],
    device: torch.device,
    block: int,
) -> tuple[float, float]:
    """Seconds for an epoch of ``outputs`` (blocks of ``block`` steps; 1: step by step) and
    the epoch value."""
    metric = make()
    kind = metric.input_type
    # Fresh outputs: what a step derives is kept in its output's memo, which would otherwise
    # serve the next repetition.
    outputs = [type(output)(output.loss, output.output, output.targets) for output in outputs]
    synchronize(device)
    start = time.perf_counter()
    if block == 1:
        for output in outputs:
            metric.update(StepAdaptations(output).get(kind), META)
    else:
        for first in range(0, len(outputs), block):
            steps = outputs[first : first + block]
            metric.update_block(InputBlock(steps, kind), [META] * len(steps))
    value = float(metric.running_value().value)  # reads the device: the epoch is done
    return time.perf_counter() - start, value


def time_torchmetrics(
    make: Callable[[], TorchMetric],
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
) -> tuple[float, float]:
    metric = make().to(device)
    synchronize(device)
    start = time.perf_counter()
    for predicted, targets in batches:
        metric.update(predicted, targets)
    value = float(metric.compute())
    return time.perf_counter() - start, value


Data = tuple[list[Any], list[tuple[torch.Tensor, torch.Tensor]]]
"""The steps' outputs, and the same tensors as TorchMetrics takes them."""


def image_data(steps: int, batch: int, size: int, device: torch.device) -> Data:
    generator = torch.Generator().manual_seed(0)
    outputs, batches = [], []
    loss = torch.zeros((), device=device)
    for _ in range(steps):
        targets = torch.rand(batch, 3, size, size, generator=generator)
        predicted = (targets + 0.1 * torch.randn(targets.shape, generator=generator)).clamp(0, 1)
        predicted, targets = predicted.to(device), targets.to(device)
        outputs.append(RegressionOutput(loss, predicted, targets))
        batches.append((predicted, targets))
    return outputs, batches


def mask_data(steps: int, batch: int, size: int, device: torch.device) -> Data:
    generator = torch.Generator().manual_seed(0)
    outputs, batches = [], []
    loss = torch.zeros((), device=device)
    for _ in range(steps):
        scores = torch.randn(batch, 4, size, size, generator=generator).to(device)
        targets = torch.randint(0, 4, (batch, size, size), generator=generator).to(device)
        outputs.append(SegmentationOutput(loss, scores, targets))
        # TorchMetrics takes predicted classes: its argmax is timed with it.
        batches.append((scores, targets))
    return outputs, batches


class _ArgmaxDice(DiceScore):
    """TorchMetrics' DiceScore fed scores, as burnish's is: the argmax is part of the work."""

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        super().update(preds.argmax(1), target)


def _dice() -> TorchMetric:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _ArgmaxDice(
            num_classes=4, average="macro", aggregation_level="global", input_format="index"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ms-steps", type=int, default=20, help="MS-SSIM's steps")
    parser.add_argument("--ms-batch", type=int, default=8, help="MS-SSIM's batch size")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (0: PyTorch's default)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        # One thread by default: on a shared machine, threads waiting for each other's cores
        # time the machine's load rather than the metrics.
        torch.set_num_threads(args.threads)

    images = image_data(args.steps, args.batch, args.size, device)
    masks = mask_data(args.steps, args.batch, args.size, device)
    # MS-SSIM's five scales take images of 176 pixels or more.
    large = image_data(args.ms_steps, args.ms_batch, 192, device)
    workloads: list[tuple[str, Callable[[], Any], Callable[[], TorchMetric], Data]] = [
        ("PSNR", lambda: PsnrMetric(1.0), lambda: PeakSignalNoiseRatio(data_range=1.0), images),
        (
            "SSIM",
            lambda: SsimMetric(1.0),
            lambda: StructuralSimilarityIndexMeasure(data_range=1.0),
            images,
        ),
        ("Dice (macro)", DiceMetric.multiclass, _dice, masks),
        (
            f"MS-SSIM ({args.ms_steps} x {args.ms_batch} x 3 x 192 x 192)",
            lambda: MultiScaleSsimMetric(1.0),
            lambda: MultiScaleStructuralSimilarityIndexMeasure(data_range=1.0),
            large,
        ),
    ]
    print(
        f"{args.steps} steps of {args.batch} x 3 x {args.size} x {args.size} images "
        f"(Dice: 4 classes), {device}, best of {args.repeats}, "
        f"{torch.get_num_threads()} threads\n"
    )
    print(
        "| metric | TorchMetrics ms | burnish step ms | burnish block ms | ratio step "
        "| ratio block | values (TM / burnish) |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, ours, theirs, (outputs, batches) in workloads:
        best: dict[str, float] = {"tm": float("inf"), "step": float("inf"), "block": float("inf")}
        values: dict[str, float] = {}
        # One untimed round first: kernels, windows and allocators warm.
        time_torchmetrics(theirs, batches[:2], device)
        time_burnish(ours, outputs[:2], device, 1)
        for _ in range(args.repeats):
            for label in ("tm", "step", "block"):
                if label == "tm":
                    seconds, values[label] = time_torchmetrics(theirs, batches, device)
                else:
                    steps = 1 if label == "step" else BLOCK
                    seconds, values[label] = time_burnish(ours, outputs, device, steps)
                best[label] = min(best[label], seconds)
        tm, step, block = (1000 * best[key] for key in ("tm", "step", "block"))
        print(
            f"| {name} | {tm:.1f} | {step:.1f} | {block:.1f} | {tm / step:.2f}x "
            f"| {tm / block:.2f}x | {values['tm']:.6f} / {values['block']:.6f} |"
        )


if __name__ == "__main__":
    main()
