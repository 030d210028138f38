"""Regression: a small MLP predicts disease progression from scikit-learn's diabetes data.

Everything is offline: the 442 patients' ten measurements ship with scikit-learn. The learner
reports the mean absolute error, the root mean squared error and R² on both splits, in the
units of the target (a disease progression score between 25 and 346).

Run: python examples/regression.py --epochs 15 --directory runs/regression
(``--quick`` for a short run, ``--plain`` for line-by-line output instead of the dashboard.)
"""

from __future__ import annotations

import argparse

import torch
from sklearn.datasets import load_diabetes
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from burnish import (
    LearnerBuilder,
    LossMetric,
    MeanAbsoluteErrorMetric,
    R2ScoreMetric,
    RegressionOutput,
    RootMeanSquaredErrorMetric,
    Split,
    TrainOutput,
    TrainStep,
    ValidStep,
)

Batch = tuple[torch.Tensor, torch.Tensor]


class DiabetesMlp(
    nn.Module, TrainStep[Batch, RegressionOutput], ValidStep[Batch, RegressionOutput]
):
    """An MLP on standardised measurements; it predicts the standardised target, and its
    outputs are reported back in the target's units."""

    def __init__(self, mean: float, scale: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(10, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU())
        self.head = nn.Linear(32, 1)
        self.mean, self.scale = mean, scale
        self.loss = nn.MSELoss()

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.net(features)).squeeze(1)

    def forward_regression(self, batch: Batch) -> RegressionOutput:
        features, targets = batch
        predicted = self(features)
        loss = self.loss(predicted, (targets - self.mean) / self.scale)
        return RegressionOutput(loss, predicted * self.scale + self.mean, targets)

    def train_step(self, batch: Batch) -> TrainOutput[RegressionOutput]:
        output = self.forward_regression(batch)
        return TrainOutput(output.loss, output)

    def valid_step(self, batch: Batch) -> RegressionOutput:
        return self.forward_regression(batch)


def diabetes_loaders(
    batch_size: int, seed: int = 0
) -> tuple[DataLoader[Batch], DataLoader[Batch], float, float]:
    """Train and valid loaders (80/20), and the train targets' mean and standard deviation."""
    data = load_diabetes()
    features = torch.tensor(data.data, dtype=torch.float32)
    targets = torch.tensor(data.target, dtype=torch.float32)
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(order))
    train, valid = order[:cut], order[cut:]
    # Standardised with the train split's statistics alone.
    mean, std = features[train].mean(0), features[train].std(0)
    features = (features - mean) / std
    train_set = TensorDataset(features[train], targets[train])
    valid_set = TensorDataset(features[valid], targets[valid])
    loaders = (
        DataLoader(train_set, batch_size=batch_size, shuffle=True),
        DataLoader(valid_set, batch_size=128),
    )
    return (*loaders, float(targets[train].mean()), float(targets[train].std()))


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train, and return the last epoch's valid MAE, RMSE and R²."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--directory", default="runs/regression")
    parser.add_argument("--quick", action="store_true", help="a short run: 3 epochs")
    parser.add_argument("--plain", action="store_true", help="plain text lines, no dashboard")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    train_loader, valid_loader, mean, scale = diabetes_loaders(args.batch_size)
    model = DiabetesMlp(mean, scale)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-2)
    epochs = 3 if args.quick else args.epochs
    builder = LearnerBuilder(args.directory).versioned()
    for register in (builder.metric_train_numeric, builder.metric_valid_numeric):
        register(LossMetric())
        register(MeanAbsoluteErrorMetric())
        register(RootMeanSquaredErrorMetric())
        register(R2ScoreMetric())
    if args.plain:
        from burnish import PlainRenderer  # noqa: PLC0415 (loaded on demand, as burnish does)

        builder = builder.renderer(PlainRenderer())
    learner = builder.num_epochs(epochs).summary().build(model, optimizer)
    result = learner.fit(train_loader, valid_loader)
    values = {name: result.value(Split.VALID, name) for name in ("MAE", "RMSE", "R2")}
    print(
        f"valid MAE {values['MAE']:.1f}, RMSE {values['RMSE']:.1f}, R2 {values['R2']:.3f}: "
        f"the run is in {learner.config.directory}"
    )
    return values


if __name__ == "__main__":
    main()
