"""Small models and data for the learner tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from burnish import (
    AccuracyMetric,
    ClassificationOutput,
    InMemoryMetricLogger,
    LearnerBuilder,
    LossMetric,
    TrainOutput,
    TrainStep,
    ValidStep,
)
from burnish.processor.events import LearnerEvent

Batch = tuple[torch.Tensor, torch.Tensor]


class Classifier(
    nn.Module, TrainStep[Batch, ClassificationOutput], ValidStep[Batch, ClassificationOutput]
):
    def __init__(self, features: int = 8, classes: int = 3, dropout: float = 0.2) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(features, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, classes)
        )
        self.on_train_step: Callable[[int], None] = lambda step: None
        self.train_steps = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def classify(self, batch: Batch) -> ClassificationOutput:
        x, y = batch
        logits = self(x)
        return ClassificationOutput(nn.functional.cross_entropy(logits, y), logits, y)

    def train_step(self, batch: Batch) -> TrainOutput[ClassificationOutput]:
        self.train_steps += 1
        self.on_train_step(self.train_steps)
        output = self.classify(batch)
        return TrainOutput(output.loss, output)

    def valid_step(self, batch: Batch) -> ClassificationOutput:
        return self.classify(batch)


def dataset(n: int = 96, features: int = 8, classes: int = 3, seed: int = 0) -> TensorDataset:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=generator)
    weights = torch.randn(features, classes, generator=generator)
    y = (x @ weights).argmax(1)
    return TensorDataset(x, y)


def loaders(
    batch_size: int = 16, shuffle: bool = True
) -> tuple[DataLoader[Batch], DataLoader[Batch]]:
    return (
        DataLoader(dataset(96, seed=0), batch_size=batch_size, shuffle=shuffle),
        DataLoader(dataset(40, seed=1), batch_size=batch_size),
    )


class NullRenderer:
    """Keeps every event; shows nothing."""

    tick_seconds = 0.05

    def __init__(self) -> None:
        self.events: list[LearnerEvent] = []

    def consume(self, events: Sequence[LearnerEvent]) -> None:
        self.events.extend(events)

    def close(self) -> None:
        pass


def builder(directory: object, epochs: int = 2) -> tuple[LearnerBuilder, InMemoryMetricLogger]:
    memory = InMemoryMetricLogger()
    built = (
        LearnerBuilder(str(directory))
        .metric_train_numeric(LossMetric())
        .metric_valid_numeric(LossMetric())
        .metric_train_numeric(AccuracyMetric())
        .metric_valid_numeric(AccuracyMetric())
        .num_epochs(epochs)
        .renderer(NullRenderer())
        .with_metric_logger(memory)
    )
    return built, memory


def sgd(model: nn.Module, lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
