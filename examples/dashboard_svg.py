"""Draw the README's pictures from real runs of the digits demo.

Trains the demo's CNN for a few epochs at three learning rates, each with the dashboard drawn
into an off-screen 120x40 terminal. The last frame of the run at 3e-3 is the dashboard's
picture; the three runs' logs, read back as ``burnish view A B C`` reads them, make the
comparison's. Both are saved as SVG with rich's ``Console.save_svg``.

Run: python -m examples.dashboard_svg [--epochs 6] [--output docs/dashboard.svg]
         [--compare-output docs/compare.svg]
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

import torch
from rich.console import Console, RenderableType

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
from burnish.processor.events import Split
from burnish.renderer import TuiRenderer
from burnish.renderer.tui.compare import CompareControls, Comparison
from burnish.renderer.tui.compare_screen import CompareScreen
from examples.digits import DigitsCnn, digits_loaders

WIDTH, HEIGHT = 120, 40
LEARNING_RATES = (1e-3, 3e-3, 1e-2)
SHOWN_RATE = 3e-3
"""The run the dashboard's picture shows."""


def train(directory: Path, epochs: int, learning_rate: float) -> TuiRenderer:
    """One run of the demo in ``directory``; returns its renderer, holding the last frame."""
    torch.manual_seed(42)
    train_loader, valid_loader = digits_loaders(batch_size=32)
    model = DigitsCnn()
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=learning_rate, total_steps=epochs * len(train_loader)
    )
    offscreen = Console(file=io.StringIO(), width=WIDTH, height=HEIGHT, force_terminal=True)
    renderer = TuiRenderer(console=offscreen, input_fd=None)
    builder = LearnerBuilder(directory).renderer(renderer).num_epochs(epochs)
    for register in (builder.metric_train_numeric, builder.metric_valid_numeric):
        register(LossMetric())
        register(AccuracyMetric())
        register(FBetaScoreMetric.multiclass())
    for system_metric in (LearningRateMetric(), CpuUse(), CpuMemory(), CpuTemperature()):
        builder.metric_train_numeric(system_metric)
    builder.build(model, optimizer, scheduler).fit(train_loader, valid_loader)
    return renderer


def save_svg(screen: RenderableType, output: Path, title: str) -> None:
    picture = Console(
        record=True, file=io.StringIO(), width=WIDTH, height=HEIGHT, force_terminal=True
    )
    picture.print(screen)
    output.parent.mkdir(parents=True, exist_ok=True)
    picture.save_svg(str(output), title=title)
    print(f"saved {output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--output", type=Path, default=Path("docs/dashboard.svg"))
    parser.add_argument("--compare-output", type=Path, default=Path("docs/compare.svg"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        directories = [Path(root) / f"lr-{rate:g}" for rate in LEARNING_RATES]
        for directory, rate in zip(directories, LEARNING_RATES, strict=True):
            renderer = train(directory, args.epochs, rate)
            if rate == SHOWN_RATE:
                save_svg(renderer.dashboard, args.output, "burnish: digits demo")
        comparison = Comparison.of_directories(directories)
        comparison.poll()
        controls = CompareControls(lambda: None, comparison.splits)
        controls.chosen = Split.VALID  # the split the learning rates are chosen on
        names = " ".join(run.name for run in comparison.runs)
        title = f"burnish view {names}"
        save_svg(CompareScreen(comparison, controls), args.compare_output, title)


if __name__ == "__main__":
    main()
