"""The BLEU score of token sequences (Burn's ``BleuScore``), corpus-level over the epoch.

BLEU is the geometric mean of the modified ``n``-gram precisions (``n`` up to ``max_n``, 4 by
default) times a brevity penalty, in ``[0, 100]``, as sacrebleu's ``corpus_bleu`` gives it for
texts of token ids joined as words (``tokenize="none"``) with one reference each. Smoothing
follows sacrebleu's ``smooth_method`` (``none``, ``floor``, ``add-k``, ``exp``; see
:data:`~burnish.functional.sequence.Smoothing`); TorchMetrics' ``BLEUScore(smooth=True)`` is
``add-k`` with ``k = 1`` when every order has a match.

Unlike Burn, which averages batch scores, the epoch value is computed from the statistics
(matches, ``n``-grams and lengths) summed over the epoch, as a corpus score is. They are
counted on the inputs' device at each update (:func:`~burnish.functional.sequence.bleu_counts`)
without reading a value, and summed as confusion counts are, so the state has a fixed size and
syncs across processes by a sum.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import get_args

import torch

from burnish.adaptor import SequenceInput
from burnish.functional.sequence import Smoothing, bleu_counts, bleu_from_counts
from burnish.metric.base import MetricMetadata
from burnish.metric.block import BlockUpdateMixin, InputBlock
from burnish.metric.confusion_state import ConfusionStatsState
from burnish.metric.entry import BlockResult, FormatOptions
from burnish.metric.sequence import join_sequences
from burnish.metric.state import NumericStateMetric

__all__ = ["BleuScore"]


class BleuScore(BlockUpdateMixin[SequenceInput], NumericStateMetric[ConfusionStatsState]):
    """Corpus BLEU of predicted token ids against one target each (see
    :mod:`burnish.metric.bleu`); tokens equal to ``pad_token`` (the metric's, or the input's)
    are removed. Shown in percent; named ``BLEU-{max_n}`` unless ``name`` says otherwise."""

    input_type = SequenceInput
    higher_is_better = True

    def __init__(
        self,
        max_n: int = 4,
        *,
        smooth: Smoothing = "none",
        smooth_value: float | None = None,
        pad_token: int | None = None,
        name: str | None = None,
    ) -> None:
        self.name = f"BLEU-{max_n}" if name is None else name
        if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
            raise ValueError(f"{self.name}: expected max_n as an int >= 1, received {max_n!r}")
        if smooth not in get_args(Smoothing):
            raise ValueError(
                f"{self.name}: expected smooth among {get_args(Smoothing)}, received {smooth!r}"
            )
        if smooth_value is not None and not smooth_value >= 0.0:
            raise ValueError(
                f"{self.name}: expected smooth_value >= 0 (or None), received {smooth_value!r}"
            )
        self.max_n = max_n
        self.smooth: Smoothing = smooth
        self.smooth_value = smooth_value
        self.pad_token = pad_token
        reduce = functools.partial(_reduce, max_n=max_n, smooth=smooth, smooth_value=smooth_value)
        self._state = ConfusionStatsState(FormatOptions(self.name).unit("%").precision(2), reduce)

    def update_block(
        self, block: InputBlock[SequenceInput], metadata: Sequence[MetricMetadata]
    ) -> BlockResult:
        """Update with several steps at once (see :mod:`burnish.metric.block`)."""
        joined = join_sequences(block, self.name, self.pad_token)
        segments = joined.segments

        def count() -> torch.Tensor:
            return bleu_counts(
                joined.predictions,
                joined.targets,
                joined.prediction_lengths,
                joined.target_lengths,
                self.max_n,
            )

        # Shared by BLEU metrics of one order and padding (smoothing is applied when read).
        what = ("bleu-counts", self.max_n, joined.pad_token)
        sentences = block.derive(what, ("predictions", "targets"), count)
        return self._state.update_steps(segments.sums(sentences).unsqueeze(-1), segments.sizes)


def _reduce(
    counts: torch.Tensor, *, max_n: int, smooth: Smoothing, smooth_value: float | None
) -> torch.Tensor:
    """The scores of counts ``(..., 2 * max_n + 2, 1)``, as the state keeps them."""
    return bleu_from_counts(counts.squeeze(-1), max_n, smooth, smooth_value)
