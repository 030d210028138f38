"""Regression, Matthews, exact match, sequence and image metrics: burnish against TorchMetrics.

The rows of ``benches/metrics.py --families ...`` (and of ``benches/regression.py`` and
``benches/vision.py``, which run one family on a larger workload). Every workload is an epoch
of steps given to burnish and to TorchMetrics on the same data, updated every step, then
computed and its values read:

- burnish, steps: each step's output given to each metric's ``update``, as outside a learner
  (their entries left unread, as TorchMetrics' updates return none);
- burnish, blocks: as the learner runs it, blocks of as many steps as its default
  :class:`~burnish.processor.split.BlockLimits` allow, each updated with ``update_block`` and
  read as the metric processor reads one (every step's numbers, one transfer);
- TorchMetrics: ``update`` every step (a ``MetricCollection``, compute groups on, where a row
  has several metrics).

TorchMetrics' text metrics take strings: they are given the texts of burnish's token ids
(CER: a letter per id; WER, BLEU, ROUGE: a word per id), made before the clock starts.

Each run's cost is its CPU time on this thread (one torch thread: every library runs on it,
and time other processes take on a shared machine is not counted; on a GPU, wall time between
synchronisations). The contenders run interleaved, ``repeats`` times; a row shows the medians
and their ratios, TorchMetrics' time over burnish's (above 1: burnish is faster), and the epoch
values side by side.
"""

from __future__ import annotations

import dataclasses
import resource
import statistics
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torchmetrics
from torchmetrics import classification, image, regression, segmentation, text

from burnish import (
    BleuScore,
    CharErrorRate,
    DiceMetric,
    ExplainedVarianceMetric,
    MatthewsCorrCoefMetric,
    MeanAbsoluteErrorMetric,
    MeanSquaredErrorMetric,
    MetricMetadata,
    MultilabelExactMatchMetric,
    MultiScaleSsimMetric,
    PsnrMetric,
    R2ScoreMetric,
    RootMeanSquaredErrorMetric,
    RougeScore,
    SsimMetric,
    WordErrorRate,
)
from burnish.learner import Split
from burnish.metric import resolve_entries
from burnish.metric.block import InputBlock
from burnish.metric.entry import BlockResult
from burnish.output import (
    ClassificationOutput,
    MultiLabelClassificationOutput,
    RegressionOutput,
    SegmentationOutput,
    SequenceOutput,
)
from burnish.processor.read import PendingStep, UnreadSteps
from burnish.processor.split import BlockLimits

META = MetricMetadata.fake()
Batch = tuple[Any, ...]


@dataclass(frozen=True)
class Workload:
    """One row: burnish's metrics and TorchMetrics' equivalent, on the same steps."""

    family: str
    name: str
    burnish: Callable[[], list[Any]]
    torchmetrics: Callable[[], torchmetrics.Metric | torchmetrics.MetricCollection]
    output: Callable[..., object]
    """Makes a step's output from its tensors (a fresh one every run: outputs keep what their
    step derives)."""
    tensors: list[tuple[torch.Tensor, torch.Tensor]]
    batches: list[Batch]
    """TorchMetrics' arguments of each step."""
    scale: float = 1.0
    """TorchMetrics' values times ``scale`` are burnish's (100: a fraction against a percent)."""
    keys: tuple[str, ...] = ()
    """Where TorchMetrics returns a dictionary: the values to take, in burnish's order."""


@dataclass
class Row:
    workload: Workload
    steps: list[float]
    blocks: list[float]
    theirs: list[float]
    values: tuple[list[float], list[float]]
    faults: tuple[list[int], list[int], list[int]] = ([], [], [])
    """Page faults of each run (steps, blocks, TorchMetrics)."""

    def markdown(self) -> str:
        steps, blocks, theirs = (
            statistics.median(runs) for runs in (self.steps, self.blocks, self.theirs)
        )
        count = len(self.workload.tensors)
        ours, reference = self.values
        values = "; ".join(f"{a:.4f} / {b:.4f}" for a, b in zip(ours, reference, strict=True))
        faults = " / ".join(f"{statistics.median(runs) / count:.0f}" for runs in self.faults)
        return (
            f"| {self.workload.family} | {self.workload.name} | {1e6 * steps / count:.0f} | "
            f"{1e6 * blocks / count:.0f} | {1e6 * theirs / count:.0f} | "
            f"**{theirs / steps:.2f}x** | **{theirs / blocks:.2f}x** | {faults} | {values} |"
        )


