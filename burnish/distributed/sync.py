"""Metric state synchronised across processes at compute time, with torch.distributed.

A metric says how each of its states reduces across processes in a ``state_reductions``
mapping of attribute names, as TorchMetrics' ``add_state(..., dist_reduce_fx=...)`` does:

- ``"sum"``, ``"mean"``, ``"min"``, ``"max"``: element-wise over the processes holding the state;
- ``"cat"``: concatenated along the first dimension in rank order, sizes free to differ;
- a function: given the state of every process that holds one (in rank order), returns the
  synced state;
- ``"nested"``: the attribute is an object with ``state_reductions`` of its own (or a list or
  tuple of such objects, e.g. the operands of a metric made of metrics).

A state is a tensor, a Python number, a list of tensors (concatenated along the first
dimension, 0-d tensors stacked) or ``None``: a process with nothing yet contributes nothing, and
its synced state is that of the others. Element-wise reductions run in float64; ``min`` and
``max`` propagate NaN.

A state need not be kept as it syncs: an object that derives it from what it keeps (a window's
totals from a history of them, an epoch's arrays packed as rows of bytes) declares it all the
same and returns its value now from ``sync_states()``, a mapping by attribute name; the synced
copy holds the synced value as an attribute of that name.

Syncing never changes a metric: :func:`synced` returns a shallow copy that holds the synced
states (the local state carries on, so a later update continues this process's epoch and a
second sync counts nothing twice), and reading the copy reads every process's data. An object
reached several times (an operand shared by composites, or registered beside them) is synced
once, and every copy that reaches it holds the same synced copy of it.

However many metrics sync together, it takes at most four collectives: an all-gather of a
small header (which states each process holds, their dtypes and shapes), then, overlapped, one
all-reduce of every sum and mean state packed into one float64 buffer, one all-reduce of every
min and max state (min negated, so one ``MAX`` does both), and one all-gather of every
concatenated or function state packed as bytes and padded to the largest process's share.
"""

from __future__ import annotations

import contextlib
import copy
import math
import weakref
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import torch
import torch.distributed as dist

from burnish.distributed.process import collective, process_count

if TYPE_CHECKING:
    from torch.distributed import ProcessGroup

__all__ = [
    "ReduceFn",
    "Reduction",
    "StateSync",
    "SyncOnCompute",
    "compute_view",
    "compute_views",
    "synced",
    "synced_all",
]

Reduction = Literal["sum", "mean", "min", "max", "cat"]
ReduceFn = Callable[[list[torch.Tensor]], torch.Tensor]
StateSync = Reduction | ReduceFn | Literal["nested"]

T = TypeVar("T")

_ELEMENTWISE = ("sum", "mean", "min", "max")
_MAX_NDIM = 8
_ALIGN = 16  # bytes: every dtype's view of a slice starting here is aligned
_DTYPES = (
    torch.float64,
    torch.float32,
    torch.float16,
    torch.bfloat16,
    torch.int64,
    torch.int32,
    torch.int16,
    torch.int8,
    torch.uint8,
    torch.bool,
    torch.complex64,
    torch.complex128,
)
# How a state is held, so that its synced value is handed back in the same form.
_TENSOR, _NUMBER, _LIST, _STACKED = range(4)


class SyncOnCompute:
    """How a built-in metric syncs: ``compute()`` covers every process of ``process_group``.

    In a run with an initialised process group of more than one process, ``compute()`` reads
    the data of every process in ``process_group`` (the default group when ``None``); set
    ``sync_on_compute = False`` for this process's own value. Update entries, ``value()`` and
    ``running_value()`` are always this process's own: they cost no collective.
    """

    process_group: ProcessGroup | None = None
    sync_on_compute: bool = True


@dataclass(eq=False)
class _Leaf:
    """One declared state of one object, as this process holds it and as synced."""

    label: str
    reduce: Reduction | ReduceFn
    original: object
    tensor: torch.Tensor | None
    form: int
    synced: object = None


