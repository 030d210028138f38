from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from tests.metric_checks import reads_forbidden


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


@pytest.fixture
def no_reads() -> Iterator[None]:
    """Direct reads of tensors raise while the test runs (see :func:`reads_forbidden`)."""
    with reads_forbidden():
        yield
