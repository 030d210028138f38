"""Regression metrics: burnish against TorchMetrics on the same inputs, on the CPU.

Run with ``python benches/regression.py`` (``--repeats``, ``--steps``, ``--batch``); prints a
markdown table. MAE, MSE, RMSE, R² and the explained variance together over an epoch, for one
output ``(N,)`` and four ``(N, 4)`` (uniform average): the regression rows of
``benches/metrics.py`` on a workload of your choosing (how they are measured:
``benches/families.py``).
"""

from __future__ import annotations

import argparse

import torch
from families import print_rows, regression_workloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    torch.set_num_threads(1)
    device = torch.device("cpu")
    print(
        f"### MAE + MSE + RMSE + R² + explained variance: {args.steps} steps of {args.batch} "
        f"(median of {args.repeats}, 1 thread)\n"
    )
    print_rows(regression_workloads(args.steps, args.batch, device), args.repeats, device)


if __name__ == "__main__":
    main()
