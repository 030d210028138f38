"""Metrics updated with several steps at once give what step-by-step updates give."""

from __future__ import annotations

import gc
import math
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from burnish import (
    AccuracyMetric,
    AucPrMetric,
    AurocMetric,
    ClassificationOutput,
    ConfusionMatrixMetric,
    FBetaScoreMetric,
    HammingScoreMetric,
    LearnerBuilder,
    LearningRateMetric,
    LossMetric,
    Metric,
    MultiLabelClassificationOutput,
    Numeric,
    PerplexityMetric,
    PrecisionMetric,
    RecallMetric,
    Split,
    TopKAccuracyMetric,
    read_run,
)
from burnish.adaptor import AccuracyInput, AurocInput, ConfusionStatsInput, LossInput
from burnish.metric import confusion as confusion_metrics
from burnish.metric import confusion_state
from burnish.metric.base import MetricMetadata, input_type_of
from burnish.metric.block import BlockMetric, InputBlock, RaggedBlockError
from burnish.metric.collection import MetricCollection
from burnish.metric.entry import (
    BlockEntries,
    LogText,
    MetricEntry,
    NumericEntry,
    StepNumbers,
    Text,
    read_with_entries,
    resolve_entries,
)
from burnish.metric.host import transfer_count
from burnish.processor.bus import Unread
from burnish.processor.events import StepsEvent
from burnish.processor.read import PendingStep, UnreadSteps
from burnish.processor.split import BlockLimits, RegisteredMetric, SplitMetrics
from tests.learner_fixtures import Classifier, NullRenderer, loaders


def _multiclass_metrics() -> list[Metric[Any]]:
    return [
        LossMetric(),
        AccuracyMetric(),
        AccuracyMetric(pad_token=0, name="Padded accuracy"),
        TopKAccuracyMetric(2),
        TopKAccuracyMetric(3, pad_token=1, name="Padded top-3"),
        PerplexityMetric(),
        PerplexityMetric(pad_token=2, name="Padded perplexity"),
        ConfusionMatrixMetric.multiclass(),
        PrecisionMetric.multiclass(),
        RecallMetric.multiclass(reduction="weighted"),
        FBetaScoreMetric.multiclass(top_k=2, reduction="none", beta=2.0),
        PrecisionMetric.multiclass(reduction="micro", name="Micro precision"),
        AurocMetric.multiclass(softmax=True),
        AurocMetric.multiclass(bins=9, softmax=True, name="Binned AUROC"),
        AucPrMetric.multiclass(average="weighted", softmax=True),
        # A composite: its operands update step by step, beside the blocks.
        2 * RecallMetric.multiclass(name="Recall operand"),
    ]


def _multilabel_metrics() -> list[Metric[Any]]:
    return [
        LossMetric(),
        PrecisionMetric.multilabel(0.4, sigmoid=True),
        RecallMetric.multilabel(reduction="micro", sigmoid=True),
        FBetaScoreMetric.multilabel(reduction="none", sigmoid=True),
        AurocMetric.multilabel(),
        AucPrMetric.multilabel(bins=5, sigmoid=True),
        HammingScoreMetric(0.4, sigmoid=True),
    ]


def _texts(entries: dict[str, MetricEntry]) -> dict[str, tuple[str, str]]:
    return {name: (entry.formatted, entry.serialized) for name, entry in entries.items()}


def _assert_same(
    block: dict[str, MetricEntry], stepwise: dict[str, MetricEntry], texts: frozenset[str]
) -> None:
    """The entries are the same: their texts, and the numbers of all but the ``texts``
    metrics'."""
    assert block.keys() == stepwise.keys()
    for name, entry in block.items():
        if name in texts:
            continue
        got, expected = entry.numeric, stepwise[name].numeric
        assert (got.count, got.kind) == (expected.count, expected.kind), name
        assert got.value == pytest.approx(expected.value, rel=1e-9, abs=1e-12, nan_ok=True), name
    assert _texts(block) == _texts(stepwise)


def _read_block(collection: MetricCollection, outputs: Sequence[Any]) -> StepsEvent:
    """The steps updated as the processor updates a block of them, and read as it reads one."""
    metadata = [MetricMetadata.fake()] * len(outputs)
    plan = collection.plan
    columns = plan.update_columns(outputs, metadata, [plan.update_moment(m) for m in metadata])
    steps = [PendingStep(None, 0, step, (), 0.0, (), None) for step in range(len(outputs))]
    numeric = [True if isinstance(metric, Numeric) else None for _, metric in collection.items()]
    return UnreadSteps(Split.TRAIN, 1, 1, None, steps, columns, numeric).read()


