"""Draw the README's dashboard picture from a real run of the digits demo.

Trains the demo's CNN for a few epochs with the dashboard drawn into an off-screen 120x40
terminal, then saves its last frame as an SVG with rich's ``Console.save_svg``.

Run: python examples/dashboard_svg.py [--epochs 6] [--output docs/dashboard.svg]
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

import torch
from rich.console import Console

from burnish import (
    AccuracyMetric,
    CpuMemory,
    CpuTemperature,
    CpuUse,
    FBetaScoreMetric,
    LearnerBuilder,
    LearningRateMetric,
    LossMetric,
)
from burnish.renderer import TuiRenderer
from examples.digits import DigitsCnn, digits_loaders

WIDTH, HEIGHT = 120, 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--output", type=Path, default=Path("docs/dashboard.svg"))
    args = parser.parse_args()
    torch.manual_seed(42)
    train_loader, valid_loader = digits_loaders(batch_size=32)
    model = DigitsCnn()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=3e-3, total_steps=args.epochs * len(train_loader)
    )
    offscreen = Console(file=io.StringIO(), width=WIDTH, height=HEIGHT, force_terminal=True)
    renderer = TuiRenderer(console=offscreen, input_fd=None)
    with tempfile.TemporaryDirectory() as directory:
        builder = LearnerBuilder(directory).renderer(renderer).num_epochs(args.epochs)
        for register in (builder.metric_train_numeric, builder.metric_valid_numeric):
            register(LossMetric())
            register(AccuracyMetric())
            register(FBetaScoreMetric.multiclass())
        for system_metric in (LearningRateMetric(), CpuUse(), CpuMemory(), CpuTemperature()):
            builder.metric_train_numeric(system_metric)
        builder.build(model, optimizer, scheduler).fit(train_loader, valid_loader)
    picture = Console(
        record=True, file=io.StringIO(), width=WIDTH, height=HEIGHT, force_terminal=True
    )
    picture.print(renderer.dashboard)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    picture.save_svg(str(args.output), title="burnish: digits demo")
    print(f"saved {args.output}")


if __name__ == "__main__":
    main()