@dataclass(eq=False)
class _Node:
    obj: object
    leaves: dict[str, _Leaf] = field(default_factory=dict)
    children: dict[str, _Node] = field(default_factory=dict)
    # Nested lists or tuples of objects: their type, then a node per item.
    sequences: dict[str, tuple[type[Any], list[_Node]]] = field(default_factory=dict)

    def has_states(self) -> bool:
        nodes = [*self.children.values(), *(n for _, ns in self.sequences.values() for n in ns)]
        return bool(self.leaves) or any(node.has_states() for node in nodes)


@dataclass(frozen=True, slots=True)
class _Held:
    """A state as one process holds it, read from that process's header."""

    rank: int
    form: int
    dtype: torch.dtype
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


# Copies made by a sync: syncing one again would count every other process twice.
_views: weakref.WeakSet[Any] = weakref.WeakSet()


def _is_view(obj: object) -> bool:
    try:
        return obj in _views
    except TypeError:  # not weakly referenceable: never registered
        return False


def _register(view: object) -> None:
    with contextlib.suppress(TypeError):  # not weakly referenceable
        _views.add(view)


def synced(metric: T, process_group: ProcessGroup | None = None) -> T:
    """A copy of ``metric`` whose reads cover the data of every process in ``process_group``
    (the default group when ``None``); ``metric`` itself is unchanged.

    A collective: every process of the group calls it, with the same metrics in the same order.
    Outside a distributed run, or for a metric with no ``state_reductions``, the metric itself.
    """
    return synced_all([metric], process_group)[0]


