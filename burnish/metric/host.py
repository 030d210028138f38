"""The single place where metric values are copied from their device to the host.

Metrics accumulate in device tensors and never read them back while training. Consumers (the
renderer tick, a logger flush, the end of an epoch) ask for many values at once; they all cross
here in one transfer per device, so a GPU run pays one synchronisation per read, not one per
metric. Counting transfers here is also how the tests prove that ``update()`` never reads.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import torch

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["accumulator_dtype", "to_host", "to_numpy", "transfer_count"]

_lock = threading.Lock()
_transfers = 0


def transfer_count() -> int:
    """How many device-to-host transfers metric values have made in this process."""
    return _transfers


def accumulator_dtype(device: torch.device) -> torch.dtype:
    """float64 where the device has it: float32 sums drift after about 2**24 samples."""
    return torch.float32 if device.type == "mps" else torch.float64


def to_host(values: Sequence[torch.Tensor]) -> list[list[float]]:
    """Copy every tensor to the host as a flat list of floats, one transfer per device."""
    global _transfers
    result: list[list[float]] = [[] for _ in values]
    # Grouped by device, then by dtype and shape: a reader takes hundreds of small tensors at
    # once (a step's values for every step since the last read), and stacking each group costs
    # one operation where flattening costs one per tensor. Tensors already on the host are
    # read one by one: with nothing to copy, joining them would only add work (stacking
    # costs about a microsecond a tensor, more than reading one).
    by_device: dict[torch.device, dict[tuple[torch.dtype, torch.Size], list[int]]] = {}
    on_host = False
    for index, tensor in enumerate(values):
        if tensor.is_cpu:
            result[index] = _floats(tensor)
            on_host = True
        else:
            groups = by_device.setdefault(tensor.device, {})
            groups.setdefault((tensor.dtype, tensor.shape), []).append(index)
    for device, groups in by_device.items():
        dtype = accumulator_dtype(device)
        # Each group in the accumulator's dtype before they are joined: cat would promote
        # mixed dtypes to the narrower float (int64 counts and bfloat16 bounds to bfloat16).
        flat = torch.cat(
            [
                torch.stack([values[i] for i in indices]).detach().reshape(-1).to(dtype)
                for indices in groups.values()
            ]
        )
        host = flat.tolist()
        offset = 0
        for (_, shape), indices in groups.items():
            size = shape.numel()
            for i in indices:
                result[i] = host[offset : offset + size]
                offset += size
    with _lock:
        _transfers += len(by_device) + on_host
    return result


def _floats(tensor: torch.Tensor) -> list[float]:
    """A host tensor's values, flat, as floats: integer counts and flags too, as a device's
    are read in its accumulator's dtype."""
    if tensor.ndim == 0:
        # tolist() of a 0-d tensor is its number.
        return [float(cast("float", tensor.tolist()))]
    values = tensor.reshape(-1).tolist()
    return values if tensor.is_floating_point() else list(map(float, values))


def to_numpy(values: Sequence[torch.Tensor]) -> list[NDArray[Any]]:
    """Copy every tensor to the host as a NumPy array of its shape and dtype (bfloat16, which
    NumPy lacks, as float32), for functions of NumPy arrays; one transfer per tensor."""
    global _transfers
    arrays = []
    for tensor in values:
        host = tensor.detach()
        host = host.float() if host.dtype == torch.bfloat16 else host
        arrays.append(host.cpu().numpy())
        with _lock:
            _transfers += 1
    return arrays