def _check_blocks_match_steps(
    make: Callable[[], list[Metric[Any]]], outputs: list[Any], cuts: list[int]
) -> None:
    """Every step's numbers and the last step's texts of each block are those of step-by-step
    updates; the blocks' values reach the host in one transfer each."""
    stepwise, blocked = MetricCollection(make()), MetricCollection(make())
    texts = frozenset(name for name, metric in blocked.items() if not isinstance(metric, Numeric))
    expected = [stepwise.update(output) for output in outputs]
    for start, end in zip([0, *cuts], [*cuts, len(outputs)], strict=True):
        if start == end:
            continue  # a cut past the last step
        before = transfer_count()
        event = _read_block(blocked, outputs[start:end])
        assert transfer_count() == before + 1, "a block was not read in one transfer"
        for name, column in event.numbers.items():
            for step, got in enumerate(map(column.entry, range(len(column)))):
                want = expected[start + step][name].numeric
                assert (got.count, got.kind) == (want.count, want.kind), name
                assert got.value == pytest.approx(want.value, rel=1e-9, abs=1e-12, nan_ok=True)
        latest = {update.entry.name: update.entry for update in event.latest}
        _assert_same(latest, expected[end - 1], texts)
    _assert_same(blocked.compute(), stepwise.compute(), texts)


def _cuts(draw: st.DrawFn, steps: int) -> list[int]:
    return sorted(set(draw(st.lists(st.integers(1, max(1, steps - 1)), max_size=4))))


@st.composite
def multiclass_steps(draw: st.DrawFn) -> tuple[list[ClassificationOutput], list[int]]:
    classes = draw(st.integers(3, 12))
    steps = draw(st.integers(1, 9))
    seed = draw(st.integers(0, 2**16))
    generator = torch.Generator().manual_seed(seed)
    outputs = []
    for _ in range(steps):
        size = draw(st.integers(1, 17))
        scores = torch.randn(size, classes, generator=generator)
        if draw(st.booleans()):
            scores = scores.round()  # ties
        targets = torch.randint(0, classes, (size,), generator=generator)
        loss = torch.rand((), generator=generator)
        outputs.append(ClassificationOutput(loss, scores, targets))
    return outputs, _cuts(draw, steps)


@st.composite
def multilabel_steps(draw: st.DrawFn) -> tuple[list[MultiLabelClassificationOutput], list[int]]:
    labels = draw(st.integers(1, 6))
    steps = draw(st.integers(1, 9))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    outputs = []
    for _ in range(steps):
        size = draw(st.integers(1, 17))
        scores = torch.randn(size, labels, generator=generator)
        targets = torch.randint(0, 2, (size, labels), generator=generator)
        loss = torch.rand((), generator=generator)
        outputs.append(MultiLabelClassificationOutput(loss, scores, targets))
    return outputs, _cuts(draw, steps)


@settings(max_examples=60, deadline=None)
@given(multiclass_steps())
def test_multiclass_blocks_give_the_entries_of_single_steps(
    case: tuple[list[ClassificationOutput], list[int]],
) -> None:
    outputs, cuts = case
    _check_blocks_match_steps(_multiclass_metrics, outputs, cuts)


@settings(max_examples=40, deadline=None)
@given(multilabel_steps())
def test_multilabel_blocks_give_the_entries_of_single_steps(
    case: tuple[list[MultiLabelClassificationOutput], list[int]],
) -> None:
    outputs, cuts = case
    _check_blocks_match_steps(_multilabel_metrics, outputs, cuts)


