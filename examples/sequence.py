"""Sequence metrics in training: a small model learns to reverse digit strings.

The data is generated: strings of 5 to 8 digits, right-padded to 8 positions, and their
reversals as targets. The model reads the whole padded string and gives the logits of a token
at every position (an MLP over the sequence). The learner reports the token accuracy, the
character error rate over token ids (CER, computed on the device) and the word error rate of
the decoded strings (WER: each string is one word, so it is the share of wrong strings; this
one reads the tokens to the host to decode them).

Run: python examples/sequence.py  (--quick for a short run, --plain for lines of text)
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from burnish import (
    AccuracyMetric,
    CharErrorRate,
    LearnerBuilder,
    LossMetric,
    PlainRenderer,
    SequenceOutput,
    Split,
    TrainOutput,
    TrainStep,
    ValidStep,
    WordErrorRate,
)

Batch = tuple[torch.Tensor, torch.Tensor]

PAD = 0
DIGITS = 10
VOCABULARY = DIGITS + 1  # token 0 is padding, tokens 1-10 the digits 0-9
WIDTH = 8


def decode(tokens: list[int]) -> str:
    """The digit string of token ids (padding already removed)."""
    return "".join(str(token - 1) for token in tokens)


def reversal_data(count: int, seed: int) -> Batch:
    """``count`` padded digit strings of 5 to 8 digits ``(count, 8)`` and their reversals."""
    generator = torch.Generator().manual_seed(seed)
    digits = torch.randint(1, VOCABULARY, (count, WIDTH), generator=generator)
    lengths = torch.randint(5, WIDTH + 1, (count, 1), generator=generator)
    positions = torch.arange(WIDTH)
    inputs = torch.where(positions < lengths, digits, PAD)
    # Position i of the target holds digit length - 1 - i of the input.
    source = (lengths - 1 - positions).clamp(min=0)
    targets = torch.where(positions < lengths, inputs.gather(1, source), PAD)
    return inputs, targets


class Reverser(nn.Module, TrainStep[Batch, SequenceOutput], ValidStep[Batch, SequenceOutput]):
    """An MLP from the one-hot padded string to the logits of every target position."""

    def __init__(self, hidden: int = 256) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Flatten(),
            nn.Linear(WIDTH * VOCABULARY, hidden),
            nn.ReLU(),
            nn.Linear(hidden, WIDTH * VOCABULARY),
        )
        self.loss = nn.CrossEntropyLoss()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        one_hot = nn.functional.one_hot(inputs, VOCABULARY).float()
        logits: torch.Tensor = self.layers(one_hot)
        return logits.view(-1, WIDTH, VOCABULARY)

    def forward_sequence(self, batch: Batch) -> SequenceOutput:
        inputs, targets = batch
        logits = self(inputs)
        # Padding is a token to predict too: the model must say where a string ends.
        loss = self.loss(logits.flatten(0, 1), targets.flatten())
        return SequenceOutput(loss, logits, targets, pad_token=PAD)

    def train_step(self, batch: Batch) -> TrainOutput[SequenceOutput]:
        output = self.forward_sequence(batch)
        return TrainOutput(output.loss, output)

    def valid_step(self, batch: Batch) -> SequenceOutput:
        return self.forward_sequence(batch)


def main(argv: Sequence[str] | None = None) -> float:
    """Train, and return the final validation CER (percent)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--directory", default="runs/sequence")
    parser.add_argument("--quick", action="store_true", help="a short run: 2 epochs, less data")
    parser.add_argument("--plain", action="store_true", help="lines of text, not the dashboard")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    train_count, epochs = (1_024, 2) if args.quick else (8_192, args.epochs)
    train = DataLoader(
        TensorDataset(*reversal_data(train_count, seed=1)),
        batch_size=args.batch_size,
        shuffle=True,
    )
    valid = DataLoader(TensorDataset(*reversal_data(1_024, seed=2)), batch_size=256)
    model = Reverser()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)

    builder = LearnerBuilder(args.directory).versioned()
    for register in (builder.metric_train_numeric, builder.metric_valid_numeric):
        register(LossMetric())
        # Token accuracy over every position that is not padding in the target.
        register(AccuracyMetric(pad_token=PAD))
        register(CharErrorRate())  # the pad token comes with each SequenceOutput
        register(WordErrorRate(decode=decode))
    builder = builder.num_epochs(epochs)
    if args.plain:
        builder = builder.renderer(PlainRenderer())
    learner = builder.build(model, optimizer)
    result = learner.fit(train, valid)
    cer = result.value(Split.VALID, "CER")
    wer = result.value(Split.VALID, "WER")
    accuracy = result.value(Split.VALID, "Accuracy")
    print(f"valid CER {cer:.2f} %, WER {wer:.2f} %, token accuracy {accuracy:.2f} %")
    return cer


if __name__ == "__main__":
    main()