HEADER = (
    "| family | metrics | burnish steps µs/step | burnish blocks µs/step | TorchMetrics µs/step "
    "| vs TM (steps) | vs TM (blocks) | page faults a step (steps / blocks / TM) "
    "| values (burnish / TM) |\n|---|---|---|---|---|---|---|---|---|"
)


class Clock:
    """Seconds of this thread's CPU time; on a GPU, wall time once its work is done."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    def __call__(self) -> float:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return time.perf_counter()
        return time.thread_time()


def _values(metrics: Sequence[Any]) -> list[float]:
    entries = [metric.compute() for metric in metrics]
    resolve_entries(entries)
    _ = [entry.formatted for entry in entries]
    return [entry.numeric.value for entry in entries]


def run_steps(workload: Workload, clock: Clock) -> tuple[float, list[float]]:
    metrics = workload.burnish()
    outputs = [workload.output(*tensors) for tensors in workload.tensors]
    start = clock()
    for output in outputs:
        for metric in metrics:
            metric.update(output, META)
    values = _values(metrics)
    return clock() - start, values


def run_blocks(workload: Workload, clock: Clock) -> tuple[float, list[float]]:
    metrics = workload.burnish()
    outputs = [workload.output(*tensors) for tensors in workload.tensors]
    size = BlockLimits().steps_for(outputs[0])
    start = clock()
    for first in range(0, len(outputs), size):
        steps = outputs[first : first + size]
        metadata = [META] * len(steps)
        columns: list[BlockResult] = [
            metric.update_block(InputBlock(steps, metric.input_type), metadata)
            for metric in metrics
        ]
        pending = [
            PendingStep(output, 0, first + index, (), 0.0, (), None)
            for index, output in enumerate(steps)
        ]
        UnreadSteps(Split.TRAIN, 1, 1, None, pending, columns, [True] * len(columns)).read()
    values = _values(metrics)
    return clock() - start, values


def run_torchmetrics(workload: Workload, clock: Clock) -> tuple[float, list[float]]:
    metric = workload.torchmetrics().to(clock.device)
    start = clock()
    for batch in workload.batches:
        metric.update(*batch)
    result = metric.compute()
    found = [result[key] for key in workload.keys] if isinstance(result, dict) else [result]
    values = [workload.scale * float(value.double().mean()) for value in found]
    return clock() - start, values


def measure(workload: Workload, repeats: int, clock: Clock) -> Row:
    warm = dataclasses.replace(workload, tensors=workload.tensors[:2], batches=workload.batches[:2])
    for run in (run_steps, run_blocks, run_torchmetrics):
        run(warm, clock)  # code paths, windows and allocator pools warm
    row = Row(workload, [], [], [], ([], []), ([], [], []))
    for _ in range(repeats):
        (seconds, ours), faults = _faulting(run_steps, workload, clock)
        row.steps.append(seconds)
        row.faults[0].append(faults)
        (seconds, _), faults = _faulting(run_blocks, workload, clock)
        row.blocks.append(seconds)
        row.faults[1].append(faults)
        (seconds, theirs), faults = _faulting(run_torchmetrics, workload, clock)
        row.theirs.append(seconds)
        row.faults[2].append(faults)
        row.values = (ours, theirs)
    return row


def _faulting(
    run: Callable[[Workload, Clock], tuple[float, list[float]]], workload: Workload, clock: Clock
) -> tuple[tuple[float, list[float]], int]:
    """A run's result and its minor page faults. On a CPU, a step writing a fresh tensor of
    a batch's images faults its pages in, or not, as the allocator's state in the process
    has it (glibc returns freed memory to the system when the top of its heap is free): a
    faulting run can take several times as long, whichever library it runs."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    result = run(workload, clock)
    return result, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


# Workloads ---------------------------------------------------------------------------------


