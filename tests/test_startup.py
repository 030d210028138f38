"""Start-up: ``import burnish`` loads neither rich, the dashboard nor an optional logger's
library, and the renderers load on first use; ``burnish summary`` reads a log's epochs without
parsing its steps, still skipping, counting and warning about bad lines."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import burnish
from burnish.cli import main
from burnish.logger.jsonl import RunLog, read_run
from tests.test_log_faults import END, EPOCH, START, STEPS, write_log

# Loaded when used, never by `import burnish`.
HEAVY = (
    "rich",
    "burnish.renderer.tui",
    "burnish.renderer.plain",
    "burnish.renderer.chart",
    "mlflow",
    "tensorboard",
    "torch.utils.tensorboard",
    "psutil",
)


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_import_burnish_loads_no_dashboard_rich_or_optional_logger_library() -> None:
    baseline = _heavy(_modules_after("import torch"))  # what torch loads is not burnish's
    modules = _modules_after("import burnish")
    assert "burnish.builder" in modules  # the package was imported
    assert _heavy(modules) == baseline


def test_the_summary_command_loads_neither_rich_nor_the_dashboard() -> None:
    baseline = _heavy(_modules_after("import torch"))
    assert _heavy(_modules_after("import burnish.cli")) == baseline


def test_the_renderers_load_on_first_use_as_the_same_objects() -> None:
    from burnish.renderer.plain import PlainRenderer  # noqa: PLC0415
    from burnish.renderer.tui import TuiRenderer  # noqa: PLC0415

    assert burnish.PlainRenderer is PlainRenderer
    assert burnish.TuiRenderer is TuiRenderer
    assert {"PlainRenderer", "TuiRenderer"} <= set(dir(burnish))
    from burnish.renderer import BrailleCanvas, LineChart, Series, decimate  # noqa: PLC0415
    from burnish.renderer.chart import LineChart as Chart  # noqa: PLC0415

    assert LineChart is Chart
    assert all(callable(name) for name in (BrailleCanvas, Series, decimate))
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        _ = burnish.Nothing
    with pytest.raises(ImportError):
        from burnish.renderer import Nothing  # noqa: F401, PLC0415


def _epochs(run: RunLog) -> tuple[object, ...]:
    return (
        run.epoch_total,
        run.history.state_dict(),
        run.epoch_entries,
        run.texts,
        run.end_reason,
        run.skipped,
    )


def test_a_read_without_steps_holds_all_but_the_steps(tmp_path: Path) -> None:
    epoch2 = {**EPOCH, "epoch": 2, "values": {"Loss": [0.25, 8, "aggregated"]}}
    write_log(tmp_path, START, STEPS, EPOCH, {**STEPS, "epoch": 2}, epoch2, END)
    full, epochs = read_run(tmp_path), read_run(tmp_path, steps=False)
    assert full.steps
    assert epochs.steps == {}
    assert _epochs(epochs) == _epochs(full)


# Steps records gone bad: each is skipped and counted by a full read and by the summary alike.
BAD_STEPS: dict[str, bytes] = {
    "cut short": json.dumps(STEPS).encode()[:60],
    "cut short, then ended by a later writer": json.dumps(STEPS).encode()[:-3] + b"\x00\x00",
    "not utf-8": json.dumps(STEPS).encode()[:-2] + b'\xff"}',
    "garbage": b"\x00garbage\x00",
    "written otherwise, missing a field": json.dumps(
        {"split": "train", "event": "steps", "epoch": 1}
    ).encode(),
    "written otherwise, not json": b'{"event":"steps", "split": "train",',
}


@pytest.mark.parametrize("bad", BAD_STEPS.values(), ids=BAD_STEPS.keys())
def test_a_bad_steps_line_is_counted_by_a_read_without_steps(bad: bytes, tmp_path: Path) -> None:
    write_log(tmp_path, START, STEPS, bad, EPOCH, END)
    full, epochs = read_run(tmp_path), read_run(tmp_path, steps=False)
    assert full.skipped == 1
    assert _epochs(epochs) == _epochs(full)


def test_a_steps_line_being_written_is_not_counted(tmp_path: Path) -> None:
    path = write_log(tmp_path, START, STEPS, EPOCH)
    with path.open("ab") as file:
        file.write(json.dumps(STEPS).encode()[:40])  # no newline yet
    assert read_run(tmp_path, steps=False).skipped == 0
    assert read_run(tmp_path).skipped == 0


def test_the_summary_of_a_log_of_garbage_steps_prints_the_epochs_and_counts_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    epochs: list[dict[str, Any] | bytes] = []
    for epoch in (1, 2, 3):
        epochs += [*BAD_STEPS.values(), {**EPOCH, "epoch": epoch}]
    path = write_log(tmp_path, START, *epochs, END)
    bad = 3 * len(BAD_STEPS)
    assert read_run(tmp_path).skipped == bad  # as a full read counts them
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert main(["summary", str(tmp_path)]) == 0
    (warning,) = caplog.records
    assert str(path) in warning.getMessage()
    assert f"skipped {bad} line(s)" in warning.getMessage()
    out = capsys.readouterr().out
    assert "Total Epochs: 3" in out
    assert "| Train | Loss" in out
    assert "has not ended" not in out
