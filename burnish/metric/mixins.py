"""What every built-in metric offers beyond the protocols: ``reset()``, ``to(device)`` and a
checked ``load_state_dict``. Arithmetic on numeric metrics is in :mod:`burnish.metric.arithmetic`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

import torch

from burnish.metric.base import Stateful

__all__ = ["MetricMixin", "check_state"]


class _Clearable(Protocol):
    def clear(self) -> None: ...


StatefulT = TypeVar("StatefulT", bound=Stateful)


def _moved(state: Any, device: torch.device) -> tuple[Any, bool]:
    """``state`` with its tensors on ``device``, and whether any had to move."""
    if isinstance(state, torch.Tensor):
        return state.to(device), state.device != device
    if isinstance(state, Mapping | list | tuple):
        items = state.items() if isinstance(state, Mapping) else enumerate(state)
        moved = {key: _moved(value, device) for key, value in items}
        changed = any(change for _, change in moved.values())
        values = {key: value for key, (value, _) in moved.items()}
        if isinstance(state, Mapping):
            return values, changed
        return type(state)(values.values()), changed
    return state, False


def check_state(metric: Stateful, state: object) -> None:
    """Raise ``ValueError`` when ``state`` is not shaped as ``metric``'s own state dict (its
    dicts and their keys), naming the metric, the keys it expects and those it received.

    Built-in metrics call it before loading a state: another metric's state would otherwise
    fail halfway through with a bare ``KeyError``, or load into slots that mean something else.
    """
    mismatch = _mismatch(metric.state_dict(), state, "")
    if mismatch is not None:
        label = f"metric {getattr(metric, 'name', None)!r} ({type(metric).__qualname__})"
        raise ValueError(f"{label} cannot load this state: {mismatch}")


def _mismatch(expected: object, received: object, path: str) -> str | None:
    """How ``received`` differs from ``expected`` in its dicts and their keys, at ``path`` (the
    keys leading there); ``None`` when it does not. Other values are not compared: a slot holds
    a number or a tensor, or ``None`` before the first update, depending on the epoch so far."""
    where = f"at state{path}, " if path else ""
    if not isinstance(expected, Mapping) or not isinstance(received, Mapping):
        if isinstance(expected, Mapping) == isinstance(received, Mapping):
            return None
        wanted = "a dict" if isinstance(expected, Mapping) else "no dict"
        return f"{where}expected {wanted}, received {type(received).__qualname__}"
    if set(expected) != set(received):
        return f"{where}expected the keys {list(expected)}, received {list(received)}"
    for key, value in expected.items():
        mismatch = _mismatch(value, received[key], f"{path}[{key!r}]")
        if mismatch is not None:
            return mismatch
    return None


class MetricMixin:
    """``reset()`` and ``to(device)`` for a metric with ``clear()`` and a state dict."""

    def reset(self: _Clearable) -> None:
        """Start afresh: ``clear()`` under the name TorchMetrics and Ignite use."""
        self.clear()

    def to(self: StatefulT, device: torch.device | str) -> StatefulT:
        """Move the metric's state to ``device``, where its next inputs will be.

        Not needed to start: a state is created on the device of the first input it sees.
        """
        state, changed = _moved(self.state_dict(), torch.device(device))
        if changed:
            self.load_state_dict(state)
        return self
