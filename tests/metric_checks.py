"""Checks that several metric test files make."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from burnish.metric.base import Metric, Numeric, input_type_of


def assert_input_less_numeric(metric: Any, *, higher_is_better: bool) -> None:
    """``metric`` takes no input, is a numeric metric with the given direction, and has no
    value before its first update."""
    assert input_type_of(metric) is None
    assert isinstance(metric, Metric)
    assert isinstance(metric, Numeric)
    assert metric.higher_is_better is higher_is_better
    assert math.isnan(metric.value())


def record_updates(monkeypatch: pytest.MonkeyPatch, metric_type: type[Any]) -> list[str]:
    """The names of the ``metric_type`` metrics updated from now on, one per ``update()``."""
    calls: list[str] = []
    original = metric_type.update

    def recording(self: Any, item: Any, metadata: Any) -> Any:
        calls.append(self.name)
        return original(self, item, metadata)

    monkeypatch.setattr(metric_type, "update", recording)
    return calls


@contextlib.contextmanager
def reads_forbidden() -> Iterator[None]:
    """Every direct read of a tensor's values (item, tolist, bool, float, int, index, and a
    numpy view of a device's tensor) raises inside. A host tensor's numpy view reads nothing
    from a device (the argmax of CPU scores goes through numpy); the transfer count
    (:func:`burnish.metric.host.transfer_count`) watches the copies themselves."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("update() read a tensor")

    host_view = torch.Tensor.numpy

    def numpy(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if not self.is_cpu:
            forbidden()
        return host_view(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patched:
        for name in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__"):
            patched.setattr(torch.Tensor, name, forbidden)
        patched.setattr(torch.Tensor, "numpy", numpy)
        yield
