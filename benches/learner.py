"""The learner's reference workload, side by side with its peers, in one run.

MLP 64 -> 128 -> 10 on 20,000 synthetic samples (64 features, 10 classes), batch 64, SGD lr
0.05, 3 epochs, CPU, one thread; metrics loss, accuracy, macro precision, recall, F1 and exact
AUROC (train split). Each framework trains the same initial weights on the same batches. Runs
are interleaved and repeated; the table shows the median wall time and median process CPU time
(all threads), each with its ratio to a plain PyTorch loop that computes no metrics.
``--classes`` changes the classes (the model's output and every metric's): what the per-class
work costs end to end as a task's classes grow.

Run: .venv/bin/python benches/learner.py [--repeats 5] [--classes 10] [--only burnish TorchMetrics]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch
from rich.console import Console
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import burnish
from burnish import (
    AccuracyMetric,
    AurocMetric,
    ClassificationOutput,
    CpuMemory,
    CpuTemperature,
    CpuUse,
    FBetaScoreMetric,
    IterationSpeedMetric,
    LearnerBuilder,
    LearningRateMetric,
    LossMetric,
    Metric,
    PrecisionMetric,
    RecallMetric,
    TrainOutput,
    TrainStep,
)
from burnish.learner.optimization import MixedPrecision
from burnish.renderer import PlainRenderer, TuiRenderer

SAMPLES, FEATURES, HIDDEN, CLASSES = 20_000, 64, 128, 10
BATCH, LR, EPOCHS = 64, 0.05, 3
Batch = tuple[torch.Tensor, torch.Tensor]


def data() -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(SAMPLES, FEATURES, generator=generator)
    teacher = torch.randn(FEATURES, CLASSES, generator=generator)
    y = (x @ teacher + 0.5 * torch.randn(SAMPLES, CLASSES, generator=generator)).argmax(1)
    return TensorDataset(x, y)


def loader(dataset: TensorDataset) -> DataLoader[Batch]:
    return DataLoader(
        dataset, batch_size=BATCH, shuffle=True, generator=torch.Generator().manual_seed(1)
    )


def mlp() -> nn.Sequential:
    torch.manual_seed(2)
    return nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, CLASSES))


def plain(dataset: TensorDataset, autocast: torch.dtype | None = None) -> None:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    for _ in range(EPOCHS):
        for x, y in loader(dataset):
            optimizer.zero_grad()
            with torch.autocast("cpu", dtype=autocast, enabled=autocast is not None):
                loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()


def torchmetrics_loop(dataset: TensorDataset) -> None:
    import torchmetrics  # noqa: PLC0415
    from torchmetrics import classification as tmc  # noqa: PLC0415

    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    metrics = torchmetrics.MetricCollection(
        {
            "accuracy": tmc.MulticlassAccuracy(CLASSES, average="micro"),
            "precision": tmc.MulticlassPrecision(CLASSES, average="macro"),
            "recall": tmc.MulticlassRecall(CLASSES, average="macro"),
            "f1": tmc.MulticlassF1Score(CLASSES, average="macro"),
            "auroc": tmc.MulticlassAUROC(CLASSES, average="macro", thresholds=None),
        }
    )
    mean_loss = torchmetrics.MeanMetric()
    for _ in range(EPOCHS):
        for x, y in loader(dataset):
            optimizer.zero_grad()
            logits = model(x)
            loss = nn.functional.cross_entropy(logits, y)
            loss.backward()
            optimizer.step()
            metrics.update(logits.detach(), y)
            mean_loss.update(loss.detach(), x.shape[0])
        metrics.compute()
        mean_loss.compute()
        metrics.reset()
        mean_loss.reset()


def lightning(dataset: TensorDataset) -> None:
    import pytorch_lightning as pl  # noqa: PLC0415
    import torchmetrics  # noqa: PLC0415
    from torchmetrics import classification as tmc  # noqa: PLC0415

    class Module(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = mlp()
            self.metrics = torchmetrics.MetricCollection(
                {
                    "accuracy": tmc.MulticlassAccuracy(CLASSES, average="micro"),
                    "precision": tmc.MulticlassPrecision(CLASSES, average="macro"),
                    "recall": tmc.MulticlassRecall(CLASSES, average="macro"),
                    "f1": tmc.MulticlassF1Score(CLASSES, average="macro"),
                    "auroc": tmc.MulticlassAUROC(CLASSES, average="macro", thresholds=None),
                }
            )

        def training_step(self, batch: Batch, index: int) -> torch.Tensor:
            x, y = batch
            logits = self.model(x)
            loss = nn.functional.cross_entropy(logits, y)
            self.metrics.update(logits.detach(), y)
            self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=True)
            return loss

        def on_train_epoch_end(self) -> None:
            self.log_dict(self.metrics.compute())
            self.metrics.reset()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=LR)

    trainer = pl.Trainer(
        max_epochs=EPOCHS,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=True,
    )
    trainer.fit(Module(), loader(dataset))


def ignite(dataset: TensorDataset) -> None:
    from ignite.engine import Engine, Events  # noqa: PLC0415
    from ignite.metrics import (  # noqa: PLC0415
        Accuracy,
        EpochMetric,
        Fbeta,
        Loss,
        Precision,
        Recall,
    )
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)

    def step(engine: Engine, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        optimizer.zero_grad()
        x, y = batch
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
        loss.backward()
        optimizer.step()
        return logits.detach(), y

    def auroc(scores: torch.Tensor, targets: torch.Tensor) -> float:
        probabilities = scores.softmax(1).numpy()
        return float(roc_auc_score(targets.numpy(), probabilities, multi_class="ovr"))

    engine = Engine(step)
    precision = Precision(average=False)
    recall = Recall(average=False)
    Accuracy().attach(engine, "accuracy")
    Loss(nn.functional.cross_entropy).attach(engine, "loss")
    precision.mean().attach(engine, "precision")  # type: ignore[no-untyped-call]
    recall.mean().attach(engine, "recall")  # type: ignore[no-untyped-call]
    Fbeta(1.0, precision=precision, recall=recall).attach(engine, "f1")
    EpochMetric(auroc, check_compute_fn=False).attach(engine, "auroc")
    engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: dict(e.state.metrics))
    engine.run(loader(dataset), max_epochs=EPOCHS)


class Mlp(nn.Module, TrainStep[Batch, ClassificationOutput]):
    def __init__(self) -> None:
        super().__init__()
        self.model = mlp()

    def train_step(self, batch: Batch) -> TrainOutput[ClassificationOutput]:
        x, y = batch
        logits = self.model(x)
        loss = nn.functional.cross_entropy(logits, y)
        return TrainOutput(loss, ClassificationOutput(loss, logits, y))


def reference_metrics() -> list[Metric[Any]]:
    """The reference workload's metrics (the peers compute the same)."""
    return [
        LossMetric(),
        AccuracyMetric(),
        PrecisionMetric.multiclass(),
        RecallMetric.multiclass(),
        FBetaScoreMetric.multiclass(),
        AurocMetric.multiclass(softmax=True),
    ]


