"""Distributed data parallel training: scikit-learn's handwritten digits on several processes.

Launched by torchrun, one process per device (here CPU processes talking over gloo):

    torchrun --nproc-per-node 2 examples/ddp.py

Every process runs this script. The learner wraps the model in DistributedDataParallel, gives
each process its share of the data (training padded to equal shares, validation exact), syncs
the metrics at the end of each split, and only rank 0 shows the dashboard, logs and writes
checkpoints. If a process dies, the others stop with an error within the timeout below.
"""

from __future__ import annotations

import argparse
import datetime

import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from burnish import (
    AccuracyMetric,
    AurocMetric,
    ClassificationOutput,
    FBetaScoreMetric,
    LearnerBuilder,
    LossMetric,
    Split,
    TrainOutput,
    TrainStep,
    ValidStep,
)

Batch = tuple[torch.Tensor, torch.Tensor]


class DigitsMlp(
    nn.Module, TrainStep[Batch, ClassificationOutput], ValidStep[Batch, ClassificationOutput]
):
    """A small multilayer perceptron over the 8x8 images, flattened."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))

    def classify(self, batch: Batch) -> ClassificationOutput:
        images, targets = batch
        logits = self.net(images)
        return ClassificationOutput(nn.functional.cross_entropy(logits, targets), logits, targets)

    def train_step(self, batch: Batch) -> TrainOutput[ClassificationOutput]:
        output = self.classify(batch)
        return TrainOutput(output.loss, output)

    def valid_step(self, batch: Batch) -> ClassificationOutput:
        return self.classify(batch)


def loaders(batch_size: int) -> tuple[DataLoader[Batch], DataLoader[Batch]]:
    """Plain loaders, as for one process: the learner shares them among the processes."""
    digits = load_digits()
    images = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    targets = torch.tensor(digits.target, dtype=torch.long)
    # The same split on every process: a fixed generator, not the global random state.
    order = torch.randperm(len(targets), generator=torch.Generator().manual_seed(0))
    cut = int(0.8 * len(order))
    train, valid = order[:cut], order[cut:]
    return (
        DataLoader(TensorDataset(images[train], targets[train]), batch_size, shuffle=True),
        DataLoader(TensorDataset(images[valid], targets[valid]), batch_size=256),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32, help="per process")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--directory", default="runs/ddp")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a collective waits")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    args = parser.parse_args()

    # torchrun tells each process its rank and where to meet the others (environment
    # variables, read by the default env:// rendezvous). The timeout bounds how long a process
    # waits for one that died or hangs before it fails with burnish's DistributedError.
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=args.timeout))
    try:
        torch.manual_seed(42)
        train_loader, valid_loader = loaders(args.batch_size)
        model = DigitsMlp()
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
        builder = LearnerBuilder(args.directory)
        for register in (builder.metric_train_numeric, builder.metric_valid_numeric):
            register(LossMetric())
            register(AccuracyMetric())
            register(FBetaScoreMetric.multiclass(reduction="macro"))
            register(AurocMetric.multiclass(softmax=True))
        builder = builder.num_epochs(args.epochs).with_file_checkpointer().summary()
        if args.resume:
            builder = builder.resume()
        result = builder.build(model, optimizer).fit(train_loader, valid_loader)
        if dist.get_rank() == 0:
            accuracy = result.value(Split.VALID, "Accuracy")
            reason = result.reason.replace("_", " ")
            print(f"{reason}; valid accuracy {accuracy:.2f} % (every process's)")
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
