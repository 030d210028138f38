"""Sequence metrics against jiwer (CER, WER), sacrebleu and TorchMetrics (BLEU, ROUGE): token ids,
decoded texts, padding, blocks, and no read of a device value during an update."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import jiwer
import pytest
import sacrebleu
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchmetrics.text import BLEUScore as TorchMetricsBleu
from torchmetrics.text import ROUGEScore as TorchMetricsRouge

from burnish import (
    AccuracyInput,
    AccuracyMetric,
    LossInput,
    MetricMetadata,
    PerplexityInput,
    SequenceInput,
    SequenceOutput,
    StepAdaptations,
    TopKAccuracyInput,
)
from burnish.adaptor import supported_inputs
from burnish.functional.sequence import compact, edit_distances, error_rate
from burnish.metric import BleuScore, CharErrorRate, RougeScore, WordErrorRate
from burnish.metric.block import InputBlock
from burnish.metric.entry import BlockEntries
from burnish.metric.host import transfer_count
from tests.metric_checks import reads_forbidden

META = MetricMetadata.fake()
PAD = 0
# Token ids 1.. are letters and a space, so decoded texts have words and repeated spaces.
ALPHABET = "\0ab c"

Rows = list[list[int]]


def padded(rows: Rows, width: int | None = None, pad: int = PAD) -> torch.Tensor:
    """``rows`` as one ``(N, width)`` tensor, right-filled with ``pad``."""
    width = max((len(row) for row in rows), default=0) if width is None else width
    return torch.tensor([row + [pad] * (width - len(row)) for row in rows], dtype=torch.long)


def words(row: Sequence[int]) -> str:
    return " ".join(f"w{token}" for token in row)


def decode(tokens: list[int]) -> str:
    # jiwer strips each text before counting characters; stripped here, both count the same.
    return "".join(ALPHABET[token] for token in tokens).strip()


def id_rate(predictions: Rows, targets: Rows) -> float:
    """The reference error rate over token ids, each id a word, in percent (NaN without target
    tokens, where jiwer defines its own value)."""
    if not any(targets):
        return math.nan
    return 100.0 * jiwer.wer([words(row) for row in targets], [words(row) for row in predictions])


def text_rate(predictions: Rows, targets: Rows, *, by_words: bool) -> float:
    references = [decode(row) for row in targets]
    hypotheses = [decode(row) for row in predictions]
    units = [text.split() if by_words else text for text in references]
    if not any(units):
        return math.nan
    measure = jiwer.wer if by_words else jiwer.cer
    return 100.0 * measure(references, hypotheses)


def assert_close(value: float, expected: float) -> None:
    if math.isnan(expected):
        assert math.isnan(value)
    else:
        assert value == pytest.approx(expected, rel=1e-9, abs=1e-9)


tokens = st.lists(st.integers(1, 4), max_size=8)


@st.composite
def corpora(draw: Callable[..., Any], min_size: int = 1) -> tuple[Rows, Rows]:
    """Predicted and target token rows of one corpus: empty, equal and unrelated ones."""
    targets = draw(st.lists(tokens, min_size=min_size, max_size=12))
    predictions = [
        draw(st.one_of(tokens, st.just(list(target)), st.just([]))) for target in targets
    ]
    return predictions, targets


@st.composite
def splits(draw: Callable[..., Any], n: int) -> list[int]:
    """Batch sizes (none empty) adding up to ``n``."""
    cuts = sorted(set(draw(st.lists(st.integers(1, max(n - 1, 1)), max_size=5))))
    bounds = [0, *[cut for cut in cuts if cut < n], n]
    return [end - start for start, end in itertools.pairwise(bounds) if end > start]


def batches(predictions: Rows, targets: Rows, sizes: Sequence[int]) -> Iterator[tuple[Rows, Rows]]:
    start = 0
    for size in sizes:
        yield predictions[start : start + size], targets[start : start + size]
        start += size


# The functional core.


@given(corpora(), st.data())
@settings(max_examples=150, deadline=None)
def test_edit_distances_are_levenshtein_distances(corpus: tuple[Rows, Rows], data: Any) -> None:
    predictions, targets = corpus
    # Padding anywhere in a sequence, not only at its end.
    scattered = []
    for row in predictions:
        with_padding = list(row)
        for _ in range(data.draw(st.integers(0, 3))):
            with_padding.insert(data.draw(st.integers(0, len(with_padding))), PAD)
        scattered.append(with_padding)
    ids, lengths = compact(padded(scattered), PAD)
    target_ids, target_lengths = compact(padded(targets), PAD)
    distances = edit_distances(ids, target_ids, lengths, target_lengths).tolist()
    for distance, prediction, target in zip(distances, predictions, targets, strict=True):
        output = jiwer.process_words(words(target), words(prediction))
        assert distance == output.substitutions + output.deletions + output.insertions


def test_error_rate_is_corpus_level_not_a_mean_of_sentences() -> None:
    # One error in a 1-token sentence and none in a 9-token one: 1 / 10, not (100 % + 0) / 2.
    predictions = padded([[2], list(range(1, 10))])
    targets = padded([[1], list(range(1, 10))])
    assert error_rate(predictions, targets, PAD).item() == pytest.approx(0.1)


# The metrics over token ids, step by step.


@given(corpora(), st.data())
@settings(max_examples=100, deadline=None)
def test_rates_over_token_ids_match_jiwer(corpus: tuple[Rows, Rows], data: Any) -> None:
    predictions, targets = corpus
    sizes = data.draw(splits(len(targets)))
    cer, wer = CharErrorRate(pad_token=PAD), WordErrorRate()
    for batch_predictions, batch_targets in batches(predictions, targets, sizes):
        # Each batch its own width; predictions and targets of different widths.
        item = SequenceInput(padded(batch_predictions), padded(batch_targets), PAD)
        entry = cer.update(item, META)
        wer.update(item, META)
        assert_close(entry.numeric.value, id_rate(batch_predictions, batch_targets))
    expected = id_rate(predictions, targets)
    for metric in (cer, wer):
        assert_close(metric.running_value().value, expected)
        assert_close(metric.value(), id_rate(batch_predictions, batch_targets))


@given(corpora(), st.data())
@settings(max_examples=100, deadline=None)
def test_rates_of_decoded_texts_match_jiwer(corpus: tuple[Rows, Rows], data: Any) -> None:
    predictions, targets = corpus
    sizes = data.draw(splits(len(targets)))
    cer, wer = CharErrorRate(decode=decode), WordErrorRate(decode=decode)
    for batch_predictions, batch_targets in batches(predictions, targets, sizes):
        output = SequenceOutput(
            torch.zeros(()), padded(batch_predictions), padded(batch_targets), PAD
        )
        cer.update(output.adapt(SequenceInput), META)
        wer.update(output.adapt(SequenceInput), META)
    assert_close(cer.running_value().value, text_rate(predictions, targets, by_words=False))
    assert_close(wer.running_value().value, text_rate(predictions, targets, by_words=True))


def test_known_values_and_edge_cases() -> None:
    cer = CharErrorRate(pad_token=9)
    cer.update(SequenceInput(torch.tensor([[1, 2, 9], [3, 5, 9]]), torch.tensor([[1, 3, 9]] * 2)))
    assert cer.value() == pytest.approx(75.0)  # 1 + 2 edits in 4 target tokens
    identical = CharErrorRate()
    identical.update(SequenceInput(torch.tensor([[4, 2]]), torch.tensor([[4, 2]])))
    assert identical.value() == 0.0
    empty_prediction = WordErrorRate(pad_token=0)
    empty_prediction.update(SequenceInput(torch.zeros(1, 3).long(), torch.tensor([[1, 2, 0]])))
    assert empty_prediction.value() == pytest.approx(100.0)
    no_prediction_tokens = WordErrorRate()
    no_prediction_tokens.update(SequenceInput(torch.zeros(2, 0).long(), torch.ones(2, 3).long()))
    assert no_prediction_tokens.value() == pytest.approx(100.0)
    longer = CharErrorRate()
    longer.update(SequenceInput(torch.ones(1, 5).long(), torch.ones(1, 1).long()))
    assert longer.value() == pytest.approx(400.0)  # insertions count: rates pass 100 %
    only_padding = CharErrorRate(pad_token=0)
    only_padding.update(SequenceInput(torch.ones(1, 2).long(), torch.zeros(1, 2).long()))
    assert math.isnan(only_padding.value())  # no target token: n/a
    fresh = WordErrorRate()
    assert math.isnan(fresh.running_value().value)
    assert fresh.compute().formatted == "n/a"


def test_the_metric_and_input_pad_tokens_must_agree() -> None:
    item = SequenceInput(torch.ones(1, 2).long(), torch.ones(1, 2).long(), pad_token=0)
    with pytest.raises(ValueError, match=r"CER: expected the inputs' pad_token .* 5, received 0"):
        CharErrorRate(pad_token=5).update(item)
    CharErrorRate(pad_token=0).update(item)


@pytest.mark.parametrize(
    ("item", "error", "message"),
    [
        (SequenceInput(torch.ones(2).long(), torch.ones(2, 1).long()), ValueError, r"\(N, P\)"),
        (SequenceInput(torch.ones(2, 1), torch.ones(2, 1).long()), TypeError, "as integer"),
        (SequenceInput(torch.ones(2, 1).long(), torch.ones(3, 1).long()), ValueError, "batch"),
    ],
)
def test_bad_input_names_the_metric(
    item: SequenceInput, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"WER: .*{message}"):
        WordErrorRate().update(item)


# Blocks of steps, and no read during an update.


@given(corpora(min_size=2), st.data())
@settings(max_examples=60, deadline=None)
def test_a_block_split_anywhere_equals_its_steps_one_by_one(
    corpus: tuple[Rows, Rows], data: Any
) -> None:
    predictions, targets = corpus
    sizes = data.draw(splits(len(targets)))
    same_width = data.draw(st.booleans())
    width = 9 if same_width else None
    outputs = [
        SequenceOutput(torch.zeros(()), padded(p, width), padded(t, width), PAD)
        for p, t in batches(predictions, targets, sizes)
    ]
    for make in (CharErrorRate, lambda: WordErrorRate(decode=decode)):
        stepwise, blockwise = make(), make()
        entries = [stepwise.update(output.adapt(SequenceInput), META) for output in outputs]
        cut = data.draw(st.integers(0, len(outputs)))
        for part in (outputs[:cut], outputs[cut:]):
            if part:
                result = blockwise.update_block(InputBlock(part, SequenceInput), [META] * len(part))
        last = result.last() if isinstance(result, BlockEntries) else result[-1]
        assert last.serialized == entries[-1].serialized
        assert_close(blockwise.running_value().value, stepwise.running_value().value)
        assert blockwise.compute().formatted == stepwise.compute().formatted


def test_steps_of_other_lengths_join_without_padding_tokens() -> None:
    # Without a pad token, each step's sequences are as long as its tensor.
    steps = [
        SequenceInput(torch.tensor([[1, 2, 3]]), torch.tensor([[1, 2, 4]])),
        SequenceInput(torch.tensor([[1]]), torch.tensor([[2, 2]])),
    ]
    blockwise = CharErrorRate()
    blockwise.update_block(InputBlock(steps, SequenceInput), [META, META])
    assert blockwise.running_value().value == pytest.approx(100.0 * 3 / 5)


def _sequence_steps() -> list[SequenceOutput]:
    return [
        SequenceOutput(torch.zeros(()), torch.randn(4, 6, 5), torch.randint(0, 5, (4, 6)), PAD),
        SequenceOutput(torch.zeros(()), torch.randn(1, 6, 5), torch.randint(0, 5, (1, 6)), PAD),
        SequenceOutput(torch.zeros(()), torch.randint(0, 5, (2, 3)), torch.ones(2, 7).long(), PAD),
    ]


@pytest.mark.parametrize(
    "make",
    [
        CharErrorRate,
        WordErrorRate,
        lambda: CharErrorRate(PAD),
        BleuScore,
        lambda: BleuScore(2),
        RougeScore,
        lambda: RougeScore("rouge2"),
    ],
)
def test_update_over_token_ids_never_reads_a_tensor(
    make: Callable[[], CharErrorRate | BleuScore | RougeScore],
) -> None:
    steps = _sequence_steps()
    metric, blockwise = make(), make()
    before = transfer_count()
    with reads_forbidden():
        entries = [metric.update(StepAdaptations(step).get(SequenceInput), META) for step in steps]
        blockwise.update_block(InputBlock(steps, SequenceInput), [META] * len(steps))
    assert transfer_count() == before
    _ = entries[-1].serialized
    assert transfer_count() == before + 1


# What SequenceOutput feeds.


def test_sequence_output_feeds_token_metrics_with_padding_ignored() -> None:
    logits = torch.randn(3, 4, 6)
    targets = torch.randint(1, 6, (3, 4))
    targets[0, 2:] = PAD
    output = SequenceOutput(torch.zeros(()), logits, targets, PAD)
    item = output.adapt(AccuracyInput)
    assert item.outputs.shape == (12, 6)
    assert item.targets.shape == (12,)
    assert output.adapt(PerplexityInput).targets.shape == (12,)
    accuracy = AccuracyMetric(pad_token=PAD)
    accuracy.update(output.adapt(AccuracyInput), META)
    kept = targets != PAD
    expected = (logits.argmax(2) == targets)[kept].float().mean().item()
    assert accuracy.value() == pytest.approx(100.0 * expected)
    sequences = output.adapt(SequenceInput)
    assert torch.equal(sequences.predictions, logits.argmax(2))
    assert sequences.pad_token == PAD


def test_sequence_output_feeds_what_burn_gives_it() -> None:
    assert supported_inputs(SequenceOutput) == {
        LossInput,
        SequenceInput,
        AccuracyInput,
        TopKAccuracyInput,
        PerplexityInput,
    }
    loss = SequenceOutput(torch.tensor(0.5), torch.randn(3, 2, 4), torch.ones(3, 2).long())
    assert loss.adapt(LossInput).batch_size == 3


def test_sequence_output_of_token_ids_feeds_only_sequence_metrics() -> None:
    output = SequenceOutput(torch.zeros(()), torch.ones(2, 3).long(), torch.ones(2, 4).long())
    assert output.adapt(SequenceInput).predictions.shape == (2, 3)
    with pytest.raises(TypeError, match=r"need logits of shape \(N, T, vocabulary\)"):
        output.adapt(AccuracyInput)


# BLEU.


def sacrebleu_score(predictions: Rows, targets: Rows, smooth: str = "none") -> float:
    return float(
        sacrebleu.corpus_bleu(
            [words(row) for row in predictions],
            [[words(row) for row in targets]],
            tokenize="none",
            smooth_method=smooth,
            force=True,
        ).score
    )


SMOOTHING = ["none", "floor", "add-k", "exp"]


@given(corpora(), st.data())
@settings(max_examples=100, deadline=None)
def test_bleu_matches_sacrebleu(corpus: tuple[Rows, Rows], data: Any) -> None:
    predictions, targets = corpus
    sizes = data.draw(splits(len(targets)))
    metrics = {smooth: BleuScore(smooth=smooth, pad_token=PAD) for smooth in SMOOTHING}  # type: ignore[arg-type]
    bigrams = BleuScore(2)
    for batch_predictions, batch_targets in batches(predictions, targets, sizes):
        item = SequenceInput(padded(batch_predictions), padded(batch_targets), PAD)
        for metric in (*metrics.values(), bigrams):
            metric.update(item, META)
    for smooth, metric in metrics.items():
        expected = sacrebleu_score(predictions, targets, smooth)
        assert metric.running_value().value == pytest.approx(expected, rel=1e-9, abs=1e-9)
    expected_bigrams = sacrebleu.BLEU(
        tokenize="none", max_ngram_order=2, smooth_method="none", force=True
    ).corpus_score([words(row) for row in predictions], [[words(row) for row in targets]])
    assert bigrams.running_value().value == pytest.approx(expected_bigrams.score, abs=1e-9)
    assert metrics["none"].value() == pytest.approx(
        sacrebleu_score(batch_predictions, batch_targets), abs=1e-9
    )


@given(corpora())
@settings(max_examples=60, deadline=None)
def test_bleu_matches_torchmetrics(corpus: tuple[Rows, Rows]) -> None:
    predictions, targets = corpus
    metric = BleuScore(pad_token=PAD)
    metric.update(SequenceInput(padded(predictions), padded(targets)), META)
    reference = TorchMetricsBleu(n_gram=4)
    hypotheses = [words(row) for row in predictions]
    expected = reference(hypotheses, [[words(row)] for row in targets]).item()
    # TorchMetrics computes in float32.
    assert metric.value() == pytest.approx(100.0 * expected, rel=1e-5, abs=1e-5)


def test_bleu_known_values_and_edge_cases() -> None:
    perfect = BleuScore()
    perfect.update(SequenceInput(torch.tensor([[1, 2, 3, 4, 5]]), torch.tensor([[1, 2, 3, 4, 5]])))
    assert perfect.value() == pytest.approx(100.0)
    # Burn's own examples: 3 of 5 unigrams; one short candidate.
    unigrams = BleuScore(1)
    unigrams.update(SequenceInput(torch.tensor([[1, 2, 3, 6, 7]]), torch.tensor([[1, 2, 3, 4, 5]])))
    assert unigrams.value() == pytest.approx(60.0)
    short = BleuScore(1, pad_token=0)
    short.update(SequenceInput(torch.tensor([[1, 2, 3, 0, 0]]), torch.tensor([[1, 2, 3, 4, 5]])))
    assert short.value() == pytest.approx(100.0 * math.exp(1.0 - 5.0 / 3.0))
    empty = BleuScore(pad_token=0)
    empty.update(SequenceInput(torch.zeros(1, 4).long(), torch.tensor([[1, 2, 3, 4]])))
    assert empty.value() == 0.0
    assert perfect.name == "BLEU-4"
    assert math.isnan(BleuScore().running_value().value)
    with pytest.raises(ValueError, match=r"BLEU-0: expected max_n as an int >= 1, received 0"):
        BleuScore(0)
    with pytest.raises(ValueError, match=r"BLEU-4: expected smooth among"):
        BleuScore(smooth="add-one")  # type: ignore[arg-type]


@given(corpora(min_size=2), st.data())
@settings(max_examples=40, deadline=None)
def test_bleu_blocks_split_anywhere_equal_steps_one_by_one(
    corpus: tuple[Rows, Rows], data: Any
) -> None:
    predictions, targets = corpus
    sizes = data.draw(splits(len(targets)))
    outputs = [
        SequenceOutput(torch.zeros(()), padded(p), padded(t), PAD)
        for p, t in batches(predictions, targets, sizes)
    ]
    stepwise, blockwise = BleuScore(smooth="exp"), BleuScore(smooth="exp")
    entries = [stepwise.update(output.adapt(SequenceInput), META) for output in outputs]
    cut = data.draw(st.integers(0, len(outputs)))
    for part in (outputs[:cut], outputs[cut:]):
        if part:
            result = blockwise.update_block(InputBlock(part, SequenceInput), [META] * len(part))
    last = result.last() if isinstance(result, BlockEntries) else result[-1]
    assert last.serialized == entries[-1].serialized
    assert blockwise.compute().formatted == stepwise.compute().formatted
    state = blockwise.state_dict()
    restored = BleuScore(smooth="exp")
    restored.load_state_dict(state)
    assert restored.compute().formatted == stepwise.compute().formatted


# ROUGE.

VARIANTS = ["rouge1", "rouge2", "rougeL"]


@given(corpora(), st.data())
@settings(max_examples=60, deadline=None)
def test_rouge_matches_torchmetrics(corpus: tuple[Rows, Rows], data: Any) -> None:
    predictions, targets = corpus
    sizes = data.draw(splits(len(targets)))
    metrics = [RougeScore(variant, pad_token=PAD) for variant in VARIANTS]  # type: ignore[arg-type]
    for batch_predictions, batch_targets in batches(predictions, targets, sizes):
        item = SequenceInput(padded(batch_predictions), padded(batch_targets))
        for metric in metrics:
            metric.update(item, META)
    reference = TorchMetricsRouge(rouge_keys=tuple(VARIANTS))
    scores = reference([words(row) for row in predictions], [words(row) for row in targets])
    for variant, metric in zip(VARIANTS, metrics, strict=True):
        expected = 100.0 * scores[f"{variant}_fmeasure"].item()
        # TorchMetrics computes in float32.
        assert metric.running_value().value == pytest.approx(expected, rel=1e-5, abs=1e-4)


def test_rouge_known_values_and_edge_cases() -> None:
    # Burn's examples: LCS 3 of 5 and 5 tokens; a 3-token prediction of a 5-token target.
    partial = RougeScore()
    partial.update(SequenceInput(torch.tensor([[1, 3, 5, 7, 9]]), torch.tensor([[1, 2, 3, 4, 5]])))
    assert partial.value() == pytest.approx(60.0)
    shorter = RougeScore("rougeL", pad_token=99)
    shorter.update(
        SequenceInput(torch.tensor([[1, 2, 3, 99, 99]]), torch.tensor([[1, 2, 3, 4, 5]]))
    )
    assert shorter.value() == pytest.approx(75.0)
    # A mean over sentences: one perfect, one without overlap.
    bigrams = RougeScore("rouge2")
    bigrams.update(
        SequenceInput(torch.tensor([[1, 2, 3], [4, 5, 6]]), torch.tensor([[1, 2, 3]] * 2))
    )
    assert bigrams.value() == pytest.approx(50.0)
    empty = RougeScore("rouge1", pad_token=0)
    empty.update(SequenceInput(torch.zeros(1, 2).long(), torch.zeros(1, 2).long()))
    assert empty.value() == 0.0  # as rouge-score: an empty prediction or target scores 0
    assert [RougeScore(variant).name for variant in VARIANTS] == ["ROUGE-1", "ROUGE-2", "ROUGE-L"]  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected a variant among"):
        RougeScore("rougeLsum")  # type: ignore[arg-type]


@given(corpora(min_size=2), st.data())
@settings(max_examples=30, deadline=None)
def test_rouge_blocks_split_anywhere_equal_steps_one_by_one(
    corpus: tuple[Rows, Rows], data: Any
) -> None:
    predictions, targets = corpus
    sizes = data.draw(splits(len(targets)))
    outputs = [
        SequenceOutput(torch.zeros(()), padded(p), padded(t), PAD)
        for p, t in batches(predictions, targets, sizes)
    ]
    for variant in VARIANTS:
        stepwise, blockwise = RougeScore(variant), RougeScore(variant)  # type: ignore[arg-type]
        entries = [stepwise.update(output.adapt(SequenceInput), META) for output in outputs]
        result = blockwise.update_block(InputBlock(outputs, SequenceInput), [META] * len(outputs))
        last = result.last() if isinstance(result, BlockEntries) else result[-1]
        # Sums of per-sentence scores, added in another order: equal to the last digits.
        got, want = last.numeric, entries[-1].numeric
        assert (got.count, got.kind) == (want.count, want.kind)
        assert got.value == pytest.approx(want.value, rel=1e-12)
        assert blockwise.compute().formatted == stepwise.compute().formatted


# The example.


def test_the_sequence_example_trains_and_reports_error_rates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from examples import sequence  # noqa: PLC0415

    inputs, targets = sequence.reversal_data(4, seed=0)
    for row, reversed_row in zip(inputs.tolist(), targets.tolist(), strict=True):
        digits = [token for token in row if token != sequence.PAD]
        assert [token for token in reversed_row if token != sequence.PAD] == digits[::-1]
    cer = sequence.main(["--quick", "--plain", "--directory", str(tmp_path / "run")])
    printed = capsys.readouterr().out
    assert "[valid] epoch 2/2 done" in printed
    assert "| CER " in printed
    assert "| WER " in printed
    assert 0.0 <= cer < 100.0