def regression_workloads(steps: int, batch: int, device: torch.device) -> list[Workload]:
    rows = []
    for outputs in (1, 4):
        generator = torch.Generator().manual_seed(outputs)
        shape = (batch,) if outputs == 1 else (batch, outputs)
        tensors = []
        for _ in range(steps):
            targets = 2.0 * torch.randn(shape, generator=generator) + 1.0
            predicted = targets + torch.randn(shape, generator=generator)
            tensors.append((predicted.to(device), targets.to(device)))
        rows.append(
            Workload(
                "regression",
                f"MAE + MSE + RMSE + R² + EV, {'(N,)' if outputs == 1 else f'(N, {outputs})'}",
                lambda: [
                    MeanAbsoluteErrorMetric(),
                    MeanSquaredErrorMetric(),
                    RootMeanSquaredErrorMetric(),
                    R2ScoreMetric(),
                    ExplainedVarianceMetric(),
                ],
                _regression_collection(outputs),
                _with_loss(RegressionOutput, device),
                tensors,
                list(tensors),
                keys=("MAE", "MSE", "RMSE", "R2", "EV"),
            )
        )
    return rows


def _regression_collection(outputs: int) -> Callable[[], torchmetrics.MetricCollection]:
    def make() -> torchmetrics.MetricCollection:
        return torchmetrics.MetricCollection(
            {
                "MAE": regression.MeanAbsoluteError(num_outputs=outputs),
                "MSE": regression.MeanSquaredError(num_outputs=outputs),
                "RMSE": regression.MeanSquaredError(squared=False, num_outputs=outputs),
                "R2": regression.R2Score(multioutput="uniform_average"),
                "EV": regression.ExplainedVariance(multioutput="uniform_average"),
            }
        )

    return make


def _with_loss(kind: type[Any], device: torch.device) -> Callable[..., object]:
    loss = torch.zeros((), device=device)
    return lambda output, targets: kind(loss, output, targets)


def classification_workloads(steps: int, batch: int, device: torch.device) -> list[Workload]:
    generator = torch.Generator().manual_seed(3)
    classes = [
        (
            torch.randn(batch, 10, generator=generator).to(device),
            torch.randint(0, 10, (batch,), generator=generator).to(device),
        )
        for _ in range(steps)
    ]
    labels = []
    for _ in range(steps):
        targets = torch.randint(0, 2, (batch, 10), generator=generator)
        # Close to the targets: some items have every label right.
        scores = (targets + 0.3 * torch.randn(batch, 10, generator=generator)).clamp(0, 1)
        labels.append((scores.to(device), targets.to(device)))
    return [
        Workload(
            "Matthews",
            "multiclass MCC, 10 classes",
            lambda: [MatthewsCorrCoefMetric.multiclass()],
            lambda: classification.MulticlassMatthewsCorrCoef(num_classes=10),
            _with_loss(ClassificationOutput, device),
            classes,
            list(classes),
        ),
        Workload(
            "exact match",
            "multilabel exact match, 10 labels",
            lambda: [MultilabelExactMatchMetric()],
            lambda: classification.MultilabelExactMatch(num_labels=10),
            _with_loss(MultiLabelClassificationOutput, device),
            labels,
            list(labels),
            scale=100.0,
        ),
    ]


_LETTERS = "_abcdefghijklmnopqrstuvwxyz"  # id 0 is the padding


def sequence_workloads(steps: int, batch: int, device: torch.device) -> list[Workload]:
    """Sentences of 10 to 30 tokens (ids 1 to 26, padded with 0), predictions their targets
    with about a tenth of the tokens replaced, dropped or followed by another."""
    generator = torch.Generator().manual_seed(4)
    tensors, letters, words = [], [], []
    for _ in range(steps):
        pairs = [_sentences(generator) for _ in range(batch)]
        predictions, targets = [p for p, _ in pairs], [t for _, t in pairs]
        tensors.append((_padded(predictions).to(device), _padded(targets).to(device)))
        letters.append(tuple([_text(row, "") for row in rows] for rows in (predictions, targets)))
        words.append(tuple([_text(row, " ") for row in rows] for rows in (predictions, targets)))
    loss = torch.zeros((), device=device)

    def output(predictions: torch.Tensor, targets: torch.Tensor) -> SequenceOutput:
        return SequenceOutput(loss, predictions, targets, pad_token=0)

    one_reference: list[Batch] = [(hypotheses, [[r] for r in refs]) for hypotheses, refs in words]
    rows = [
        ("CER", CharErrorRate, text.CharErrorRate, letters, ()),
        ("WER", WordErrorRate, text.WordErrorRate, words, ()),
        ("BLEU-4", BleuScore, text.BLEUScore, one_reference, ()),
        (
            "ROUGE-L",
            RougeScore,
            lambda: text.ROUGEScore(rouge_keys="rougeL"),
            words,
            ("rougeL_fmeasure",),
        ),
    ]
    return [
        Workload("sequence", name, _one(ours), theirs, output, tensors, batches, 100.0, keys)
        for name, ours, theirs, batches, keys in rows
    ]


