"""What the processes of the distributed tests run, and the single-process runs they are compared
with. Top-level functions only: spawned processes import them by name."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.distributed as dist
from sklearn.metrics import f1_score, log_loss
from torch import nn
from torch.utils.data import DataLoader

from burnish import (
    AccuracyMetric,
    AucPrMetric,
    AurocMetric,
    BatchWise,
    BootStrapper,
    ClassificationOutput,
    Classwise,
    ConfusionMatrixMetric,
    FBetaScoreMetric,
    FitResult,
    FunctionMetric,
    HammingScoreMetric,
    Interrupter,
    Learner,
    LearnerBuilder,
    LossMetric,
    MetricCollection,
    MetricEntry,
    MetricMetadata,
    MultiLabelClassificationOutput,
    NonFiniteLossError,
    NumericEntry,
    PerplexityMetric,
    PrecisionMetric,
    RecallMetric,
    Running,
    RunningEpochWise,
    TopKAccuracyMetric,
    derive,
)
from burnish.adaptor import AurocInput, ConfusionStatsInput
from burnish.distributed import StateSync, compute_view, synced
from burnish.metric.base import input_type_of
from burnish.metric.composite import CompositeMetric
from tests.distributed_spawn import exit_now
from tests.learner_fixtures import Batch, Classifier, NullRenderer, dataset, sgd

META = MetricMetadata.fake()
CLASSES = 4
LABELS = 3
ROWS = 80

Rows = list[tuple[int, int]]
# Each process's batches (row ranges), per scenario; every scenario covers rows 0-60. The
# processes' batches of one step are adjacent rows: stepping together, they read one range.
SCENARIOS: dict[str, tuple[Rows, Rows]] = {
    "uneven": ([(0, 16), (25, 37), (40, 55)], [(16, 25), (37, 40), (55, 60)]),
    "rank 1 empty": ([(0, 20), (20, 60)], []),
    "rank 0 empty": ([], [(0, 30), (30, 60)]),
}
# Rows added after a first compute, to check that the processes carry on with their own state.
MORE: tuple[Rows, Rows] = ([(60, 70)], [(70, 80)])


def lockstep(shares: Sequence[Rows]) -> Rows:
    """The batches of one process that steps as the processes do together: its step ``i`` reads
    the rows of every process's batch ``i``, which the scenarios keep adjacent."""
    steps: Rows = []
    for batches in itertools.zip_longest(*shares):
        present = sorted(batch for batch in batches if batch is not None)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(present)), present
        steps.append((present[0][0], present[-1][1]))
    return steps


def data() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    return {
        # Rounded: exact ranking metrics meet ties.
        "logits": (torch.randn(ROWS, CLASSES, generator=generator) * 2).round() / 2,
        "targets": torch.randint(0, CLASSES, (ROWS,), generator=generator),
        "label_scores": torch.rand(ROWS, LABELS, generator=generator),
        "labels": (torch.rand(ROWS, LABELS, generator=generator) > 0.5).long(),
        "scores": torch.rand(ROWS, generator=generator).round(decimals=1),
        "binary": torch.randint(0, 2, (ROWS,), generator=generator),
        "values": torch.randn(ROWS, generator=generator, dtype=torch.float64),
    }


