"""Checks that several metric test files make."""

from __future__ import annotations

import math
from typing import Any

import pytest

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
