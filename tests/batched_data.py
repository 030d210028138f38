"""An epoch of numpy data cut into batches of any sizes, and metrics fed with it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np
import torch
from hypothesis import strategies as st

from burnish.metric.base import Metric, MetricMetadata

InputT = TypeVar("InputT")

META = MetricMetadata.fake()


def split(n: int, draw: Callable[[st.SearchStrategy[list[int]]], list[int]]) -> list[int]:
    """Batch sizes (at most 7, none empty) that add up to ``n``, from ``draw`` (a composite
    strategy's ``draw`` or ``st.data()``'s ``.draw``)."""
    cuts = sorted(draw(st.lists(st.integers(1, max(n - 1, 1)), max_size=6)))
    sizes = np.diff([0, *[c for c in cuts if c < n], n]).tolist()
    return [s for s in sizes if s > 0]


def batches(arrays: tuple[np.ndarray, ...], sizes: Sequence[int]) -> list[tuple[torch.Tensor, ...]]:
    """The rows of ``arrays`` in batches of ``sizes``, as tensors sharing their memory."""
    out, start = [], 0
    for size in sizes:
        out.append(tuple(torch.from_numpy(a[start : start + size]) for a in arrays))
        start += size
    return out


def feed(
    make_input: Callable[[torch.Tensor, torch.Tensor], InputT],
    metrics: Sequence[Metric[InputT]],
    scores: np.ndarray,
    targets: np.ndarray,
    sizes: Sequence[int],
) -> None:
    """Updates every one of ``metrics`` with each batch of ``sizes``, as ``make_input(s, t)``."""
    for batch_scores, batch_targets in batches((scores, targets), sizes):
        item = make_input(batch_scores, batch_targets)
        for metric in metrics:
            metric.update(item, META)
