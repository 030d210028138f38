"""Bootstrap confidence intervals: TorchMetrics' ``BootStrapper``.

``num_bootstraps`` copies of a metric are each updated with every batch resampled with
replacement along its first dimension: ``poisson`` (each item taken a Poisson(1) number of
times, which approximates the bootstrap of the whole epoch) or ``multinomial`` (``N`` items drawn
from the batch's ``N``). Samples are drawn on the CPU as TorchMetrics draws them, so the same
seed gives the same resamples, and only their indices travel to the inputs' device: nothing is
read from it. The copies' epoch values give the mean, the standard deviation (unbiased) and
quantiles.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar, get_args

import torch

from burnish.adaptor import MetricInput
from burnish.distributed.sync import StateSync, SyncOnCompute, compute_view
from burnish.metric.arithmetic import NumericMetricMixin
from burnish.metric.base import STANDALONE, MetricMetadata, Stateful, input_type_of
from burnish.metric.entry import FormatOptions, MetricEntry, NumericEntry, Text, format_value
from burnish.metric.mixins import check_state
from burnish.metric.operand import (
    Decoded,
    NumericMetric,
    OperandReader,
    PendingGroup,
    batches,
    epochs,
)
from burnish.metric.validation import expect_input
from burnish.metric.values import nan_mean

__all__ = ["BootStrapper", "BootstrapResult", "Sampling"]

Sampling = Literal["poisson", "multinomial"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    """The statistics of the bootstrapped values (NaN where undefined, as a deviation of one)."""

    mean: float
    std: float
    quantiles: dict[float, float]
    raw: tuple[float, ...]


def _draw(size: int, sampling: Sampling, generator: torch.Generator | None) -> torch.Tensor:
    """Indices of a resample of ``size`` items, on the CPU (TorchMetrics' draws)."""
    if sampling == "poisson":
        counts = torch.poisson(torch.ones(size), generator=generator).long()
        return torch.arange(size).repeat_interleave(counts)
    if size == 0:  # multinomial cannot draw from nothing
        return torch.zeros(0, dtype=torch.long)
    return torch.multinomial(torch.ones(size), size, replacement=True, generator=generator)


def _items(item: object, metric: str) -> torch.Tensor:
    """The first tensor of ``item`` with a batch dimension: it tells the batch size and device."""
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        for field in dataclasses.fields(item):
            value = getattr(item, field.name)
            if field.init and isinstance(value, torch.Tensor) and value.ndim > 0:
                return value
    raise TypeError(
        f"{metric}: resamples the items of a batch: expected an input (a dataclass) with a "
        f"tensor of one row per item, received {type(item).__qualname__}"
    )


def _resample(item: T, index: torch.Tensor, size: int) -> T:
    """``item`` with every tensor of ``size`` rows taken at ``index``, and a memo of its own."""
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(item):  # type: ignore[arg-type]
        value = getattr(item, field.name)
        if field.init and isinstance(value, torch.Tensor) and value.ndim and len(value) == size:
            changes[field.name] = value.index_select(0, index)
    if isinstance(item, MetricInput):
        changes["derived"] = {}
    return dataclasses.replace(item, **changes)  # type: ignore[type-var]


class BootStrapper(NumericMetricMixin, SyncOnCompute):
    """``metric``'s value with a bootstrap confidence interval (see the module text).

    :meth:`bootstrap` gives the mean, standard deviation, ``quantiles`` and raw values of the
    copies' epoch values; the numeric value is the mean, and the entries read
    ``0.9123 ± 0.0101 [0.025: 0.8911, 0.975: 0.9310]``. A per-class metric is bootstrapped by
    its numeric value (the mean over classes). ``generator`` (a CPU ``torch.Generator``) draws
    the resamples instead of the global generator. ``metric`` is copied, never updated itself.

    In a distributed run, ``compute()`` covers every process (see ``SyncOnCompute``): each copy
    is synced, so that copy ``i`` holds every process's ``i``-th resample of its own batches,
    which together resample the run's data as one process would (a Poisson resample of each
    item, or a multinomial one of each process's batch). Give each process a generator of its
    own seed (``torch.Generator().manual_seed(seed + rank)``): processes that draw alike, as
    from a global generator seeded alike for the model's sake, resample their batches alike.
    """

    # The copies sync; the readers read them, so a synced copy's readers read synced copies.
    state_reductions: ClassVar[dict[str, StateSync]] = {"_copies": "nested", "_readers": "nested"}

    def __init__(
        self,
        metric: NumericMetric,
        num_bootstraps: int = 10,
        *,
        quantiles: Sequence[float] = (0.025, 0.975),
        sampling: Sampling = "poisson",
        generator: torch.Generator | None = None,
        name: str | None = None,
    ) -> None:
        self.name = f"{metric.name} (bootstrap)" if name is None else name
        if isinstance(num_bootstraps, bool) or not isinstance(num_bootstraps, int):
            raise ValueError(f"{self.name}: expected num_bootstraps as an int >= 2")
        if num_bootstraps < 2:
            raise ValueError(f"{self.name}: expected num_bootstraps as an int >= 2")
        if sampling not in get_args(Sampling):
            raise ValueError(
                f"{self.name}: expected sampling among {get_args(Sampling)}, received {sampling!r}"
            )
        if not all(0.0 <= q <= 1.0 for q in quantiles):
            raise ValueError(f"{self.name}: expected quantiles within [0, 1], received {quantiles}")
        kind = input_type_of(metric)
        if kind is None:
            raise ValueError(f"{self.name}: {metric.name} takes no input to resample")
        self.input_type: type[Any] = kind
        self.metric = metric
        self.num_bootstraps = num_bootstraps
        self.quantiles = tuple(quantiles)
        self.sampling: Sampling = sampling
        self.generator = generator
        self.higher_is_better = metric.higher_is_better
        self._copies = [copy.deepcopy(metric) for _ in range(num_bootstraps)]
        for duplicate in self._copies:
            duplicate.clear()
        self._readers = [OperandReader(duplicate) for duplicate in self._copies]
        self._options = FormatOptions(self.name).precision(4)
        self._updates = 0
        self._skipped = MetricEntry(self.name, "n/a", NumericEntry(math.nan, 0).serialize())

    def update(self, item: object, metadata: MetricMetadata = STANDALONE) -> MetricEntry:
        """Update each copy with its own resample of ``item`` (an input, or a step output)."""
        item = expect_input(self.name, item, self.input_type)
        rows = _items(item, self.name)
        size = len(rows)
        entries = []
        for duplicate in self._copies:
            index = _draw(size, self.sampling, self.generator)
            if index.numel() == 0:  # a Poisson draw may take nothing
                entries.append(self._skipped)
                continue
            resampled = _resample(item, index.to(rows.device, non_blocking=True), size)
            entries.append(duplicate.update(resampled, metadata))
        self._updates += 1
        pending = [reader.step(entry) for reader, entry in zip(self._readers, entries, strict=True)]
        return PendingGroup(pending).entry(self.name, self._render)

    def _render(self, group: PendingGroup, host: Sequence[list[float]]) -> tuple[Text, Text]:
        decoded = group.decode(host)
        batch = [nan_mean(values) for values in batches(decoded)]
        running = epochs(decoded)
        batch_mean = nan_mean(batch)

        def formatted() -> str:
            if running is None:
                return f"batch {self._spread(self._statistics(batch))}"
            epoch = self._statistics([nan_mean(values) for values in running])
            return f"epoch {self._spread(epoch)} - batch {self._options.format(batch_mean)}"

        return formatted, NumericEntry(batch_mean).serialize()

    def _spread(self, result: BootstrapResult) -> str:
        return f"{self._options.format(result.mean)} ± {format_value(result.std, 4)}"

    def _statistics(self, values: list[float]) -> BootstrapResult:
        raw = torch.tensor(values, dtype=torch.float64)
        quantiles = torch.quantile(raw, torch.tensor(self.quantiles, dtype=torch.float64))
        return BootstrapResult(
            float(raw.mean()),
            float(raw.std()),
            dict(zip(self.quantiles, quantiles.tolist(), strict=True)),
            tuple(values),
        )

    def _now(self) -> list[Decoded]:
        return PendingGroup([reader.now() for reader in self._readers]).read()

    def bootstrap(self) -> BootstrapResult:
        """Mean, standard deviation, quantiles and raw values of the copies' epoch values."""
        return self._statistics([nan_mean(values) for values in epochs(self._now()) or ()])

    def value(self) -> float:
        """The mean of the copies' latest batch values."""
        return nan_mean([nan_mean(values) for values in batches(self._now())])

    def running_value(self) -> NumericEntry:
        """The mean of the copies' epoch values so far, a ``final`` entry."""
        return NumericEntry(self.bootstrap().mean, self._updates, "final")

    def compute(self) -> MetricEntry:
        result = compute_view(self).bootstrap()
        spread = ", ".join(
            f"{q:g}: {format_value(value, 4)}" for q, value in result.quantiles.items()
        )
        formatted = f"{self._spread(result)} [{spread}]"
        entry = NumericEntry(result.mean, self._updates, "final")
        return MetricEntry(self.name, formatted, entry.serialize())

    def clear(self) -> None:
        for duplicate, reader in zip(self._copies, self._readers, strict=True):
            duplicate.clear()
            reader.clear()
        self._updates = 0

    def state_dict(self) -> dict[str, Any]:
        """Every copy's state, and the generator's when one was given."""
        copies = [d.state_dict() if isinstance(d, Stateful) else None for d in self._copies]
        # As numbers: the generator's state stays on the CPU when the metric moves.
        generator = None if self.generator is None else self.generator.get_state().tolist()
        return {"copies": copies, "updates": self._updates, "generator": generator}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_state(self, state)
        for duplicate, reader, saved in zip(
            self._copies, self._readers, state["copies"], strict=True
        ):
            if saved is not None and isinstance(duplicate, Stateful):
                duplicate.load_state_dict(saved)
            reader.restored()
        self._updates = int(state["updates"])
        if self.generator is not None and state["generator"] is not None:
            self.generator.set_state(torch.tensor(state["generator"], dtype=torch.uint8))
