"""The TensorBoard logger, with a stand-in for SummaryWriter (tensorboard is an optional extra)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest

from burnish import Split
from tests.learner_fixtures import Classifier, builder, loaders, sgd


class FakeWriter:
    instances: ClassVar[list[FakeWriter]] = []

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.scalars: list[tuple[str, float, int]] = []
        self.closed = False
        FakeWriter.instances.append(self)

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        self.scalars.append((tag, value, step))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_tensorboard(monkeypatch: pytest.MonkeyPatch) -> type[FakeWriter]:
    module: Any = types.ModuleType("torch.utils.tensorboard")
    module.SummaryWriter = FakeWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", module)
    FakeWriter.instances.clear()
    return FakeWriter


def test_steps_and_epochs_reach_tensorboard(
    tmp_path: Path, fake_tensorboard: type[FakeWriter]
) -> None:
    from burnish import TensorBoardMetricLogger  # noqa: PLC0415

    model = Classifier()
    learn, memory = builder(tmp_path, epochs=2)
    learn.with_metric_logger(TensorBoardMetricLogger(tmp_path / "tb")).build(model, sgd(model)).fit(
        *loaders()
    )
    (writer,) = fake_tensorboard.instances
    assert writer.closed
    assert writer.log_dir == str(tmp_path / "tb")
    tags = {tag for tag, _, _ in writer.scalars}
    assert {"Loss/train", "Loss/valid", "Loss/train_epoch", "Accuracy/valid_epoch"} <= tags
    train_steps = [(value, step) for tag, value, step in writer.scalars if tag == "Loss/train"]
    assert [step for _, step in train_steps] == list(range(1, 13))
    epochs = [value for tag, value, _ in writer.scalars if tag == "Accuracy/valid_epoch"]
    assert epochs == [entry.value for entry in memory.epochs[Split.VALID]["Accuracy"]]


def test_a_clear_error_without_tensorboard(monkeypatch: pytest.MonkeyPatch) -> None:
    from burnish import TensorBoardMetricLogger  # noqa: PLC0415

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match=r"pip install 'burnish\[tensorboard\]'"):
        TensorBoardMetricLogger("runs/x")
