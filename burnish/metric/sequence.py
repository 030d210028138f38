"""Edit-distance metrics of token sequences: CER and WER (Burn's ``CharErrorRate`` and
``WordErrorRate``), and how sequence metrics read a block of :class:`SequenceInput`.

An error rate is the summed edit distance (substitutions, deletions, insertions) of the
predictions to their targets over the summed target lengths, for the whole epoch at once, as
jiwer and TorchMetrics compute it over a corpus: never a mean of per-sentence rates, so a long
sentence weighs more than a short one. Values are percentages (Burn's unit), and may pass 100 %
when predictions are longer than their targets. Over token ids, both metrics count tokens: a
character model's ids make a CER, a word model's a WER. Given ``decode`` (ids to text), the CER
counts the characters of the texts and the WER their whitespace-separated words, as
TorchMetrics' ``CharErrorRate`` / ``WordErrorRate`` do (jiwer also strips each text first).

Over ids, the edit distances are computed on the inputs' device, every sequence of the block
at once (:func:`~burnish.functional.sequence.edit_distances`), without reading a value. With
``decode``, the update reads the tokens to the host, as turning them into text must.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from burnish.adaptor import SequenceInput
from burnish.functional.sequence import compact, edit_distances
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock, RaggedBlockError, Segments
from burnish.metric.entry import BlockResult, FormatOptions
from burnish.metric.host import to_numpy
from burnish.metric.state import NumericMetricState, NumericStateMetric
from burnish.metric.validation import check_batch_sizes, check_integer, check_ndim

__all__ = ["CharErrorRate", "Decode", "JoinedSequences", "WordErrorRate", "join_sequences"]

Decode = Callable[[list[int]], str]
"""Turns one sequence's token ids (padding removed) into its text."""


@dataclass(frozen=True, slots=True)
class JoinedSequences:
    """A block's predicted and target token ids, each ``(N, T)`` with padding (``pad_token``)
    moved to the end of every sequence, and how many tokens of each sequence count ``(N,)``."""

    predictions: torch.Tensor
    prediction_lengths: torch.Tensor
    targets: torch.Tensor
    target_lengths: torch.Tensor
    segments: Segments
    pad_token: int | None


def _pad_token(block: InputBlock[SequenceInput], metric: str, own: int | None) -> int | None:
    """The padding of the block's sequences: the metric's own, or the inputs'."""
    given = set(block.column("pad_token"))
    if len(given) > 1:
        raise RaggedBlockError(f"the steps' pad tokens differ: {sorted(map(str, given))}")
    (theirs,) = given
    if own is not None and theirs is not None and own != theirs:
        raise ValueError(
            f"{metric}: expected the inputs' pad_token to be the metric's, {own}, received {theirs}"
        )
    return theirs if own is None else own


def _check(metric: str, block: InputBlock[SequenceInput]) -> None:
    for predictions, targets in zip(
        block.column("predictions"), block.column("targets"), strict=True
    ):
        check_ndim(metric, "predictions", predictions, (2,), "(N, P) of token ids")
        check_ndim(metric, "targets", targets, (2,), "(N, R) of token ids")
        check_integer(metric, "predictions", predictions)
        check_integer(metric, "targets", targets)
        check_batch_sizes(metric, ("predictions", predictions), ("targets", targets))