def _one(make: Callable[[], Any]) -> Callable[[], list[Any]]:
    return lambda: [make()]


def _sentences(generator: torch.Generator) -> tuple[list[int], list[int]]:
    length = int(torch.randint(10, 31, (), generator=generator))
    target = torch.randint(1, 27, (length,), generator=generator).tolist()
    edits = torch.rand(length, generator=generator).tolist()
    others = torch.randint(1, 27, (length,), generator=generator).tolist()
    prediction: list[int] = []
    for token, edit, other in zip(target, edits, others, strict=True):
        if edit >= 0.04:  # else dropped
            prediction.append(other if edit < 0.08 else token)
        if edit > 0.97:
            prediction.append(other)
    return prediction, target


def _padded(rows: list[list[int]]) -> torch.Tensor:
    width = max(len(row) for row in rows)
    return torch.tensor([row + [0] * (width - len(row)) for row in rows])


def _text(row: list[int], separator: str) -> str:
    if separator:
        return separator.join(f"w{token}" for token in row)
    return "".join(_LETTERS[token] for token in row)


def image_workloads(
    steps: int, batch: int, size: int, device: torch.device, *, ms_steps: int, ms_batch: int
) -> list[Workload]:
    """Images ``3 x size x size`` in ``[0, 1]`` and their noisy predictions; Dice: scores of
    4 classes and their masks; MS-SSIM: images of 192 x 192, as its five scales need."""
    images = _images(steps, batch, size, device)
    large = _images(ms_steps, ms_batch, 192, device)
    generator = torch.Generator().manual_seed(5)
    masks = [
        (
            torch.randn(batch, 4, size, size, generator=generator).to(device),
            torch.randint(0, 4, (batch, size, size), generator=generator).to(device),
        )
        for _ in range(steps)
    ]
    regression_output = _with_loss(RegressionOutput, device)
    return [
        Workload(
            "image",
            f"PSNR, {batch} x 3 x {size} x {size}",
            lambda: [PsnrMetric(1.0)],
            lambda: image.PeakSignalNoiseRatio(data_range=1.0),
            regression_output,
            images,
            list(images),
        ),
        Workload(
            "image",
            f"SSIM, {batch} x 3 x {size} x {size}",
            lambda: [SsimMetric(1.0)],
            lambda: image.StructuralSimilarityIndexMeasure(data_range=1.0),
            regression_output,
            images,
            list(images),
        ),
        Workload(
            "image",
            f"MS-SSIM, {ms_batch} x 3 x 192 x 192",
            lambda: [MultiScaleSsimMetric(1.0)],
            lambda: image.MultiScaleStructuralSimilarityIndexMeasure(data_range=1.0),
            regression_output,
            large,
            list(large),
        ),
        Workload(
            "image",
            f"macro Dice, {batch} x 4 x {size} x {size}",
            lambda: [DiceMetric.multiclass()],
            _dice,
            _with_loss(SegmentationOutput, device),
            masks,
            list(masks),
        ),
    ]


def _images(
    steps: int, batch: int, size: int, device: torch.device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    pairs = []
    for _ in range(steps):
        targets = torch.rand(batch, 3, size, size, generator=generator)
        noise = 0.1 * torch.randn(targets.shape, generator=generator)
        pairs.append(((targets + noise).clamp(0, 1).to(device), targets.to(device)))
    return pairs


class _ArgmaxDice(segmentation.DiceScore):
    """TorchMetrics' DiceScore fed scores, as burnish's is: the argmax is part of the work."""

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        super().update(preds.argmax(1), target)


def _dice() -> torchmetrics.Metric:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _ArgmaxDice(
            num_classes=4, average="macro", aggregation_level="global", input_format="index"
        )


def print_rows(workloads: Sequence[Workload], repeats: int, device: torch.device) -> None:
    """Measure ``workloads`` and print their table, a row as each is measured."""
    clock = Clock(device)
    print(HEADER)
    for workload in workloads:
        print(measure(workload, repeats, clock).markdown(), flush=True)