def sorted_values(states: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(states).sort().values


class SummaryMetric:
    """A user's metric with one state per reduction, declared as the built-ins declare theirs."""

    name = "Summary"
    state_reductions: ClassVar[dict[str, StateSync]] = {
        "_total": "sum",
        "_count": "sum",
        "_low": "min",
        "_high": "max",
        "_values": "cat",
        "_sorted": sorted_values,
        "_calibration": "mean",
    }

    def __init__(self, calibration: float = 1.0) -> None:
        self._calibration = torch.tensor(calibration)
        self.clear()

    def update(self, item: torch.Tensor, metadata: MetricMetadata) -> MetricEntry:
        low, high = torch.aminmax(item)
        self._total = self._total + item.sum()
        self._count += item.numel()
        self._low = low if self._low is None else torch.minimum(self._low, low)
        self._high = high if self._high is None else torch.maximum(self._high, high)
        self._values.append(item)
        self._sorted = item if self._sorted is None else torch.cat([self._sorted, item])
        return MetricEntry(self.name, "", "")

    def compute(self) -> MetricEntry:
        view = compute_view(self)
        summary = {
            "total": float(view._total),
            "count": view._count,
            "low": None if view._low is None else float(view._low),
            "high": None if view._high is None else float(view._high),
            "values": torch.cat(view._values).tolist() if view._values else [],
            "sorted": [] if view._sorted is None else view._sorted.tolist(),
            "calibration": float(view._calibration),
        }
        text = json.dumps(summary)
        return MetricEntry(self.name, text, text)

    def clear(self) -> None:
        self._total = torch.zeros((), dtype=torch.float64)
        self._count = 0
        self._low: torch.Tensor | None = None
        self._high: torch.Tensor | None = None
        self._values: list[torch.Tensor] = []
        self._sorted: torch.Tensor | None = None


def _probabilities(item: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return item.targets, item.predictions.softmax(1)


def _labels(item: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return item.targets, item.predictions.argmax(1)


def _thresholded(item: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return item.targets, item.predictions > 0.5


def multiclass_metrics() -> MetricCollection:
    loss = LossMetric()
    precision, recall = PrecisionMetric.multiclass(), RecallMetric.multiclass(reduction="micro")
    per_class = PrecisionMetric.multiclass(reduction="none")
    auroc = AurocMetric.multiclass(softmax=True)
    classes = list(range(CLASSES))
    # Arrays of two dtypes and shapes, gathered whatever each process's share.
    log_loss_metric = FunctionMetric(
        log_loss, arrays=_probabilities, labels=classes, name="Log loss", higher_is_better=False
    )
    f1_by_class = FunctionMetric(
        f1_score, arrays=_labels, average=None, labels=classes, zero_division=0.0
    )
    return MetricCollection(
        [
            loss,
            AccuracyMetric(),
            TopKAccuracyMetric(2),
            precision,
            recall,
            FBetaScoreMetric.multiclass(reduction="weighted", beta=2.0),
            per_class,
            PerplexityMetric(pad_token=0),
            ConfusionMatrixMetric.multiclass(),
            auroc,
            AucPrMetric.multiclass(bins=20, softmax=True),
            AurocMetric.multiclass("micro", bins=16, softmax=True),
            # Composites read their operands, which are registered too and sync once.
            derive(2 * precision * recall / (precision + recall), name="Derived F1"),
            derive(auroc - precision, name="AUROC minus precision"),
            Classwise(per_class, [f"class {i}" for i in range(CLASSES)], name="Named precision"),
            log_loss_metric,
            Classwise(f1_by_class, name="F1 by class"),
            # Windows of totals, of a moving average and of inputs replayed.
            Running(precision, 2),
            Running(loss, alpha=0.6, decayed="totals"),
            Running(log_loss_metric, 2),
            BatchWise(LossMetric(), name="Batch loss"),
            RunningEpochWise(AccuracyMetric(), name="Run accuracy"),
        ]
    )


def multilabel_metrics() -> MetricCollection:
    return MetricCollection(
        [
            HammingScoreMetric(),
            PrecisionMetric.multilabel(reduction="micro"),
            RecallMetric.multilabel(),
            AurocMetric.multilabel(),
            AucPrMetric.multilabel(bins=10),
        ],
        prefix="multilabel/",
    )


def binary_metrics() -> list[Any]:
    """Metrics used one by one, as in a user's own loop: each ``compute()`` syncs itself."""
    return [
        PrecisionMetric.binary(),
        FBetaScoreMetric.binary(beta=0.5),
        AurocMetric.binary(),
        AucPrMetric.binary(),
        AurocMetric.binary(bins=11, name="Binned AUROC"),
        ConfusionMatrixMetric.binary(name="Binary Confusion Matrix"),
        derive(1 - RecallMetric.binary(), name="Binary miss rate"),
        Running(PrecisionMetric.binary(), 2, name="Binary running precision"),
        BatchWise(AurocMetric.binary(), name="Binary batch AUROC"),
        FunctionMetric(f1_score, arrays=_thresholded, name="Binary sklearn F1"),
    ]


class Families:
    """Every metric family, fed with row ranges of :func:`data`."""

    def __init__(self, calibration: float = 1.0) -> None:
        self.data = data()
        self.multiclass = multiclass_metrics()
        self.multilabel = multilabel_metrics()
        self.binary = binary_metrics()
        self.summary = SummaryMetric(calibration)

    def feed(self, rows: Rows) -> None:
        d = self.data
        for start, stop in rows:
            part = slice(start, stop)
            logits, targets = d["logits"][part], d["targets"][part]
            loss = nn.functional.cross_entropy(logits, targets)
            self.multiclass.update(ClassificationOutput(loss, logits, targets))
            scores, labels = d["label_scores"][part], d["labels"][part]
            self.multilabel.update(MultiLabelClassificationOutput(loss, scores, labels))
            binary = (d["scores"][part], d["binary"][part])
            for metric in self.binary:
                kind = AurocInput if input_type_of(metric) is AurocInput else ConfusionStatsInput
                metric.update(kind(*binary), META)
            self.summary.update(d["values"][part], META)

    def compute(self) -> dict[str, str]:
        """Every metric's epoch entry, serialised, by name."""
        entries = {**self.multiclass.compute(), **self.multilabel.compute()}
        entries.update({metric.name: metric.compute() for metric in self.binary})
        entries[self.summary.name] = self.summary.compute()
        return {name: entry.serialized for name, entry in entries.items()}


def reference(rows: Rows) -> dict[str, str]:
    """The epoch entries of one process that saw ``rows`` (outside any process group)."""
    families = Families(calibration=2.0)  # the mean of the processes' 1.0 and 3.0
    families.feed(rows)
    return families.compute()


def _calibration(rank: int) -> float:
    return 1.0 + 2.0 * rank


def _counted(function: Callable[..., Any], calls: list[int]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return function(*args, **kwargs)

    return counted


def _counting_collectives() -> Callable[[], int]:
    """Count this process's collectives from now on."""
    calls = [0]
    for name in ("all_reduce", "all_gather", "broadcast", "all_gather_object", "barrier"):
        setattr(dist, name, _counted(getattr(dist, name), calls))
    return lambda: calls[0]


def _error(action: Callable[[], object]) -> str:
    try:
        action()
    except ValueError as error:
        return str(error)
    return "no error"


def sync_every_family(rank: int) -> dict[str, Any]:
    """Syncs every metric family in each scenario and checks the semantics of a sync."""
    out: dict[str, Any] = {}
    for scenario, shares in SCENARIOS.items():
        families = Families(_calibration(rank))
        families.feed(shares[rank])
        out[scenario] = families.compute()
        if scenario == "uneven":
            out["twice"] = families.compute()
            out["collection values"] = families.multiclass.values()
            accuracy: Any = families.multiclass["Accuracy"]
            out["local accuracy"] = accuracy.running_value().value
            accuracy.sync_on_compute = False
            out["unsynced accuracy"] = accuracy.compute().serialized
            accuracy.sync_on_compute = True
            families.feed(MORE[rank])
            out["continued"] = families.compute()
            out["shared operands"] = _shared_operands(families.multiclass)
            out["collectives"] = _collectives(families)
    out["bootstrap"] = {
        scenario: _bootstrap_values(bootstrapped(shares, rank))
        for scenario, shares in SCENARIOS.items()
    }
    out["groups"] = _sync_over_groups(rank)
    out["nan"] = _nan_summary(rank)
    out["input error"] = _input_error(rank)
    out["shape error"] = _shape_error(rank)
    return out


def _collectives(families: Families) -> dict[str, int]:
    """The collectives of a sync: of the collection, of its metrics but the composites, and of
    the user's metric."""
    plain = {k: m for k, m in families.multiclass.items() if not isinstance(m, CompositeMetric)}
    syncs: dict[str, Callable[[], object]] = {
        "multiclass": families.multiclass.compute,
        "without composites": MetricCollection(plain).compute,
        "summary": families.summary.compute,
    }
    count = _counting_collectives()
    counts: dict[str, int] = {}
    for name, sync in syncs.items():
        before = count()
        sync()
        counts[name] = count() - before
    return counts


def _shared_operands(collection: MetricCollection) -> dict[str, bool]:
    """Whether the composites of a synced collection read the copy of their operands that the
    collection holds, synced once."""
    view = collection.synced()
    precision = view["Macro Precision"]
    readers = ("Derived F1", "AUROC minus precision", "Running Macro Precision")
    return {
        "synced": precision is not collection["Macro Precision"],
        "shared": all(
            any(operand is precision for operand in _operands(view[name])) for name in readers
        ),
    }


def _operands(metric: object) -> list[object]:
    assert isinstance(metric, CompositeMetric)
    return list(metric.operands())


BOOTSTRAPS = 5


def bootstrapped(shares: Sequence[Rows], rank: int) -> BootStrapper:
    """Process ``rank``'s bootstrapped accuracy over its share, from a generator that first drew
    the resamples of the earlier ranks' shares: together, the processes draw the resamples that
    one process fed every share in turn draws."""
    d = data()

    def feed(metric: BootStrapper, share: Rows) -> None:
        for start, stop in share:
            logits, targets = d["logits"][start:stop], d["targets"][start:stop]
            metric.update(ClassificationOutput(torch.tensor(0.0), logits, targets), META)

    generator = torch.Generator().manual_seed(3)
    earlier = BootStrapper(AccuracyMetric(), BOOTSTRAPS, generator=generator)
    for share in shares[:rank]:
        feed(earlier, share)
    metric = BootStrapper(AccuracyMetric(), BOOTSTRAPS, generator=generator)
    feed(metric, shares[rank])
    return metric


def _bootstrap_values(metric: BootStrapper) -> dict[str, Any]:
    """The copies' values, synced, and the epoch entry (which syncs by itself)."""
    return {"raw": synced(metric).bootstrap().raw, "entry": metric.compute().serialized}


def _sync_over_groups(rank: int) -> dict[str, float]:
    """A metric synced over a group of rank 0 alone, then over a group of both ranks."""
    alone = dist.new_group([0])
    both = dist.new_group([0, 1])
    families = Families()
    families.feed(SCENARIOS["uneven"][rank])
    accuracy: Any = families.multiclass["Accuracy"]
    values: dict[str, float] = {}
    if rank == 0:
        values["alone"] = _value(synced(accuracy, process_group=alone).compute())
    accuracy.process_group = both
    values["both"] = _value(accuracy.compute())
    return values


def _value(entry: MetricEntry) -> float:
    return NumericEntry.deserialize(entry.serialized).value


def _nan_summary(rank: int) -> dict[str, Any]:
    metric = SummaryMetric()
    values = [1.0, 2.0] if rank == 0 else [math.nan, 5.0]
    metric.update(torch.tensor(values, dtype=torch.float64), META)
    summary: dict[str, Any] = json.loads(metric.compute().serialized)
    return summary


def _input_error(rank: int) -> str:
    """Rank 1 alone gives a class index out of range: both ranks report it."""
    metric = AccuracyMetric()
    targets = torch.tensor([0, 1, 2]) if rank == 0 else torch.tensor([0, 1, 7])
    metric.update(ClassificationOutput(torch.tensor(0.0), torch.eye(3), targets), META)
    return _error(metric.compute)


def _shape_error(rank: int) -> str:
    """The ranks' inputs disagree on the number of classes: both ranks say so."""
    metric = PrecisionMetric.multiclass()
    classes = 3 + rank
    scores = torch.eye(classes)
    metric.update(ClassificationOutput(torch.tensor(0.0), scores, torch.arange(classes)), META)
    return _error(metric.compute)


# -- the learner --------------------------------------------------------------------------------

TRAIN_ITEMS, VALID_ITEMS, BATCH = 96, 41, 16


class ShardUnion:
    """One process's batches over what two DDP processes read together: batch ``i`` is both
    ranks' batch ``i`` under ``DistributedSampler(shuffle=True)``, so that one step on it
    averages the same gradients as DDP."""

    def __init__(self, size: int, batch_size: int) -> None:
        self.size, self.batch_size, self.epoch = size, batch_size, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        generator = torch.Generator().manual_seed(self.epoch)
        order: list[int] = torch.randperm(self.size, generator=generator).tolist()
        shards = [order[rank::2] for rank in range(2)]
        for start in range(0, len(shards[0]), self.batch_size):
            yield [
                *shards[0][start : start + self.batch_size],
                *shards[1][start : start + self.batch_size],
            ]

    def __len__(self) -> int:
        return math.ceil(self.size / (2 * self.batch_size))


def learner(
    directory: Path, *, interrupter: Interrupter | None = None, resume: bool = False
) -> tuple[Learner[Classifier], NullRenderer]:
    torch.manual_seed(0)
    model = Classifier(dropout=0.0)
    renderer = NullRenderer()
    built = LearnerBuilder(directory)
    for register in (built.metric_train_numeric, built.metric_valid_numeric):
        register(LossMetric())
        register(AccuracyMetric())
        register(PrecisionMetric.multiclass())
        register(AurocMetric.multiclass(softmax=True))
    built = built.num_epochs(2).renderer(renderer).with_file_checkpointer().summary()
    if interrupter is not None:
        built = built.with_interrupter(interrupter)
    if resume:
        built = built.resume()
    return built.build(model, sgd(model)), renderer


def train_loader() -> DataLoader[Batch]:
    """As a user writes it; in a distributed run the learner gives it a DistributedSampler."""
    return DataLoader(dataset(TRAIN_ITEMS, seed=0), batch_size=BATCH, shuffle=True)


def valid_loader() -> DataLoader[Batch]:
    """41 items: the processes' shares differ (21 and 20)."""
    return DataLoader(dataset(VALID_ITEMS, seed=1), batch_size=8)


def outcome(result: FitResult[Classifier]) -> dict[str, Any]:
    return {
        "reason": result.reason,
        "values": {
            split.value: {name: result.value(split, name) for name in entries}
            for split, entries in result.metrics.items()
        },
        "weights": {key: value.clone() for key, value in result.model.state_dict().items()},
    }


def reference_fit(directory: Path) -> dict[str, Any]:
    """One process over the same samples in the same steps as two DDP processes."""
    learn, _ = learner(directory)
    union = DataLoader(dataset(TRAIN_ITEMS, seed=0), batch_sampler=ShardUnion(TRAIN_ITEMS, BATCH))
    with contextlib.redirect_stdout(io.StringIO()):
        fitted = outcome(learn.fit(union, valid_loader()))
        test = learn.evaluate(valid_loader())
    fitted["test"] = {name: _value(entry) for name, entry in test.items()}
    return fitted


def fit_in_ddp(rank: int, directory: Path) -> dict[str, Any]:
    """A 2-epoch fit and a test evaluation, each rank writing (if at all) to its own directory;
    then a fit stopped on rank 0 alone, mid-epoch, and resumed; then a fit whose loss turns
    non-finite on rank 1 alone."""
    learn, renderer = learner(directory / f"run-{rank}")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        fitted = outcome(learn.fit(train_loader(), valid_loader()))
        test = learn.evaluate(valid_loader())
    fitted["test"] = {name: _value(entry) for name, entry in test.items()}
    fitted["events"] = len(renderer.events)
    fitted["printed"] = printed.getvalue()
    fitted["resumed"] = _stopped_and_resumed(rank, directory / "shared")
    fitted["nonfinite"] = _nonfinite_on_rank_1(rank, directory / f"nan-{rank}")
    return fitted


def _stopped_and_resumed(rank: int, directory: Path) -> dict[str, Any]:
    interrupter = Interrupter()
    learn, _ = learner(directory, interrupter=interrupter)
    # Rank 0 alone is asked to stop, as by a key press on its dashboard, in epoch 2.
    learn.model.on_train_step = lambda step: interrupter.stop() if rank == 0 and step == 4 else None
    with contextlib.redirect_stdout(io.StringIO()):
        stopped = learn.fit(train_loader(), valid_loader())
        resumed, _ = learner(directory, resume=True)
        result = outcome(resumed.fit(train_loader(), valid_loader()))
    result["stopped"] = {"reason": stopped.reason, "iteration": learn.iteration}
    return result


def _nonfinite_on_rank_1(rank: int, directory: Path) -> str:
    """Rank 1's weights turn NaN in its second step: every rank raises, none is left waiting."""
    learn, _ = learner(directory)
    weight: Any = learn.model.net[0].weight

    def poison(step: int) -> None:
        if rank == 1 and step == 2:
            with torch.no_grad():
                weight.fill_(math.nan)

    learn.model.on_train_step = poison
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            learn.fit(train_loader(), valid_loader())
    except NonFiniteLossError as error:
        return f"NonFiniteLossError: {error}"
    return "completed"


def fit_then_die(rank: int, directory: Path) -> str:
    """Rank 1 dies in its fourth step; rank 0 must fail with an error, not hang."""
    learn, _ = learner(directory / f"run-{rank}")
    learn.model.on_train_step = lambda step: exit_now() if rank == 1 and step == 4 else None
    with contextlib.redirect_stdout(io.StringIO()):
        learn.fit(train_loader(), valid_loader())
    return "completed"
