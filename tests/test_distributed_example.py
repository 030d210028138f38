"""The README's torchrun command runs ``examples/ddp.py`` on two CPU processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_ddp_example_trains_under_torchrun(tmp_path: Path) -> None:
    run = tmp_path / "run"
    # torchrun itself; --standalone finds a free port.
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node"]
    example = ["examples/ddp.py", "--epochs", "1", "--directory", str(run)]
    completed = subprocess.run(
        [*torchrun, "2", *example],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "completed; valid accuracy" in completed.stdout
    assert completed.stdout.count("Learner Summary") == 1  # rank 0 alone prints
    assert (run / "metrics.jsonl").is_file()
    assert [path.name for path in (run / "checkpoint").iterdir()] == ["epoch-1.pt"]
