"""Each process's share of a data set: torch's padded ``DistributedSampler`` for training, and an
unpadded sampler for exact evaluation."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sized
from typing import Any

import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    DistributedSampler,
    IterableDataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
)

from burnish.distributed.process import process_count, process_rank

__all__ = ["UnpaddedDistributedSampler", "is_sharded", "set_loader_epoch", "shard_loader"]

log = logging.getLogger("burnish.distributed")


class UnpaddedDistributedSampler(Sampler[int]):
    """Every index exactly once across the processes: process ``r`` of ``n`` takes the
    indices ``r, r + n, r + 2n, ...`` of the data set (of a shuffled order with ``shuffle``).

    torch's ``DistributedSampler`` pads the data set with repeated indices until it divides
    evenly, so that every process runs as many batches; an evaluation over it counts the
    repeated items twice. This sampler does not pad: shares differ by at most one item, and
    metric sync handles the difference. Use it for evaluation, where no step is a collective;
    DDP training needs the padded sampler, since every training step all-reduces gradients and
    a process with fewer batches would leave the others waiting.
    """

    def __init__(
        self,
        dataset: Sized,
        num_replicas: int | None = None,
        rank: int | None = None,
        *,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        self.dataset = dataset
        self.num_replicas = process_count() if num_replicas is None else num_replicas
        self.rank = process_rank() if rank is None else rank
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(
                f"expected a rank in [0, {self.num_replicas - 1}], received {self.rank}"
            )
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def __iter__(self) -> Iterator[int]:
        size = len(self.dataset)
        if not self.shuffle:
            return iter(range(self.rank, size, self.num_replicas))
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        order: list[int] = torch.randperm(size, generator=generator).tolist()
        return iter(order[self.rank :: self.num_replicas])

    def __len__(self) -> int:
        return len(range(self.rank, len(self.dataset), self.num_replicas))

    def set_epoch(self, epoch: int) -> None:
        """Shuffle differently each epoch (the same order on every process)."""
        self.epoch = epoch


def shard_loader(loader: Iterable[Any], *, pad: bool) -> Iterable[Any]:
    """``loader`` rebuilt to read this process's share, when it is a ``DataLoader`` of a map-style
    data set with the default sampler (sequential, or random from ``shuffle=True``).

    ``pad``: torch's ``DistributedSampler`` (training: every process runs as many batches,
    repeating a few items when the data set does not divide evenly), else
    :class:`UnpaddedDistributedSampler` (evaluation: every item once). Shuffling follows the
    loader's, with seed 0 and the epoch, as torch's sampler does. Other loaders are returned as
    they are: a loader with a sampler of its own is assumed to shard itself (a warning says so
    when it does not look distributed).
    """
    if not isinstance(loader, DataLoader) or isinstance(loader.dataset, IterableDataset):
        return loader
    sampler = loader.sampler
    if is_sharded(sampler) or is_sharded(getattr(loader.batch_sampler, "sampler", None)):
        return loader
    default_batches = loader.batch_size is not None and type(loader.batch_sampler) is BatchSampler
    plain_random = (
        type(sampler) is RandomSampler
        and not sampler.replacement
        and sampler._num_samples is None  # RandomSampler has no public accessor for it
    )
    if not default_batches or not (type(sampler) is SequentialSampler or plain_random):
        log.warning(
            "a loader with its own sampler (%s) is read whole by every process: give it a "
            "DistributedSampler (or burnish's UnpaddedDistributedSampler) to share it",
            type(loader.batch_sampler if not default_batches else sampler).__qualname__,
        )
        return loader
    dataset: Any = loader.dataset
    shuffle = type(sampler) is RandomSampler
    shard: Sampler[int] = (
        DistributedSampler(dataset, shuffle=shuffle)
        if pad
        else UnpaddedDistributedSampler(dataset, shuffle=shuffle)
    )
    options: dict[str, Any] = {}
    if hasattr(loader, "in_order"):  # torch >= 2.6
        options["in_order"] = loader.in_order
    return DataLoader(
        dataset,
        batch_size=loader.batch_size,
        sampler=shard,
        num_workers=loader.num_workers,
        collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory,
        drop_last=loader.drop_last,
        timeout=loader.timeout,
        worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context,
        generator=loader.generator,
        prefetch_factor=loader.prefetch_factor,
        persistent_workers=loader.persistent_workers,
        pin_memory_device=loader.pin_memory_device,
        **options,
    )


def is_sharded(sampler: object) -> bool:
    """Whether ``sampler`` reads one process's share (torch's or burnish's distributed sampler)."""
    return isinstance(sampler, DistributedSampler | UnpaddedDistributedSampler)


def set_loader_epoch(loader: Iterable[Any], epoch: int) -> None:
    """Call ``set_epoch(epoch)`` on the loader's sampler, batch sampler or batch sampler's
    sampler, those that have one, so that a distributed sampler shuffles each epoch anew."""
    batch_sampler = getattr(loader, "batch_sampler", None)
    for sampler in (
        getattr(loader, "sampler", None),
        batch_sampler,
        getattr(batch_sampler, "sampler", None),
    ):
        set_epoch = getattr(sampler, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)