SAMPLED: tuple[Callable[[], Metric[None]], ...] = (CpuUse, CpuMemory, CpuTemperature)
FROM_METADATA: tuple[Callable[[], Metric[None]], ...] = (LearningRateMetric, IterationSpeedMetric)


def burnish_learner(
    dataset: TensorDataset,
    renderer: str = "plain",
    extra: tuple[Callable[[], Metric[None]], ...] = (),
    metrics: Callable[[], list[Metric[Any]]] = reference_metrics,
    precision: MixedPrecision | None = None,
) -> None:
    model = Mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    with tempfile.TemporaryDirectory() as directory:
        builder = LearnerBuilder(directory)
        if precision is not None:
            builder.mixed_precision(precision)
        for metric in metrics():
            builder.metric_train_numeric(metric)
        for make in extra:
            builder.metric_train_numeric(make())
        if renderer == "dashboard":
            # The real dashboard, drawn into an off-screen 120x40 terminal.
            console = Console(
                file=io.StringIO(),
                width=120,
                height=40,
                force_terminal=True,
                color_system="truecolor",
            )
            builder.renderer(TuiRenderer(console=console, input_fd=None))
        else:
            builder.renderer(PlainRenderer(stream=io.StringIO()))
        builder.num_epochs(EPOCHS).build(model, optimizer).fit(loader(dataset))


