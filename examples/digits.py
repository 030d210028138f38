"""The demo: a small CNN learns scikit-learn's handwritten digits, with the live dashboard.

Everything is offline: the 1,797 8x8 digit images ship with scikit-learn.

Run: make demo  (or: python examples/digits.py --epochs 40 --directory runs/digits)
"""

from __future__ import annotations

import argparse

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from burnish import (
    AccuracyMetric,
    ClassificationOutput,
    CpuMemory,
    CpuTemperature,
    CpuUse,
    FBetaScoreMetric,
    GpuTemperature,
    IterationSpeedMetric,
    LearnerBuilder,
    LearningRateMetric,
    LossMetric,
    PrecisionMetric,
    RecallMetric,
    Split,
    TrainOutput,
    TrainStep,
    ValidStep,
)

Batch = tuple[torch.Tensor, torch.Tensor]


class DigitsCnn(
    nn.Module, TrainStep[Batch, ClassificationOutput], ValidStep[Batch, ClassificationOutput]
):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Dropout(0.1),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10)
        )
        self.loss = nn.CrossEntropyLoss()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))

    def forward_classification(self, batch: Batch) -> ClassificationOutput:
        images, targets = batch
        logits = self(images)
        return ClassificationOutput(self.loss(logits, targets), logits, targets)

    def train_step(self, batch: Batch) -> TrainOutput[ClassificationOutput]:
        output = self.forward_classification(batch)
        return TrainOutput(output.loss, output)

    def valid_step(self, batch: Batch) -> ClassificationOutput:
        return self.forward_classification(batch)


def digits_loaders(batch_size: int, seed: int = 0) -> tuple[DataLoader[Batch], DataLoader[Batch]]:
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    targets = torch.tensor(digits.target, dtype=torch.long)
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(order))
    train, valid = order[:cut], order[cut:]
    train_set = TensorDataset(images[train], targets[train])
    valid_set = TensorDataset(images[valid], targets[valid])
    return (
        DataLoader(train_set, batch_size=batch_size, shuffle=True),
        DataLoader(valid_set, batch_size=256),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--directory", default="runs/digits")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    args = parser.parse_args()

    torch.manual_seed(42)
    train_loader, valid_loader = digits_loaders(args.batch_size)
    model = DigitsCnn()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    # Cosine decay over the run's steps. A resumed run keeps the schedule it was saved with
    # (its state is in the checkpoint); one given more epochs goes on past its end, where a
    # cosine schedule rises again rather than failing as a one-cycle schedule does.
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=args.epochs * len(train_loader), eta_min=args.lr / 25
    )
    # Each run writes a directory of its own (runs/digits/version-N): a second demo keeps the
    # first, and --resume continues the newest.
    builder = LearnerBuilder(args.directory).versioned()
    for register in (builder.metric_train_numeric, builder.metric_valid_numeric):
        register(LossMetric())
        register(AccuracyMetric())
        register(PrecisionMetric.multiclass(reduction="macro"))
        register(RecallMetric.multiclass(reduction="macro"))
        register(FBetaScoreMetric.multiclass(reduction="macro", beta=1.0))
    for system_metric in (
        LearningRateMetric(),
        IterationSpeedMetric(),
        CpuUse(),
        CpuMemory(),
        CpuTemperature(),
        GpuTemperature(),
    ):
        builder.metric_train_numeric(system_metric)
    builder = builder.num_epochs(args.epochs).with_file_checkpointer().summary()
    if args.resume:
        builder = builder.resume()
    learner = builder.build(model, optimizer, scheduler)
    result = learner.fit(train_loader, valid_loader)
    print(f"{result.reason.replace('_', ' ')}: the run is in {learner.config.directory}")
    if Split.VALID in result.metrics:
        print(f"valid accuracy {result.value(Split.VALID, 'Accuracy'):.2f} %")


if __name__ == "__main__":
    main()