def test_confusion_step_numbers_reduced_on_the_host_where_the_device_lacks_float64(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Precision, recall and F-beta blocks reduce their steps' numbers on the device; where it
    has no float64 (MPS) the reader reduces the counts instead, to the same numbers."""
    generator = torch.Generator().manual_seed(5)
    outputs = [
        ClassificationOutput(
            torch.rand((), generator=generator),
            torch.randn(size, 4, generator=generator),
            torch.randint(0, 4, (size,), generator=generator),
        )
        for size in (3, 1, 6, 2, 5)
    ]
    monkeypatch.setattr(confusion_state, "_WITHOUT_FLOAT64", frozenset({"cpu"}))
    _check_blocks_match_steps(_multiclass_metrics, outputs, [2])


def test_binary_blocks_and_per_item_losses() -> None:
    generator = torch.Generator().manual_seed(3)
    steps = []
    for size in (5, 1, 8, 8, 3):
        scores = torch.rand(size, generator=generator)
        targets = torch.randint(0, 2, (size,), generator=generator)
        steps.append((LossInput(torch.rand(size, generator=generator)), scores, targets))

    def metrics() -> list[Metric[Any]]:
        return [
            LossMetric(),
            PrecisionMetric.binary(0.3),
            FBetaScoreMetric.binary(beta=0.5),
            AurocMetric.binary(),
            AucPrMetric.binary(bins=7),
        ]

    class Step:
        """An output of a per-item loss and binary scores, through an ``adapt`` of its own."""

        def __init__(self, loss: LossInput, scores: torch.Tensor, targets: torch.Tensor) -> None:
            self.loss, self.scores, self.targets = loss, scores, targets

        def adapt(self, kind: type[Any], /) -> Any:
            return self.loss if kind is LossInput else kind(self.scores, self.targets)

    _check_blocks_match_steps(metrics, [Step(*step) for step in steps], [2])


def test_steps_that_cannot_be_joined_are_updated_one_by_one_with_the_steps_error() -> None:
    generator = torch.Generator().manual_seed(0)
    good = ClassificationOutput(
        torch.rand(()), torch.randn(4, 3, generator=generator), torch.ones(4).long()
    )
    wider = ClassificationOutput(
        torch.rand(()), torch.randn(4, 5, generator=generator), torch.ones(4).long()
    )
    collection = MetricCollection([AccuracyMetric(), PrecisionMetric.multiclass()])
    with pytest.raises(
        ValueError,
        match=r"Accuracy: expected scores with 3 classes as in earlier batches, received 5",
    ):
        _read_block(collection, [good, good, wider])
    two_d_targets = ClassificationOutput(torch.rand(()), torch.randn(4, 3), torch.ones(4, 1).long())
    with pytest.raises(
        ValueError, match=r"Accuracy: expected targets of shape \(N,\), received shape \(4, 1\)"
    ):
        _read_block(MetricCollection([AccuracyMetric()]), [good, two_d_targets])


def _joinable_but_wrong() -> list[tuple[list[Any], Metric[Any], str]]:
    """Steps whose tensors join, each wrong in the same way: the joined tensors fail a check
    whose message would name their shapes, not the step's."""
    scores, column = torch.randn(4, 3), torch.zeros(4, 1).long()
    wide_targets = ClassificationOutput(torch.rand(()), scores, column)
    classes = ClassificationOutput(torch.rand(()), scores, torch.zeros(4).long())
    per_item = LossInput(torch.ones(2, 2))
    return [
        (
            [wide_targets] * 3,
            AccuracyMetric(),
            r"expected targets of shape \(N,\), received shape \(4, 1\)",
        ),
        (
            [classes] * 3,
            PrecisionMetric.multiclass(top_k=5),
            r"top_k=5 for scores of shape \(4, 3\)",
        ),
        (
            [per_item] * 3,
            LossMetric(),
            r"the loss of shape \(\) or \(N,\), received shape \(2, 2\)",
        ),
    ]


@pytest.mark.parametrize(("steps", "metric", "message"), _joinable_but_wrong())
def test_a_check_that_fails_on_joined_steps_raises_the_steps_own_error(
    steps: list[Any], metric: Metric[Any], message: str
) -> None:
    kind = cast(type[Any], input_type_of(metric))
    metadata = [MetricMetadata.fake()] * len(steps)
    # The block says only that its steps cannot be updated together...
    with pytest.raises(RaggedBlockError):
        cast(BlockMetric[Any], metric).update_block(InputBlock(steps, kind), metadata)
    # ...and updated one by one, the first step says what is wrong with it.
    with pytest.raises(ValueError, match=message) as raised:
        _read_block(MetricCollection([metric]), steps)
    assert not isinstance(raised.value, RaggedBlockError)


def _wrong_steps() -> list[tuple[Metric[Any], object, type[Exception], str]]:
    scores, targets = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    return [
        (AccuracyMetric(), AccuracyInput(scores, targets[:3]), ValueError, "same batch size"),
        (AccuracyMetric(), AccuracyInput(scores, targets.float()), TypeError, "as integer"),
        (AccuracyMetric(), AccuracyInput(torch.tensor(1.0), targets), ValueError, r"shape \(\)"),
        (LossMetric(), LossInput(torch.ones(2, 2)), ValueError, r"received shape \(2, 2\)"),
        (
            PrecisionMetric.multiclass(top_k=5),
            ConfusionStatsInput(scores, targets),
            ValueError,
            r"top_k=5 for scores of shape \(4, 3\)",
        ),
        (AurocMetric.binary(), AurocInput(scores, targets), ValueError, r"binary scores of shape"),
    ]


@pytest.mark.parametrize(("metric", "item", "error", "message"), _wrong_steps())
def test_a_block_of_one_step_raises_the_steps_own_error(
    metric: Metric[Any], item: Any, error: type[Exception], message: str
) -> None:
    block_metric = cast(BlockMetric[Any], metric)
    with pytest.raises(error, match=message) as raised:
        block_metric.update_block(InputBlock.of_step(item), [MetricMetadata.fake()])
    assert not isinstance(raised.value, RaggedBlockError)
    # update() is that block.
    with pytest.raises(error, match=message):
        metric.update(item, MetricMetadata.fake())


def test_a_block_of_one_step_is_its_input() -> None:
    item = AccuracyInput(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))
    block = InputBlock.of_step(item)
    assert block.cat("outputs") is item.outputs  # nothing copied
    assert block.derived is item.derived  # work shared with the step's other inputs
    assert block.segments("outputs", "targets").sizes == (4,)
    assert block.segments("outputs").sums(item.targets == 0).ndim == 0
    attached = AccuracyInput(torch.randn(4, 3, requires_grad=True), item.targets)
    joined = InputBlock.of_step(attached).cat("outputs")
    assert not joined.requires_grad
    assert joined.data_ptr() == attached.outputs.data_ptr()


