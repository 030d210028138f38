"""Image metrics: burnish's PSNR, SSIM, MS-SSIM and Dice against TorchMetrics' on the same inputs.

Run with ``python benches/vision.py`` (``--device cuda`` on a GPU; ``--steps``, ``--batch``,
``--size``, ``--repeats`` to change the workload); prints a markdown table. The image rows of
``benches/metrics.py`` on a larger workload by default: ``--steps`` steps of ``--batch`` images
``3 x size x size`` in ``[0, 1]`` (Dice: scores of 4 classes and their masks; MS-SSIM:
``--ms-steps`` of ``--ms-batch`` images ``3 x 192 x 192``, as its five scales need). How they
are measured: ``benches/families.py``.
"""

from __future__ import annotations

import argparse

import torch
from families import image_workloads, print_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ms-steps", type=int, default=20, help="MS-SSIM's steps")
    parser.add_argument("--ms-batch", type=int, default=8, help="MS-SSIM's batch size")
    args = parser.parse_args()
    # One thread: on a shared machine, threads waiting for each other's cores time the
    # machine's load rather than the metrics.
    torch.set_num_threads(1)
    device = torch.device(args.device)
    workloads = image_workloads(
        args.steps, args.batch, args.size, device, ms_steps=args.ms_steps, ms_batch=args.ms_batch
    )
    print(f"### Image metrics ({device}, median of {args.repeats}, 1 thread)\n")
    print_rows(workloads, args.repeats, device)


if __name__ == "__main__":
    main()