RUNNERS: dict[str, Callable[[TensorDataset], None]] = {
    "plain PyTorch loop, no metrics": plain,
    "burnish Learner (plain renderer)": burnish_learner,
    # What the learner costs before any metric: its loop, events, log and renderer.
    "burnish Learner (plain renderer), no metrics": functools.partial(
        burnish_learner, metrics=list
    ),
    "burnish Learner (dashboard, 120x40)": functools.partial(burnish_learner, renderer="dashboard"),
    "burnish Learner (plain) + CPU, memory, temperature": functools.partial(
        burnish_learner, extra=SAMPLED
    ),
    "burnish Learner (plain) + learning rate, iteration speed": functools.partial(
        burnish_learner, extra=FROM_METADATA
    ),
    # bf16 against bf16: what the learner adds when autocast is on, not what autocast costs.
    "plain PyTorch loop, bf16 autocast": functools.partial(plain, autocast=torch.bfloat16),
    "burnish Learner (plain renderer), bf16": functools.partial(burnish_learner, precision="bf16"),
    "plain loop + TorchMetrics": torchmetrics_loop,
    "Ignite Engine": ignite,
    "Lightning Trainer": lightning,
}


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Peers print progress bars and warnings; keep the table readable."""
    logging.disable(logging.WARNING)
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        yield
    logging.disable(logging.NOTSET)


def main() -> None:
    global CLASSES  # the workload's one setting that every runner reads
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", nargs="*", help="runner names to keep (substring match)")
    parser.add_argument("--classes", type=int, default=CLASSES)
    args = parser.parse_args()
    CLASSES = args.classes
    torch.set_num_threads(1)
    dataset = data()
    runners = {
        name: run
        for name, run in RUNNERS.items()
        if not args.only or any(part in name for part in args.only) or run is plain
    }
    # Wall time is what a person waits for; process CPU time (every thread of this process)
    # is barely moved by other processes on a shared machine, and counts the work of the
    # renderer, logger and sampler threads, which contend for the interpreter lock.
    wall: dict[str, list[float]] = {name: [] for name in runners}
    cpu: dict[str, list[float]] = {name: [] for name in runners}
    with quiet():
        for run in runners.values():
            run(dataset)  # warm-up: imports, allocator, first-call paths
        for _ in range(args.repeats):
            for name, run in runners.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                run(dataset)
                wall[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
    print(
        f"burnish {burnish.__version__}, torch {torch.__version__}, {CLASSES} classes, 1 thread, "
        f"{args.repeats} interleaved repeats, medians"
    )
    print()
    print("| runner | wall s | x plain loop | x plain loop (best run) | CPU s | x plain (CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    walls = {name: statistics.median(samples) for name, samples in wall.items()}
    cpus = {name: statistics.median(samples) for name, samples in cpu.items()}
    # The fastest run of each is the one other processes on the machine disturbed least.
    bests = {name: min(samples) for name, samples in wall.items()}
    plain_name = "plain PyTorch loop, no metrics"
    for name in runners:
        print(
            f"| {name} | {walls[name]:.3f} | {walls[name] / walls[plain_name]:.2f}x | "
            f"{bests[name] / bests[plain_name]:.2f}x | "
            f"{cpus[name]:.3f} | {cpus[name] / cpus[plain_name]:.2f}x |"
        )
    reference = "burnish Learner (plain renderer)"
    if reference in runners:
        print()
        for name in runners:
            if name.startswith("burnish Learner (") and name != reference:
                added_wall = 100 * (walls[name] / walls[reference] - 1)
                added_cpu = 100 * (cpus[name] / cpus[reference] - 1)
                print(f"{name} vs plain renderer: wall {added_wall:+.1f} %, CPU {added_cpu:+.1f} %")


if __name__ == "__main__":
    main()