def synced_all(metrics: Sequence[T], process_group: ProcessGroup | None = None) -> list[T]:
    """:func:`synced` for many metrics at once, with the collectives of one sync."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(metrics)
    size = process_count(process_group)
    if size < 1:
        raise ValueError("this process is not a member of the process group to sync over")
    pending = [index for index, metric in enumerate(metrics) if not _is_view(metric)]
    views = list(metrics)
    chosen = [metrics[i] for i in pending]
    # Alone in its group, a metric syncs with no one; its copy is still a view, whose
    # compute() must not sync again over the metric's own group.
    fresh = [copy.copy(m) for m in chosen] if size == 1 else _sync(chosen, process_group)
    for index, view in zip(pending, fresh, strict=True):
        if view is not metrics[index]:
            _register(view)
        views[index] = view
    return views


def compute_view(metric: T) -> T:
    """What ``metric.compute()`` reads: ``metric`` synced over its ``process_group`` when its
    ``sync_on_compute`` (default true) says so and the run is distributed, else ``metric``.

    A custom metric calls it at the top of its ``compute()`` to sync like the built-ins.
    """
    return compute_views([metric])[0]


def compute_views(metrics: Sequence[T]) -> list[T]:
    """:func:`compute_view` for many metrics: one sync per distinct process group."""
    if not (dist.is_available() and dist.is_initialized()):
        return list(metrics)
    rounds: dict[int, tuple[ProcessGroup | None, list[int]]] = {}
    for index, metric in enumerate(metrics):
        if getattr(metric, "sync_on_compute", True):
            group: ProcessGroup | None = getattr(metric, "process_group", None)
            rounds.setdefault(id(group), (group, []))[1].append(index)
    views = list(metrics)
    for group, indices in rounds.values():
        if process_count(group) == 1:
            continue  # nothing to sync, and compute() reads the metric itself
        for index, view in zip(
            indices, synced_all([metrics[i] for i in indices], group), strict=True
        ):
            views[index] = view
    return views


def _label(obj: object) -> str:
    name = getattr(obj, "name", None)
    return name if isinstance(name, str) else type(obj).__qualname__


def _sync(metrics: Sequence[T], group: ProcessGroup | None) -> list[T]:
    nodes: dict[int, _Node] = {}
    leaves: list[_Leaf] = []
    roots = [_walk(metric, _label(metric), nodes, leaves) for metric in metrics]
    if not leaves:
        return list(metrics)
    _exchange(leaves, group)
    memo: dict[int, object] = {}
    views: list[T] = []
    for metric, root in zip(metrics, roots, strict=True):
        if not root.has_states():
            views.append(metric)
            continue
        view: T = _view(root, memo)  # type: ignore[assignment]
        views.append(view)
    return views


def _walk(obj: object, label: str, nodes: dict[int, _Node], leaves: list[_Leaf]) -> _Node:
    """The declared states under ``obj``, each object once however often it is referenced."""
    known = nodes.get(id(obj))
    if known is not None:
        return known
    node = nodes[id(obj)] = _Node(obj)
    declared: Mapping[str, StateSync] = getattr(obj, "state_reductions", None) or {}
    states_now = getattr(obj, "sync_states", None)
    given: Mapping[str, object] = states_now() if declared and callable(states_now) else {}
    for attribute, how in declared.items():
        value = given[attribute] if attribute in given else getattr(obj, attribute)
        path = f"{label}.{attribute}"
        if how == "nested":
            if isinstance(value, list | tuple):
                items = [_walk(v, f"{path}[{i}]", nodes, leaves) for i, v in enumerate(value)]
                node.sequences[attribute] = (type(value), items)
            elif value is not None:
                node.children[attribute] = _walk(value, path, nodes, leaves)
        else:
            leaf = _leaf(path, how, value)
            node.leaves[attribute] = leaf
            leaves.append(leaf)
    return node


def _leaf(label: str, reduce: object, value: object) -> _Leaf:
    if not (callable(reduce) or reduce in ("sum", "mean", "min", "max", "cat")):
        raise ValueError(
            f"{label}: expected a reduction among 'sum', 'mean', 'min', 'max', 'cat', 'nested' "
            f"or a function, received {reduce!r}"
        )
    how: Reduction | ReduceFn = reduce
    if value is None:
        return _Leaf(label, how, value, None, _TENSOR)
    if isinstance(value, torch.Tensor):
        return _Leaf(label, how, value, value.detach(), _TENSOR)
    if isinstance(value, bool | int | float):
        return _Leaf(label, how, value, torch.tensor(float(value), dtype=torch.float64), _NUMBER)
    if isinstance(value, list | tuple) and all(isinstance(v, torch.Tensor) for v in value):
        if not value:
            return _Leaf(label, how, value, None, _LIST)
        if all(v.ndim == 0 for v in value):
            return _Leaf(label, how, value, torch.stack(list(value)).detach(), _STACKED)
        parts = [v.reshape(1) if v.ndim == 0 else v for v in value]
        return _Leaf(label, how, value, torch.cat(parts).detach(), _LIST)
    raise TypeError(
        f"{label}: a synced state must be a tensor, a number, a list of tensors or None, "
        f"received {type(value).__qualname__}"
    )


def _reduction_name(reduce: Reduction | ReduceFn) -> str:
    return reduce if isinstance(reduce, str) else getattr(reduce, "__qualname__", "function")


def _header(leaves: Sequence[_Leaf]) -> list[int]:
    """``[count, checksum]`` then, per state, ``[held, form, dtype, ndim, *shape]``."""
    names = "\n".join(f"{leaf.label}:{_reduction_name(leaf.reduce)}" for leaf in leaves)
    header = [len(leaves), zlib.crc32(names.encode())]
    for leaf in leaves:
        tensor = leaf.tensor
        if tensor is None:
            header += [0, leaf.form, 0, 0, *[0] * _MAX_NDIM]
            continue
        if tensor.ndim > _MAX_NDIM:
            raise ValueError(f"{leaf.label}: cannot sync a state of more than {_MAX_NDIM} dims")
        if tensor.dtype not in _DTYPES:
            raise TypeError(f"{leaf.label}: cannot sync a state of dtype {tensor.dtype}")
        padding = [0] * (_MAX_NDIM - tensor.ndim)
        header += [1, leaf.form, _DTYPES.index(tensor.dtype), tensor.ndim, *tensor.shape, *padding]
    return header


def _holders(leaves: Sequence[_Leaf], headers: list[list[int]]) -> list[list[_Held]]:
    """For each state, the processes holding it, from every process's header."""
    if any(header[:2] != headers[0][:2] for header in headers):
        raise ValueError(
            "the processes sync different metric states (different metrics, or the same "
            f"metrics in another order); this process syncs: {[leaf.label for leaf in leaves]}"
        )
    width = 4 + _MAX_NDIM
    holders: list[list[_Held]] = [[] for _ in leaves]
    for rank, header in enumerate(headers):
        for index in range(len(leaves)):
            held, form, dtype, ndim, *dims = header[2 + index * width : 2 + (index + 1) * width]
            if held:
                shape = tuple(dims[:ndim])
                holders[index].append(_Held(rank, form, _DTYPES[dtype], shape))
    return holders