def test_block_limits_bound_the_bytes_kept() -> None:
    output = ClassificationOutput(torch.zeros(()), torch.zeros(1000, 250), torch.zeros(1000).long())
    held = 4 + 1000 * 250 * 4 + 1000 * 8
    assert BlockLimits(steps=32, max_bytes=10 * held).steps_for(output) == 10
    assert BlockLimits(steps=4, max_bytes=10 * held).steps_for(output) == 4
    assert BlockLimits(steps=32, max_bytes=held // 2).steps_for(output) == 1


def _fit_steps(directory: Path, steps: int) -> dict[tuple[Split, str], list[tuple[int, Any]]]:
    torch.manual_seed(0)
    model = Classifier()
    train, valid = loaders(batch_size=8)
    builder = LearnerBuilder(directory).renderer(NullRenderer()).metric_blocks(steps=steps)
    for metric in (
        LossMetric(),
        AccuracyMetric(),
        FBetaScoreMetric.multiclass(),
        AurocMetric.multiclass(softmax=True),
    ):
        builder.metric_train_numeric(metric)
    for metric in (LossMetric(), RecallMetric.multiclass()):
        builder.metric_valid_numeric(metric)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    builder.num_epochs(2).build(model, optimizer).fit(train, valid)
    return read_run(directory).steps


def test_a_learner_logs_the_same_steps_in_blocks_as_step_by_step(tmp_path: Path) -> None:
    blocked = _fit_steps(tmp_path / "blocks", steps=5)
    stepwise = _fit_steps(tmp_path / "steps", steps=1)
    assert blocked.keys() == stepwise.keys()
    for key, series in stepwise.items():
        assert [iteration for iteration, _ in blocked[key]] == [i for i, _ in series]
        for (_, got), (_, expected) in zip(blocked[key], series, strict=True):
            assert (got.count, got.kind) == (expected.count, expected.kind)
            assert math.isclose(got.value, expected.value, rel_tol=1e-9) or (
                math.isnan(got.value) and math.isnan(expected.value)
            )


class _Listed:
    """A reader shared by several blocks: each step's value, and the last with a text."""

    def numbers(self, host: Sequence[list[float]]) -> StepNumbers:
        return StepNumbers(host[0], [1] * len(host[0]), "value")

    def last_texts(self, host: Sequence[list[float]]) -> tuple[Text, LogText]:
        return f"last {host[0][0]}", NumericEntry(host[0][0])


def test_blocks_sharing_a_reader_are_each_read_from_their_own_values() -> None:
    reader = _Listed()
    values = [torch.tensor([1.0, 2.0]), torch.tensor([10.0, 20.0])]
    blocks = [BlockEntries("M", 2, (value,), (value[-1],), reader, None) for value in values]
    hosts = read_with_entries([], [block.numbers_of for block in blocks])
    assert [reader.numbers(host).values for host in hosts] == [[1.0, 2.0], [10.0, 20.0]]
    entries = [block.last() for block in blocks]
    resolve_entries(entries)
    assert [entry.formatted for entry in entries] == ["last 2.0", "last 20.0"]


def test_a_block_update_with_the_wrong_number_of_entries_names_the_metric() -> None:
    class Short(LossMetric):
        def update_block(
            self, block: InputBlock[LossInput], metadata: Sequence[MetricMetadata]
        ) -> Sequence[MetricEntry]:
            return [MetricEntry(self.name, "0.5", "0.5")]

    outputs = [ClassificationOutput(torch.tensor(0.5), torch.zeros(2, 3), torch.zeros(2).long())]
    expected = r"metric 'Loss': update_block must return one entry per step \(2\) .*, returned 1"
    with pytest.raises(TypeError, match=expected):
        _read_block(MetricCollection([Short()]), outputs * 2)


def _iterations(blocks: list[Unread]) -> list[int]:
    """The iterations of the steps of the published blocks, as their events read them."""
    events = [block.read() for block in blocks]
    return [i for event in events if isinstance(event, StepsEvent) for i in event.iterations]


def test_outputs_that_no_metric_reads_are_not_kept_for_the_block() -> None:
    def kept(metrics: list[Metric[Any]]) -> bool:
        split = SplitMetrics(Split.TRAIN, [RegisteredMetric.of(m, plotted=True) for m in metrics])
        blocks: list[Unread] = []
        split.start(blocks.append, 1, 1, None)
        outputs = [
            ClassificationOutput(torch.tensor(0.5), torch.zeros(2, 3), torch.zeros(2).long())
            for _ in range(3)
        ]
        for step, output in enumerate(outputs, start=1):
            split.record(output, 2 * step, step, (0.1,), 0.0)
        # The first step is updated alone; the next two wait for the block.
        alive = weakref.ref(outputs[-1])
        del outputs, output
        gc.collect()
        is_kept = alive() is not None
        split.flush()
        assert _iterations(blocks) == [1, 2, 3]
        return is_kept

    assert not kept([LearningRateMetric()])
    assert not kept([])
    assert kept([LossMetric()])


def test_a_first_step_is_updated_alone_in_the_first_epoch_and_when_its_type_changes() -> None:
    class Relabelled(ClassificationOutput):
        pass

    class Faulty(ClassificationOutput):
        pass

    split = SplitMetrics(Split.TRAIN, [RegisteredMetric.of(LossMetric(), plotted=True)])
    blocks: list[Unread] = []

    def first_step_published(epoch: int, output: ClassificationOutput) -> bool:
        blocks.clear()
        split.start(blocks.append, epoch, 3, None)
        split.record(output, 2, 1, (0.1,), 0.0)
        published = _iterations(blocks) == [1]
        split.flush()
        return published

    def output(kind: type[ClassificationOutput] = ClassificationOutput) -> ClassificationOutput:
        return kind(torch.tensor(0.5), torch.zeros(2, 3), torch.zeros(2).long())

    assert first_step_published(1, output())
    # Its type proved adaptable in an earlier epoch: the step waits for its block.
    assert not first_step_published(2, output())
    assert first_step_published(3, output(Relabelled))
    # A type whose first step failed is not proven: its next first step is updated alone too.
    faulty = Faulty(torch.zeros(2, 2), torch.zeros(2, 3), torch.zeros(2).long())
    for epoch in (4, 5):
        with pytest.raises(ValueError, match="Loss"):
            first_step_published(epoch, faulty)


@pytest.mark.parametrize("steps", [1, 3])
def test_metrics_of_other_inputs_reading_one_field_share_its_argmax_and_checks(
    steps: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Work is shared by what it is of (the output's field), not by the input types: Accuracy,
    TopK(1) and Precision read the scores through three inputs, and compute one argmax and one
    pair of value ranges per block; as many as a single step's update does."""
    calls = {"argmax": 0, "aminmax": 0}
    real_argmax, real_aminmax = confusion_metrics.best_classes, torch.aminmax

    def counting_argmax(scores: torch.Tensor) -> torch.Tensor:
        calls["argmax"] += 1
        return real_argmax(scores)

    def counting_aminmax(*args: Any, **kwargs: Any) -> Any:
        calls["aminmax"] += 1
        return real_aminmax(*args, **kwargs)

    monkeypatch.setattr(confusion_metrics, "best_classes", counting_argmax)
    monkeypatch.setattr(torch, "aminmax", counting_aminmax)
    generator = torch.Generator().manual_seed(steps)
    outputs = [
        ClassificationOutput(
            torch.rand(()), torch.randn(6, 4, generator=generator), torch.tensor([0, 1, 2, 3, 0, 1])
        )
        for _ in range(steps)
    ]
    metrics = [AccuracyMetric(), TopKAccuracyMetric(1), PrecisionMetric.multiclass()]
    collection = MetricCollection(metrics)
    if steps == 1:
        collection.update(outputs[0])
    else:
        _read_block(collection, outputs)
    assert calls == {"argmax": 1, "aminmax": 2}  # scores' and targets' ranges


@pytest.mark.parametrize("texts_first", [True, False])
def test_an_epoch_end_reduces_the_epoch_counts_once(
    texts_first: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The epoch's value and its last step's texts (read on another thread, in either order)
    share one reduction of the epoch's counts and the last batch's on the host."""
    reductions: list[int] = []
    original = confusion_state.ConfusionStatsState._reduced

    def counted(self: confusion_state.ConfusionStatsState, flat: Any, shape: torch.Size) -> Any:
        result = original(self, flat, shape)
        reductions.append(len(result))
        return result

    monkeypatch.setattr(confusion_state.ConfusionStatsState, "_reduced", counted)
    metric = FBetaScoreMetric.multiclass()
    generator = torch.Generator().manual_seed(0)
    outputs = [
        ClassificationOutput(
            torch.zeros(()), torch.randn(8, 4, generator=generator), torch.arange(8) % 4
        )
        for _ in range(3)
    ]
    result = metric.update_block(
        InputBlock(outputs, ConfusionStatsInput), [MetricMetadata.fake()] * 3
    )
    assert isinstance(result, BlockEntries)
    last = result.last()
    if texts_first:
        texts = last.formatted
        value = metric.compute().formatted
    else:
        value = metric.compute().formatted
        texts = last.formatted
    assert reductions == [2]  # the epoch's counts and the last batch's, in one call
    epoch = FBetaScoreMetric.multiclass()
    for output in outputs:
        epoch.update(output)
    assert value == epoch.compute().formatted
    assert texts.startswith(f"epoch {value} - batch ")


def test_scores_of_one_rule_add_each_block_to_their_epoch_sum_once() -> None:
    """Precision, recall and F1 updated together keep one epoch sum, block after block: each
    block is added to it once for the three."""
    metrics = [
        PrecisionMetric.multiclass(),
        RecallMetric.multiclass(),
        FBetaScoreMetric.multiclass(),
    ]
    generator = torch.Generator().manual_seed(0)
    steps = [
        ClassificationOutput(
            torch.zeros(()), torch.randn(8, 4, generator=generator), torch.arange(8) % 4
        )
        for _ in range(9)
    ]
    for first in range(0, 9, 3):
        block = InputBlock(steps[first : first + 3], ConfusionStatsInput, derived={})
        for metric in metrics:
            metric.update_block(block, [MetricMetadata.fake()] * 3)
        sums = [metric._state.epoch_counts() for metric in metrics]
        assert sums[0] is sums[1]
        assert sums[0] is sums[2]
    for metric, make in zip(
        metrics,
        [PrecisionMetric.multiclass, RecallMetric.multiclass, FBetaScoreMetric.multiclass],
        strict=True,
    ):
        alone = make()
        for step in steps:
            alone.update(step)
        assert metric.compute().formatted == alone.compute().formatted
