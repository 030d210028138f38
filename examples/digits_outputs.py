"""Step outputs for the metric examples: a linear classifier, trained for a moment on
scikit-learn's handwritten digits, evaluated on the held-out digits in batches of 64.

Offline and quick: the data ships with scikit-learn.
"""

from __future__ import annotations

import torch
from torch import nn

from burnish import ClassificationOutput
from examples.digits import digits_loaders

LABELS = [str(digit) for digit in range(10)]


def validation_outputs(epochs: int = 2, seed: int = 0) -> list[ClassificationOutput]:
    """The held-out digits' outputs, one per batch of 64, after ``epochs`` of training."""
    torch.manual_seed(seed)
    train, valid = digits_loaders(batch_size=32, seed=seed)
    images, targets = train.dataset.tensors  # type: ignore[attr-defined]
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(epochs):
        for start in range(0, len(targets), 32):
            logits = model(images[start : start + 32])
            loss = nn.functional.cross_entropy(logits, targets[start : start + 32])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    images, targets = valid.dataset.tensors  # type: ignore[attr-defined]
    outputs = []
    with torch.no_grad():
        for start in range(0, len(targets), 64):
            logits = model(images[start : start + 64])
            batch_targets = targets[start : start + 64]
            loss = nn.functional.cross_entropy(logits, batch_targets)
            outputs.append(ClassificationOutput(loss, logits, batch_targets))
    return outputs