def _same(label: str, what: str, values: dict[int, tuple[int, ...]]) -> tuple[int, ...]:
    if len(set(values.values())) > 1:
        by_rank = ", ".join(f"rank {rank}: {value}" for rank, value in values.items())
        raise ValueError(
            f"{label}: the processes hold states of different {what} ({by_rank}); are their "
            "inputs of the same kind (e.g. the same number of classes)?"
        )
    return next(iter(values.values()))


def _comm_device(group: ProcessGroup | None) -> torch.device:
    backend = str(dist.get_backend(group))
    if "gloo" in backend or "mpi" in backend or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", torch.cuda.current_device())


def _exchange(leaves: Sequence[_Leaf], group: ProcessGroup | None) -> None:
    """Sync every leaf's state and store the result, in its original form, in ``synced``."""
    world = process_count(group)
    device = _comm_device(group)
    mine = torch.tensor(_header(leaves), dtype=torch.int64, device=device)
    gathered = [torch.empty_like(mine) for _ in range(world)]
    with collective("exchanging the metric state header"):
        dist.all_gather(gathered, mine, group=group)
    holders = _holders(leaves, [header.tolist() for header in gathered])
    plan = _Plan(leaves, holders, world, device)
    results = plan.run(group)
    # Python numbers are read back in one transfer, not one per state.
    numbers = {i: r for i, r in enumerate(results) if leaves[i].form == _NUMBER and r is not None}
    host = torch.stack(list(numbers.values())).tolist() if numbers else []
    for index, value in zip(numbers, host, strict=True):
        leaves[index].synced = _as_number(leaves[index].original, value)
    for leaf, result, held in zip(leaves, results, holders, strict=True):
        if leaf.form != _NUMBER:
            leaf.synced = _in_form(leaf, result, held)


def _as_number(original: object, value: float) -> object:
    if isinstance(original, bool):
        return bool(value)
    return round(value) if isinstance(original, int) else value


def _in_form(leaf: _Leaf, result: torch.Tensor | None, held: list[_Held]) -> object:
    """``result`` in the form this process held the state: tensor on its device, or list."""
    original = leaf.original
    if isinstance(original, torch.Tensor) and result is not None:
        result = result.to(original.device)
    if leaf.form in (_LIST, _STACKED):
        if result is None:
            return []
        stacked = all(h.form == _STACKED for h in held)
        return list(result.unbind(0)) if stacked else [result]
    return result