def _joined(
    block: InputBlock[SequenceInput], field: str, pad_token: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The steps' ``field`` joined (steps of other lengths filled to the longest) and without
    padding, with each sequence's length."""
    tensors: list[torch.Tensor] = block.column(field)
    widths = [tensor.shape[1] for tensor in tensors]
    width = max(widths)
    if min(widths) == width:
        joined = block.cat(field)
        lengths = None
    else:
        # Sequences of another length in each step: filled, and their lengths kept.
        fill = 0 if pad_token is None else pad_token
        with torch.no_grad():
            padded = [
                torch.nn.functional.pad(tensor, (0, width - tensor.shape[1]), value=fill)
                for tensor in tensors
            ]
        if len({tensor.dtype for tensor in padded}) > 1:
            raise RaggedBlockError(f"the steps' {field} differ in dtype")
        try:
            joined = torch.cat(padded)
        except RuntimeError as error:  # on other devices
            raise RaggedBlockError(f"the steps' {field} cannot be joined: {error}") from error
        sizes = torch.tensor([tensor.shape[0] for tensor in tensors])
        # Built on the host, where the widths are: the copy waits for nothing.
        lengths = torch.repeat_interleave(torch.tensor(widths), sizes).to(
            joined.device, non_blocking=True
        )
    compacted, counted = compact(joined, pad_token)
    if counted is not None:
        return compacted, counted
    if lengths is None:
        lengths = torch.full((joined.shape[0],), width, dtype=torch.long, device=joined.device)
    return compacted, lengths


def join_sequences(
    block: InputBlock[SequenceInput], metric: str, pad_token: int | None
) -> JoinedSequences:
    """The block's sequences checked and joined, once per block and padding however many
    sequence metrics ask (see :class:`JoinedSequences`). Shapes and dtypes are checked now:
    a step's own error for a block of one, else :class:`RaggedBlockError`, for the steps to be
    updated one by one."""
    try:
        _check(metric, block)
        pad = _pad_token(block, metric, pad_token)
    except (TypeError, ValueError) as error:
        block.check_failed(error)
        raise

    def join() -> JoinedSequences:
        predictions, predicted = _joined(block, "predictions", pad)
        targets, lengths = _joined(block, "targets", pad)
        segments = block.segments("predictions", "targets")
        return JoinedSequences(predictions, predicted, targets, lengths, segments, pad)

    return block.derive(("sequences", pad), ("predictions", "targets"), join)


class _ErrorRate(BlockUpdateMixin[SequenceInput], NumericStateMetric[NumericMetricState]):
    """What CER and WER share; ``_words`` says how ``decode``'s texts are split."""

    input_type = SequenceInput
    higher_is_better = False
    _words: bool

    def __init__(
        self, name: str, pad_token: int | None = None, decode: Decode | None = None
    ) -> None:
        self.name = name
        self.pad_token = pad_token
        self.decode = decode
        self._state = NumericMetricState(FormatOptions(name).unit("%").precision(2), scale=100.0)

    def update_block(
        self, block: InputBlock[SequenceInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        joined = join_sequences(block, self.name, self.pad_token)
        segments = joined.segments
        if self.decode is None:
            # The same for CER and WER of one block: computed once.
            errors = block.derive(
                ("edit-distances", joined.pad_token),
                ("predictions", "targets"),
                lambda: edit_distances(
                    joined.predictions,
                    joined.targets,
                    joined.prediction_lengths,
                    joined.target_lengths,
                ),
            )
            lengths = joined.target_lengths
        else:
            errors, lengths = self._text_distances(joined, self.decode)
            segments = Segments(segments.sizes, errors.device)
        return self._state.update_steps(segments.sums(errors), segments.sums(lengths))

    def _text_distances(
        self, joined: JoinedSequences, decode: Decode
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each sequence's edit distance and target length in characters or words of its
        decoded text, on the host."""
        host = to_numpy(
            [
                joined.predictions,
                joined.prediction_lengths,
                joined.targets,
                joined.target_lengths,
            ]
        )
        predictions, predicted, targets, lengths = (array.tolist() for array in host)
        vocabulary: dict[str, int] = {}

        def units(tokens: list[int], length: int) -> list[int]:
            text = decode(tokens[:length])
            parts = text.split() if self._words else list(text)
            return [vocabulary.setdefault(part, len(vocabulary)) for part in parts]

        hypotheses = [units(*row) for row in zip(predictions, predicted, strict=True)]
        references = [units(*row) for row in zip(targets, lengths, strict=True)]
        hypothesis_ids, hypothesis_lengths = _padded(hypotheses)
        reference_ids, reference_lengths = _padded(references)
        errors = edit_distances(
            hypothesis_ids, reference_ids, hypothesis_lengths, reference_lengths
        )
        return errors, reference_lengths


def _padded(sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(sequence) for sequence in sequences], dtype=torch.long)
    width = max((len(sequence) for sequence in sequences), default=0)
    ids = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
    return ids, lengths


class CharErrorRate(_ErrorRate):
    """Character error rate (CER), in percent: summed edit distances over summed target
    lengths for the epoch (see :mod:`burnish.metric.sequence`).

    Tokens equal to ``pad_token`` (the metric's, or the input's) are removed. Over token ids
    each token is a character; with ``decode`` the characters of the decoded texts count (the
    update then reads the tokens to the host).
    """

    _words = False

    def __init__(
        self, pad_token: int | None = None, decode: Decode | None = None, name: str = "CER"
    ) -> None:
        super().__init__(name, pad_token, decode)


class WordErrorRate(_ErrorRate):
    """Word error rate (WER), in percent: summed edit distances over summed target lengths
    for the epoch (see :mod:`burnish.metric.sequence`).

    Tokens equal to ``pad_token`` (the metric's, or the input's) are removed. Over token ids
    each token is a word; with ``decode`` the whitespace-separated words of the decoded texts
    count (the update then reads the tokens to the host).
    """

    _words = True

    def __init__(
        self, pad_token: int | None = None, decode: Decode | None = None, name: str = "WER"
    ) -> None:
        super().__init__(name, pad_token, decode)
