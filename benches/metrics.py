"""Classification metrics: burnish against TorchMetrics and scikit-learn, on the CPU.

Run with ``python benches/metrics.py``; prints markdown tables. Every timing is the best of
several interleaved repetitions (the minimum is the least disturbed by other processes).

1. Accuracy + macro Precision + Recall + F1 + AUROC over an epoch (batch 256, 200 batches;
   10 and 100 classes): update every step, then compute. burnish is fed as the learner feeds it:
   one ClassificationOutput per step, each metric updated with the output adapted through
   StepAdaptations (adapted once per input type, derived work memoised per step). TorchMetrics
   runs a MetricCollection of the same configuration (compute groups on).
2. Exact AUROC of 10^6 samples (binary; multiclass with 10 classes): compute time of the metric
   objects (burnish, TorchMetrics) and of scikit-learn's roc_auc_score.
3. Shared work: Precision + Recall + F1 together against Precision alone (update per step).
4. Binned AUROC (1000 bins): state bytes after 10^4 and 10^6 samples.
5. The other families (``--families``; all by default): regression (MAE, MSE, RMSE, R², explained
   variance together), Matthews correlation, multilabel exact match, sequence (CER, WER, BLEU,
   ROUGE-L) and image (PSNR, SSIM, MS-SSIM, Dice) metrics over an epoch, burnish step by step
   and in the learner's blocks against TorchMetrics, in CPU time of the thread, medians of
   interleaved repetitions (see ``benches/families.py``). ``--families classification`` runs
   the tables above alone.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
import torchmetrics
from families import (
    classification_workloads,
    image_workloads,
    print_rows,
    regression_workloads,
    sequence_workloads,
)
from sklearn.metrics import roc_auc_score

from burnish.adaptor import AurocInput, StepAdaptations
from burnish.metric import (
    AccuracyMetric,
    AurocMetric,
    FBetaScoreMetric,
    MetricMetadata,
    PrecisionMetric,
    RecallMetric,
    resolve_entries,
)
from burnish.output import ClassificationOutput

META = MetricMetadata.fake()


def best_of(repeats: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeats))


def burnish_metrics(num_classes: int) -> list[object]:
    return [
        AccuracyMetric(),
        PrecisionMetric.multiclass(reduction="macro"),
        RecallMetric.multiclass(reduction="macro"),
        FBetaScoreMetric.multiclass(reduction="macro"),
        AurocMetric.multiclass("macro", softmax=True),
    ]


def torchmetrics_collection(num_classes: int) -> torchmetrics.MetricCollection:
    task = {"task": "multiclass", "num_classes": num_classes}
    return torchmetrics.MetricCollection(
        {
            "accuracy": torchmetrics.Accuracy(**task),  # type: ignore[arg-type]
            "precision": torchmetrics.Precision(**task, average="macro"),  # type: ignore[arg-type]
            "recall": torchmetrics.Recall(**task, average="macro"),  # type: ignore[arg-type]
            "f1": torchmetrics.F1Score(**task, average="macro"),  # type: ignore[arg-type]
            "auroc": torchmetrics.AUROC(**task, average="macro"),  # type: ignore[arg-type]
        }
    )


def run_burnish(
    metrics: list[object], batches: list[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[float, float]:
    for metric in metrics:
        metric.clear()  # type: ignore[attr-defined]
    kinds = [metric.input_type for metric in metrics]  # type: ignore[attr-defined]
    loss = torch.zeros(())
    start = time.perf_counter()
    for scores, targets in batches:
        step = StepAdaptations(ClassificationOutput(loss, scores, targets))
        for metric, kind in zip(metrics, kinds, strict=True):
            metric.update(step.get(kind), META)  # type: ignore[attr-defined]
    middle = time.perf_counter()
    entries = [metric.compute() for metric in metrics]  # type: ignore[attr-defined]
    resolve_entries(entries)
    _ = [entry.formatted for entry in entries]
    return middle - start, time.perf_counter() - middle


def run_torchmetrics(
    collection: torchmetrics.MetricCollection, batches: list[tuple[torch.Tensor, torch.Tensor]]
) -> tuple[float, float]:
    collection.reset()
    start = time.perf_counter()
    for scores, targets in batches:
        collection.update(scores, targets)
    middle = time.perf_counter()
    values = collection.compute()
    _ = {name: float(value) for name, value in values.items()}
    return middle - start, time.perf_counter() - middle


def epoch_bench(repeats: int, steps: int) -> list[str]:
    rows = []
    for num_classes in (10, 100):
        generator = torch.Generator().manual_seed(num_classes)
        batches = [
            (
                torch.randn(256, num_classes, generator=generator),
                torch.randint(0, num_classes, (256,), generator=generator),
            )
            for _ in range(steps)
        ]
        ours = burnish_metrics(num_classes)
        theirs = torchmetrics_collection(num_classes)
        run_burnish(ours, batches[:5])
        run_torchmetrics(theirs, batches[:5])
        ours_update = ours_compute = theirs_update = theirs_compute = float("inf")
        for _ in range(repeats):
            update, compute = run_burnish(ours, batches)
            ours_update, ours_compute = min(ours_update, update), min(ours_compute, compute)
            update, compute = run_torchmetrics(theirs, batches)
            theirs_update, theirs_compute = min(theirs_update, update), min(theirs_compute, compute)
        ours_total, theirs_total = ours_update + ours_compute, theirs_update + theirs_compute
        rows.append(
            f"| {num_classes} classes, {torch.get_num_threads()} thread(s) | "
            f"{1e6 * ours_update / steps:.0f} | {1e6 * theirs_update / steps:.0f} | "
            f"{1e3 * ours_compute:.1f} | {1e3 * theirs_compute:.1f} | "
            f"{1e3 * ours_total:.0f} | {1e3 * theirs_total:.0f} | "
            f"**{theirs_total / ours_total:.2f}x** |"
        )
    return rows


def auroc_bench(repeats: int, samples: int) -> list[str]:
    generator = torch.Generator().manual_seed(0)
    return [
        _auroc_row(task, classes, samples, repeats, generator)
        for task, classes in (("binary", 1), ("multiclass", 10))
    ]


def _auroc_row(
    task: str, classes: int, samples: int, repeats: int, generator: torch.Generator
) -> str:
    if task == "binary":
        targets = torch.randint(0, 2, (samples,), generator=generator)
        scores = torch.sigmoid(torch.randn(samples, generator=generator) + targets)
        ours: AurocMetric = AurocMetric.binary()
        theirs = torchmetrics.AUROC(task="binary")
    else:
        targets = torch.randint(0, classes, (samples,), generator=generator)
        logits = torch.randn(samples, classes, generator=generator)
        logits[torch.arange(samples), targets] += 1.0
        scores = logits.softmax(dim=1)  # scikit-learn wants probabilities
        ours = AurocMetric.multiclass("macro")
        theirs = torchmetrics.AUROC(task="multiclass", num_classes=classes, average="macro")
    chunks = list(zip(scores.split(4096), targets.split(4096), strict=True))
    y_true, y_score = targets.numpy(), scores.numpy()

    def ours_compute() -> float:
        ours.clear()
        for batch_scores, batch_targets in chunks:
            ours.update(_auroc_input(batch_scores, batch_targets), META)
        start = time.perf_counter()
        ours.running_value()
        return time.perf_counter() - start

    def theirs_compute() -> float:
        theirs.reset()
        for batch_scores, batch_targets in chunks:
            theirs.update(batch_scores, batch_targets)
        start = time.perf_counter()
        theirs.compute()
        return time.perf_counter() - start

    def sklearn_compute() -> float:
        start = time.perf_counter()
        _sk(task, y_true, y_score)
        return time.perf_counter() - start

    ours_s = best_of(repeats, ours_compute)
    theirs_s = best_of(repeats, theirs_compute)
    sklearn_s = best_of(repeats, sklearn_compute)
    values = (ours.running_value().value, float(theirs.compute()), _sk(task, y_true, y_score))
    return (
        f"| {task} ({classes} class{'es' if classes > 1 else ''}), {samples:.0e} samples | "
        f"{1e3 * ours_s:.0f} | {1e3 * theirs_s:.0f} | {1e3 * sklearn_s:.0f} | "
        f"**{theirs_s / ours_s:.2f}x** | **{sklearn_s / ours_s:.2f}x** | "
        f"{values[0]:.6f} / {values[1]:.6f} / {values[2]:.6f} |"
    )


def _sk(task: str, y_true: np.ndarray, y_score: np.ndarray) -> float:
    if task == "binary":
        return float(roc_auc_score(y_true, y_score))
    return float(roc_auc_score(y_true, y_score, multi_class="ovr", average="macro"))


def _auroc_input(scores: torch.Tensor, targets: torch.Tensor) -> AurocInput:
    return AurocInput(scores, targets)


def shared_work_bench(repeats: int, steps: int) -> list[str]:
    generator = torch.Generator().manual_seed(1)
    return [_shared_row(num_classes, repeats, steps, generator) for num_classes in (10, 100)]


def _shared_row(num_classes: int, repeats: int, steps: int, generator: torch.Generator) -> str:
    batches = [
        (
            torch.randn(256, num_classes, generator=generator),
            torch.randint(0, num_classes, (256,), generator=generator),
        )
        for _ in range(steps)
    ]
    alone: list[object] = [PrecisionMetric.multiclass()]
    together: list[object] = [
        PrecisionMetric.multiclass(),
        RecallMetric.multiclass(),
        FBetaScoreMetric.multiclass(),
    ]
    task = {"task": "multiclass", "num_classes": num_classes, "average": "macro"}
    tm_alone = torchmetrics.MetricCollection([torchmetrics.Precision(**task)])  # type: ignore[arg-type]
    tm_together = torchmetrics.MetricCollection(
        [
            torchmetrics.Precision(**task),  # type: ignore[arg-type]
            torchmetrics.Recall(**task),  # type: ignore[arg-type]
            torchmetrics.F1Score(**task),  # type: ignore[arg-type]
        ]
    )
    alone_s = best_of(repeats, lambda: run_burnish(alone, batches)[0])
    together_s = best_of(repeats, lambda: run_burnish(together, batches)[0])
    tm_alone_s = best_of(repeats, lambda: run_torchmetrics(tm_alone, batches)[0])
    tm_together_s = best_of(repeats, lambda: run_torchmetrics(tm_together, batches)[0])
    return (
        f"| {num_classes} classes | {1e6 * alone_s / steps:.0f} | "
        f"{1e6 * together_s / steps:.0f} | **{together_s / alone_s:.2f}x** | "
        f"{1e6 * tm_alone_s / steps:.0f} | {1e6 * tm_together_s / steps:.0f} | "
        f"{tm_together_s / tm_alone_s:.2f}x |"
    )


def binned_state_bench() -> list[str]:
    rows = []
    for samples in (10**4, 10**6):
        generator = torch.Generator().manual_seed(2)
        metric = AurocMetric.multiclass(bins=1000, softmax=True)
        exact = AurocMetric.multiclass(softmax=True)
        for start in range(0, samples, 10**4):
            size = min(10**4, samples - start)
            scores = torch.randn(size, 10, generator=generator)
            targets = torch.randint(0, 10, (size,), generator=generator)
            item = _auroc_input(scores, targets)
            metric.update(item, META)
            exact.update(item, META)
        rows.append(
            f"| {samples:.0e} | {metric.state_nbytes:,} | {exact.state_nbytes:,} | "
            f"{metric.running_value().value:.4f} | {exact.running_value().value:.4f} |"
        )
    return rows


FAMILIES = ("classification", "regression", "matthews", "exact-match", "sequence", "image")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--samples", type=int, default=10**6)
    parser.add_argument(
        "--families", nargs="+", choices=FAMILIES, default=FAMILIES, help="tables to run"
    )
    parser.add_argument("--device", default="cpu", help="the other families' device")
    args = parser.parse_args()
    if "classification" in args.families:
        classification_tables(args.repeats, args.steps, args.samples)
    others = [family for family in args.families if family != "classification"]
    if others:
        other_families(others, args.repeats, torch.device(args.device))


def classification_tables(repeats: int, steps: int, samples: int) -> None:
    default_threads = torch.get_num_threads()
    print("## Epoch of Accuracy + macro Precision + Recall + F1 + AUROC (batch 256)\n")
    print(
        "| workload | burnish update µs/step | TorchMetrics update µs/step | burnish compute ms "
        "| TorchMetrics compute ms | burnish total ms | TorchMetrics total ms | speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        for row in epoch_bench(repeats, steps):
            print(row)
    torch.set_num_threads(1)

    print("\n## Exact AUROC compute (1 thread)\n")
    print(
        "| workload | burnish ms | TorchMetrics ms | scikit-learn ms | vs TorchMetrics "
        "| vs scikit-learn | values (burnish / TM / sklearn) |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in auroc_bench(max(1, repeats // 2), samples):
        print(row)

    print("\n## Shared work: Precision + Recall + F1 vs Precision alone (update, 1 thread)\n")
    print(
        "| workload | burnish P µs/step | burnish P+R+F1 µs/step | burnish ratio "
        "| TorchMetrics P µs/step | TorchMetrics P+R+F1 µs/step | TorchMetrics ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for row in shared_work_bench(repeats, steps):
        print(row)

    print("\n## Binned AUROC (1000 bins, 10 classes): state bytes\n")
    print("| samples | binned state bytes | exact state bytes | binned AUROC | exact AUROC |")
    print("|---|---|---|---|---|")
    for row in binned_state_bench():
        print(row)
    torch.set_num_threads(default_threads)


def other_families(families: list[str], repeats: int, device: torch.device) -> None:
    """Their workloads: batches of 256 (classification, regression) over 200 steps, 32
    sentences over 40 steps, 32 images of 64 x 64 over 20 steps (MS-SSIM: 8 of 192 x 192
    over 4)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    workloads = []
    if "regression" in families:
        workloads += regression_workloads(200, 256, device)
    if "matthews" in families or "exact-match" in families:
        matthews, exact_match = classification_workloads(200, 256, device)
        workloads += [matthews] if "matthews" in families else []
        workloads += [exact_match] if "exact-match" in families else []
    if "sequence" in families:
        workloads += sequence_workloads(40, 32, device)
    if "image" in families:
        workloads += image_workloads(20, 32, 64, device, ms_steps=4, ms_batch=8)
    print(
        f"\n## Other families: an epoch of updates + compute ({device}, 1 thread, "
        f"median of {repeats})\n"
    )
    print_rows(workloads, repeats, device)
    torch.set_num_threads(threads)


if __name__ == "__main__":
    main()