class _Plan:
    """Where each state goes in the packed buffers, agreed by every process from the headers."""

    def __init__(
        self,
        leaves: Sequence[_Leaf],
        holders: list[list[_Held]],
        world: int,
        device: torch.device,
    ) -> None:
        self.leaves = leaves
        self.holders = holders
        self.world = world
        self.device = device
        self.sums: dict[int, tuple[int, tuple[int, ...]]] = {}  # leaf -> (offset, shape)
        self.maxes: dict[int, tuple[int, tuple[int, ...]]] = {}
        self.sum_size = self.max_size = 0
        # Per process: leaf -> byte offset; then the padded length every process sends.
        self.bytes: list[dict[int, int]] = [{} for _ in range(world)]
        ends = [0] * world
        for index, (leaf, held) in enumerate(zip(leaves, holders, strict=True)):
            if not held:
                continue
            if leaf.reduce in _ELEMENTWISE:
                shape = _same(leaf.label, "shapes", {h.rank: h.shape for h in held})
                if leaf.reduce in ("sum", "mean"):
                    self.sums[index] = (self.sum_size, shape)
                    self.sum_size += math.prod(shape)
                else:
                    self.maxes[index] = (self.max_size, shape)
                    self.max_size += 2 * math.prod(shape)  # values, then NaN flags
                continue
            if leaf.reduce == "cat":
                _same(leaf.label, "trailing shapes", {h.rank: h.shape[1:] for h in held})
            for h in held:
                start = -(-ends[h.rank] // _ALIGN) * _ALIGN
                self.bytes[h.rank][index] = start
                ends[h.rank] = start + h.nbytes
        self.byte_size = max(ends)

    def run(self, group: ProcessGroup | None) -> list[torch.Tensor | None]:
        sums = torch.zeros(self.sum_size, dtype=torch.float64, device=self.device)
        maxes = torch.full((self.max_size,), -math.inf, dtype=torch.float64, device=self.device)
        packed = torch.zeros(self.byte_size, dtype=torch.uint8, device=self.device)
        rank = dist.get_rank(group)
        for index, leaf in enumerate(self.leaves):
            tensor = leaf.tensor
            if tensor is None:
                continue
            flat = tensor.to(self.device).reshape(-1)
            if index in self.sums:
                offset, _ = self.sums[index]
                sums[offset : offset + flat.numel()] = flat.double()
            elif index in self.maxes:
                offset, _ = self.maxes[index]
                values = flat.double().neg() if leaf.reduce == "min" else flat.double()
                size = values.numel()
                maxes[offset : offset + size] = values.nan_to_num(nan=-math.inf)
                maxes[offset + size : offset + 2 * size] = values.isnan().double()
            else:
                start = self.bytes[rank][index]
                raw = flat.contiguous().view(torch.uint8)
                packed[start : start + raw.numel()] = raw
        parts = [torch.empty_like(packed) for _ in range(self.world)]
        with collective("syncing metric states"):
            works = []
            if self.sum_size:
                works.append(dist.all_reduce(sums, group=group, async_op=True))
            if self.max_size:
                works.append(dist.all_reduce(maxes, dist.ReduceOp.MAX, group=group, async_op=True))
            if self.byte_size:
                works.append(dist.all_gather(parts, packed, group=group, async_op=True))
            for work in works:
                work.wait()
        return [self._result(index, sums, maxes, parts) for index in range(len(self.leaves))]

    def _result(
        self, index: int, sums: torch.Tensor, maxes: torch.Tensor, parts: list[torch.Tensor]
    ) -> torch.Tensor | None:
        leaf, held = self.leaves[index], self.holders[index]
        if not held:
            return None
        dtype = held[0].dtype
        if index in self.sums:
            offset, shape = self.sums[index]
            total = sums[offset : offset + math.prod(shape)].reshape(shape)
            return (total / len(held) if leaf.reduce == "mean" else total).to(dtype)
        if index in self.maxes:
            offset, shape = self.maxes[index]
            size = math.prod(shape)
            values = maxes[offset : offset + size]
            values = values.neg() if leaf.reduce == "min" else values
            nan = maxes[offset + size : offset + 2 * size] > 0
            return values.masked_fill(nan, math.nan).reshape(shape).to(dtype)
        states = []
        for h in held:
            start = self.bytes[h.rank][index]
            raw = parts[h.rank][start : start + h.nbytes]
            states.append(raw.view(h.dtype).reshape(h.shape))
        if leaf.reduce == "cat":
            return torch.cat([s.reshape(1) if s.ndim == 0 else s for s in states])
        assert callable(leaf.reduce)
        return leaf.reduce(states)


def _view(node: _Node, memo: dict[int, object]) -> object:
    """A shallow copy of ``node.obj`` holding its synced states (nested objects copied too)."""
    if id(node) in memo:
        return memo[id(node)]
    if not node.has_states():
        memo[id(node)] = node.obj
        return node.obj
    clone = copy.copy(node.obj)
    memo[id(node)] = clone
    # A nested copy is read like the others (a usage mode's compute() is its metric's): it
    # must not sync again either.
    _register(clone)
    for attribute, leaf in node.leaves.items():
        setattr(clone, attribute, leaf.synced)
    for attribute, child in node.children.items():
        setattr(clone, attribute, _view(child, memo))
    for attribute, (kind, items) in node.sequences.items():
        setattr(clone, attribute, kind([_view(item, memo) for item in items]))
    return clone
