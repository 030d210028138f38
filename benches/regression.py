"""Regression metrics: burnish against TorchMetrics on the same inputs, on the CPU.

Run with ``python benches/regression.py`` (``--repeats``, ``--steps``); prints a markdown table.

MAE, MSE, RMSE, R² and the explained variance over an epoch (batch 256, 200 steps by default),
for one output ``(N,)`` and four ``(N, 4)`` (uniform average), update every step then compute:

- burnish, steps: one :class:`~burnish.RegressionOutput` per step, each metric updated with it
  (the five share the step's sums through its memo), entries left unread as TorchMetrics'
  updates return none; then compute.
- burnish, blocks: as the learner runs it, blocks of steps (the learner's default limits), each
  updated with ``update_block`` and read as the metric processor reads one (every step's
  numbers, one transfer); then compute.
- TorchMetrics: a ``MetricCollection`` of the five (compute groups on), ``update`` per step.

Every timing is the best of ``--repeats`` interleaved repetitions (the minimum is the least
disturbed by other processes); the ratio is TorchMetrics' time over burnish's. The epoch values
of each are checked against scikit-learn's.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torchmetrics
from sklearn import metrics as skm

from burnish.adaptor import RegressionInput, StepAdaptations
from burnish.learner import Split
from burnish.metric import (
    ExplainedVarianceMetric,
    MeanAbsoluteErrorMetric,
    MeanSquaredErrorMetric,
    MetricMetadata,
    R2ScoreMetric,
    RootMeanSquaredErrorMetric,
    resolve_entries,
)
from burnish.metric.block import InputBlock
from burnish.metric.entry import BlockResult
from burnish.output import RegressionOutput
from burnish.processor.read import PendingStep, UnreadSteps
from burnish.processor.split import BlockLimits

META = MetricMetadata.fake()
Batch = tuple[torch.Tensor, torch.Tensor]


def burnish_metrics() -> list[Any]:
    return [
        MeanAbsoluteErrorMetric(),
        MeanSquaredErrorMetric(),
        RootMeanSquaredErrorMetric(),
        R2ScoreMetric(),
        ExplainedVarianceMetric(),
    ]


def torchmetrics_collection(outputs: int) -> torchmetrics.MetricCollection:
    return torchmetrics.MetricCollection(
        {
            "MAE": torchmetrics.MeanAbsoluteError(num_outputs=outputs),
            "MSE": torchmetrics.MeanSquaredError(num_outputs=outputs),
            "RMSE": torchmetrics.MeanSquaredError(squared=False, num_outputs=outputs),
            "R2": torchmetrics.R2Score(multioutput="uniform_average"),
            "Explained Variance": torchmetrics.ExplainedVariance(multioutput="uniform_average"),
        }
    )


def epoch_data(outputs: int, steps: int, batch: int) -> list[Batch]:
    generator = torch.Generator().manual_seed(outputs)
    shape = (batch,) if outputs == 1 else (batch, outputs)
    data = []
    for _ in range(steps):
        targets = 2.0 * torch.randn(shape, generator=generator) + 1.0
        data.append((targets + torch.randn(shape, generator=generator), targets))
    return data


def _outputs(data: Sequence[Batch]) -> list[RegressionOutput]:
    # New outputs every run: each keeps its step's derived sums in its memo.
    loss = torch.zeros(())
    return [RegressionOutput(loss, predicted, targets) for predicted, targets in data]


def _epoch_values(metrics: Sequence[Any]) -> dict[str, float]:
    entries = [metric.compute() for metric in metrics]
    resolve_entries(entries)
    _ = [entry.formatted for entry in entries]
    return {entry.name: entry.numeric.value for entry in entries}


def run_steps(data: Sequence[Batch]) -> tuple[float, dict[str, float]]:
    metrics = burnish_metrics()
    outputs = _outputs(data)
    start = time.perf_counter()
    for output in outputs:
        step = StepAdaptations(output)  # as the learner adapts a step: once per input type
        for metric in metrics:
            metric.update(step.get(RegressionInput), META)
    values = _epoch_values(metrics)
    return time.perf_counter() - start, values


def run_blocks(data: Sequence[Batch]) -> tuple[float, dict[str, float]]:
    metrics = burnish_metrics()
    outputs = _outputs(data)
    block_steps = BlockLimits().steps_for(outputs[0])
    start = time.perf_counter()
    for first in range(0, len(outputs), block_steps):
        steps = outputs[first : first + block_steps]
        block = InputBlock(steps, RegressionInput)
        metadata = [META] * len(steps)
        columns: list[BlockResult] = [metric.update_block(block, metadata) for metric in metrics]
        pending = [
            PendingStep(output, 0, first + index, (), 0.0, (), None)
            for index, output in enumerate(steps)
        ]
        higher = [True] * len(columns)
        UnreadSteps(Split.TRAIN, 1, 1, None, pending, columns, higher).read()
    values = _epoch_values(metrics)
    return time.perf_counter() - start, values


def run_torchmetrics(outputs: int, data: Sequence[Batch]) -> tuple[float, dict[str, float]]:
    collection = torchmetrics_collection(outputs)
    start = time.perf_counter()
    for predicted, targets in data:
        collection.update(predicted, targets)
    computed = collection.compute()
    values = {name: float(value.double().mean()) for name, value in computed.items()}
    return time.perf_counter() - start, values


def sklearn_values(data: Sequence[Batch]) -> dict[str, float]:
    predicted = torch.cat([p for p, _ in data]).double().numpy()
    targets = torch.cat([t for _, t in data]).double().numpy()
    return {
        "MAE": float(skm.mean_absolute_error(targets, predicted)),
        "MSE": float(skm.mean_squared_error(targets, predicted)),
        "RMSE": float(skm.root_mean_squared_error(targets, predicted)),
        "R2": float(skm.r2_score(targets, predicted)),
        "Explained Variance": float(skm.explained_variance_score(targets, predicted)),
    }


def _agree(values: dict[str, float], reference: dict[str, float], rtol: float) -> str:
    close = all(np.isclose(values[name], want, rtol=rtol) for name, want in reference.items())
    return "yes" if close else "**no**"


def bench(repeats: int, steps: int, batch: int) -> list[str]:
    rows = []
    for outputs in (1, 4):
        data = epoch_data(outputs, steps, batch)
        # Warm up each: first calls load code paths and allocator pools.
        run_steps(data[:5])
        run_blocks(data[:5])
        run_torchmetrics(outputs, data[:5])
        best = {"steps": float("inf"), "blocks": float("inf"), "torchmetrics": float("inf")}
        for _ in range(repeats):
            seconds, ours_steps = run_steps(data)
            best["steps"] = min(best["steps"], seconds)
            seconds, ours_blocks = run_blocks(data)
            best["blocks"] = min(best["blocks"], seconds)
            seconds, theirs = run_torchmetrics(outputs, data)
            best["torchmetrics"] = min(best["torchmetrics"], seconds)
        reference = sklearn_values(data)
        theirs_ms = 1e3 * best["torchmetrics"]
        shape = "(N,)" if outputs == 1 else f"(N, {outputs})"
        rows.append(
            f"| {shape}, {torch.get_num_threads()} thread(s) | "
            f"{1e3 * best['steps']:.1f} | {1e3 * best['blocks']:.1f} | {theirs_ms:.1f} | "
            f"**{best['torchmetrics'] / best['steps']:.2f}x** | "
            f"**{best['torchmetrics'] / best['blocks']:.2f}x** | "
            f"{_agree(ours_steps, reference, 1e-9)} / {_agree(ours_blocks, reference, 1e-9)} / "
            f"{_agree(theirs, reference, 1e-4)} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch's intra-op threads")
    args = parser.parse_args()
    # One thread by default: on a loaded machine, idle threads spinning for their share of a
    # small operation cost more than the operation.
    torch.set_num_threads(args.threads)
    print(
        f"### MAE + MSE + RMSE + R² + explained variance: an epoch of {args.steps} steps of "
        f"{args.batch}, update per step + compute (ms, best of {args.repeats})\n"
    )
    print(
        "| inputs | burnish, steps | burnish, blocks | TorchMetrics | ratio, steps | "
        "ratio, blocks | equal to scikit-learn (steps / blocks / TorchMetrics) |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in bench(args.repeats, args.steps, args.batch):
        print(row)


if __name__ == "__main__":
    main()
