"""Training and metrics on several processes with torch.distributed (launched with torchrun).

Metric state syncs at compute time (:mod:`burnish.distributed.sync`); the learner wraps the
model in ``DistributedDataParallel`` and shares the data among the processes
(:mod:`burnish.distributed.data`); a failed peer surfaces as a :class:`DistributedError`.
"""

from burnish.distributed.data import (
    UnpaddedDistributedSampler,
    is_sharded,
    set_loader_epoch,
    shard_loader,
)
from burnish.distributed.process import (
    DistributedError,
    collective,
    is_communication_error,
    is_distributed,
    is_main_process,
    process_count,
    process_rank,
)
from burnish.distributed.sync import (
    ReduceFn,
    Reduction,
    StateSync,
    SyncOnCompute,
    compute_view,
    compute_views,
    synced,
    synced_all,
)

__all__ = [
    "DistributedError",
    "ReduceFn",
    "Reduction",
    "StateSync",
    "SyncOnCompute",
    "UnpaddedDistributedSampler",
    "collective",
    "compute_view",
    "compute_views",
    "is_communication_error",
    "is_distributed",
    "is_main_process",
    "is_sharded",
    "process_count",
    "process_rank",
    "set_loader_epoch",
    "shard_loader",
    "synced",
    "synced_all",
]
