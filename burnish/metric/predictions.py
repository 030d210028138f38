"""The states of epoch-wide ranking metrics (AUROC, AUC-PR): every score kept, or a fixed-size
histogram of them. Each declares how it syncs across processes (``state_reductions``)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from burnish.distributed.sync import StateSync
from burnish.metric.block import detached

__all__ = ["PredictionAccumulator", "ScoreHistogram"]


class PredictionAccumulator:
    """Every batch's scores and targets, kept on their device for epoch-wide ranking metrics.

    Memory grows with the samples seen (``nbytes``); the binned :class:`ScoreHistogram` is the
    fixed-size alternative. Tensors are kept as given (detached, not copied): do not modify a
    batch's outputs in place after updating a metric with them.
    """

    state_reductions: ClassVar[dict[str, StateSync]] = {
        "_scores": "cat",
        "_targets": "cat",
        "items": "sum",
    }

    def __init__(self) -> None:
        self._scores: list[torch.Tensor] = []
        self._targets: list[torch.Tensor] = []
        self.items = 0

    def append(self, scores: torch.Tensor, targets: torch.Tensor) -> None:
        self._scores.append(detached(scores))
        self._targets.append(detached(targets))
        self.items += scores.shape[0]

    def gather(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """All scores and targets so far, concatenated (once: later calls reuse the result)."""
        kept = self.batches()
        if kept is None:
            return None
        scores, targets = kept
        if len(scores) > 1:
            self._scores = [torch.cat(scores)]
        return self._scores[0], targets

    def batches(self) -> tuple[list[torch.Tensor], torch.Tensor] | None:
        """Every batch's scores as kept (not joined: an epoch's ranking reads them in turn),
        and all targets joined (once: later calls reuse them)."""
        if not self._scores:
            return None
        if len(self._targets) > 1:
            self._targets = [torch.cat(self._targets)]
        return list(self._scores), self._targets[0]

    @property
    def nbytes(self) -> int:
        """Bytes of state held: grows with the number of samples."""
        tensors = [*self._scores, *self._targets]
        return sum(tensor.numel() * tensor.element_size() for tensor in tensors)

    def clear(self) -> None:
        self._scores = []
        self._targets = []
        self.items = 0

    def state_dict(self) -> dict[str, Any]:
        gathered = self.gather()
        scores, targets = (None, None) if gathered is None else gathered
        return {"scores": scores, "targets": targets, "items": self.items}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.clear()
        if state["scores"] is not None:
            self._scores, self._targets = [state["scores"]], [state["targets"]]
        self.items = int(state["items"])


class ScoreHistogram:
    """Fixed-size counts of scores per bin (binned ranking metrics): memory independent of the
    number of samples. Batches add out of place, so entries may hold the tensors handed out.
    """

    state_reductions: ClassVar[dict[str, StateSync]] = {"counts": "sum", "items": "sum"}

    def __init__(self) -> None:
        self.counts: torch.Tensor | None = None
        self.items = 0

    def add(self, counts: torch.Tensor, items: int) -> None:
        self.counts = counts if self.counts is None else self.counts + counts
        self.items += items

    @property
    def nbytes(self) -> int:
        """Bytes of state held: fixed by the number of columns and bins."""
        return 0 if self.counts is None else self.counts.numel() * self.counts.element_size()

    def clear(self) -> None:
        self.counts = None
        self.items = 0

    def state_dict(self) -> dict[str, Any]:
        return {"counts": self.counts, "items": self.items}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.counts, self.items = state["counts"], int(state["items"])
