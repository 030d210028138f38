"""ROUGE-1, ROUGE-2 and ROUGE-L F-measures of token sequences (Burn's ``RougeLScore``, and
ROUGE-N beside it).

Each sentence's F-measure is computed as the rouge-score package (and TorchMetrics'
``ROUGEScore``) computes it for texts of token ids joined as words: from the ``n``-grams the
prediction shares with its target, each counted at most as often as both have it (ROUGE-N), or
from their longest common subsequence (ROUGE-L); a sentence whose prediction or target is empty
scores 0 (Burn gives 100 when both are). The epoch value is the mean over sentences, as
TorchMetrics gives it, in percent (Burn's unit). Computed on the inputs' device without reading
a value (:func:`~burnish.functional.sequence.bleu_counts`,
:func:`~burnish.functional.sequence.lcs_lengths`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import torch

from burnish.adaptor import SequenceInput
from burnish.functional.sequence import bleu_counts, lcs_lengths, rouge_fmeasures
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock
from burnish.metric.entry import BlockResult, FormatOptions
from burnish.metric.sequence import JoinedSequences, join_sequences
from burnish.metric.state import NumericMetricState, NumericStateMetric

__all__ = ["RougeScore", "RougeVariant"]

RougeVariant = Literal["rouge1", "rouge2", "rougeL"]
"""Which overlap counts: unigrams, bigrams, or the longest common subsequence."""

_ORDERS = 4
_NAMES = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L"}


class RougeScore(BlockUpdateMixin[SequenceInput], NumericStateMetric[NumericMetricState]):
    """The mean ROUGE F-measure of the epoch's sentences, in percent (see
    :mod:`burnish.metric.rouge`); tokens equal to ``pad_token`` (the metric's, or the input's)
    are removed. Named ``ROUGE-1``, ``ROUGE-2`` or ``ROUGE-L`` unless ``name`` says otherwise.
    """

    input_type = SequenceInput
    higher_is_better = True

    def __init__(
        self,
        variant: RougeVariant = "rougeL",
        *,
        pad_token: int | None = None,
        name: str | None = None,
    ) -> None:
        if variant not in get_args(RougeVariant):
            raise ValueError(
                f"{name or 'ROUGE'}: expected a variant among {get_args(RougeVariant)}, received "
                f"{variant!r}"
            )
        self.name = _NAMES[variant] if name is None else name
        self.variant: RougeVariant = variant
        self.pad_token = pad_token
        self._state = NumericMetricState(
            FormatOptions(self.name).unit("%").precision(2), scale=100.0
        )

    def update_block(
        self, block: InputBlock[SequenceInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        joined = join_sequences(block, self.name, self.pad_token)
        fields = ("predictions", "targets")
        if self.variant == "rougeL":
            overlaps = block.derive(("lcs", joined.pad_token), fields, lambda: _lcs(joined))
            predicted, target = joined.prediction_lengths, joined.target_lengths
        else:
            order = 1 if self.variant == "rouge1" else 2
            # The matches BLEU-4 counts (under its key): one count serves it and both ROUGE-N.
            counts = block.derive(
                ("bleu-counts", _ORDERS, joined.pad_token), fields, lambda: _counts(joined)
            )
            overlaps, predicted = counts[:, order - 1], counts[:, _ORDERS + order - 1]
            target = (joined.target_lengths - order + 1).clamp(min=0)
        scores = rouge_fmeasures(overlaps, predicted, target)
        segments = joined.segments
        return self._state.update_steps(segments.sums(scores), segments.sizes)


def _lcs(joined: JoinedSequences) -> torch.Tensor:
    return lcs_lengths(
        joined.predictions, joined.targets, joined.prediction_lengths, joined.target_lengths
    )


def _counts(joined: JoinedSequences) -> torch.Tensor:
    return bleu_counts(
        joined.predictions,
        joined.targets,
        joined.prediction_lengths,
        joined.target_lengths,
        _ORDERS,
    )
