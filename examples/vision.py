"""Image metrics in a learner: a small denoising autoencoder on scikit-learn's digits, scored
by PSNR and SSIM.

A noisy digit goes in, the clean digit is expected out; the model's outputs and the clean
images make a :class:`~burnish.RegressionOutput`, which feeds the loss and the image metrics.
Everything is offline: the 1,797 8x8 digit images ship with scikit-learn.

The images stay 8x8, and SSIM's window is narrowed to fit them: a Gaussian of sigma 0.8,
7 pixels wide (TorchMetrics' width for that sigma). The usual window (sigma 1.5, 11 wide) would
reach 5 pixels past an 8-pixel side, so most of each window would be reflected padding rather
than the digit; upsampling to 16x16 would instead score pixels the model never made.

Run: python examples/vision.py  (--quick for a short run, --plain for lines of text instead of
the dashboard)
"""

from __future__ import annotations

import argparse

import torch
from sklearn.datasets import load_digits
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from burnish import (
    ImageInput,
    LearnerBuilder,
    LossMetric,
    PsnrMetric,
    RegressionOutput,
    Split,
    SsimMetric,
    TrainOutput,
    TrainStep,
    ValidStep,
)

Batch = tuple[torch.Tensor, torch.Tensor]
NOISE = 0.25


def noisy(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``images`` in ``[0, 1]`` with Gaussian noise added, clamped back to ``[0, 1]``."""
    noise = torch.randn(images.shape, generator=generator, device=images.device)
    return (images + NOISE * noise).clamp(0.0, 1.0)


class DenoisingAutoencoder(
    nn.Module, TrainStep[Batch, RegressionOutput], ValidStep[Batch, RegressionOutput]
):
    """8x8 -> 4x4 features -> 8x8, a sigmoid keeping the output in the images' range."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(32, 16, 2, stride=2),
            nn.ReLU(),
            nn.Conv2d(16, 1, 3, padding=1),
            nn.Sigmoid(),
        )
        self.loss = nn.MSELoss()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images))

    def reconstruct(self, inputs: torch.Tensor, clean: torch.Tensor) -> RegressionOutput:
        output = self(inputs)
        return RegressionOutput(self.loss(output, clean), output, clean)

    def train_step(self, batch: Batch) -> TrainOutput[RegressionOutput]:
        # Fresh noise every step: the model cannot learn one noise pattern by heart.
        _, clean = batch
        output = self.reconstruct(noisy(clean), clean)
        return TrainOutput(output.loss, output)

    def valid_step(self, batch: Batch) -> RegressionOutput:
        inputs, clean = batch
        return self.reconstruct(inputs, clean)


def digits_loaders(
    batch_size: int, limit: int | None = None, seed: int = 0
) -> tuple[DataLoader[Batch], DataLoader[Batch]]:
    """Train and valid loaders of (noisy, clean) digits ``(N, 1, 8, 8)`` in ``[0, 1]``; the
    valid noise is drawn once, so every epoch is scored on the same inputs."""
    images = torch.tensor(load_digits().images, dtype=torch.float32).unsqueeze(1) / 16.0
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(images), generator=generator)[:limit]
    cut = int(0.8 * len(order))
    train, valid = images[order[:cut]], images[order[cut:]]
    train_set = TensorDataset(train, train)  # noise is added in the step
    valid_set = TensorDataset(noisy(valid, generator), valid)
    return (
        DataLoader(train_set, batch_size=batch_size, shuffle=True),
        DataLoader(valid_set, batch_size=128),
    )


def noisy_input_scores(loader: DataLoader[Batch]) -> dict[str, float]:
    """The valid set's noisy inputs scored as reconstructions: what denoising must beat."""
    psnr, ssim = PsnrMetric(1.0), SsimMetric(1.0, sigma=0.8)
    for inputs, clean in loader:
        for metric in (psnr, ssim):
            metric.update(ImageInput(inputs, clean))
    return {"PSNR": psnr.running_value().value, "SSIM": ssim.running_value().value}


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train, and return the last epoch's valid PSNR and SSIM and those of the noisy inputs."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--directory", default="runs/vision")
    parser.add_argument("--quick", action="store_true", help="a short run: 2 epochs, less data")
    parser.add_argument("--plain", action="store_true", help="plain text lines, no dashboard")
    args = parser.parse_args(argv)

    torch.manual_seed(0)
    epochs = 2 if args.quick else args.epochs
    train_loader, valid_loader = digits_loaders(args.batch_size, 600 if args.quick else None)
    model = DenoisingAutoencoder()
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    builder = LearnerBuilder(args.directory).versioned()
    for register in (builder.metric_train_numeric, builder.metric_valid_numeric):
        register(LossMetric())
        register(PsnrMetric(1.0))
        register(SsimMetric(1.0, sigma=0.8))
    if args.plain:
        from burnish import PlainRenderer  # noqa: PLC0415 (loaded on demand, as burnish does)

        builder = builder.renderer(PlainRenderer())
    learner = builder.num_epochs(epochs).summary().build(model, optimizer)
    result = learner.fit(train_loader, valid_loader)
    values = {name: result.value(Split.VALID, name) for name in ("PSNR", "SSIM")}
    baseline = noisy_input_scores(valid_loader)
    values.update({f"noisy {name}": value for name, value in baseline.items()})
    print(
        f"valid PSNR {values['PSNR']:.2f} dB (noisy inputs {baseline['PSNR']:.2f} dB), "
        f"SSIM {values['SSIM']:.4f} (noisy inputs {baseline['SSIM']:.4f}): the run is in "
        f"{learner.config.directory}"
    )
    return values


if __name__ == "__main__":
    main()
