"""Start-up: the package imports a name's module when the name is first used, so that
``import burnish`` loads nothing heavy, a training script loads neither rich, the dashboard nor
an optional logger's library, and ``burnish summary`` reads a log without loading torch; the
summary reads a log's epochs without parsing its steps, still skipping, counting and warning
about bad lines."""

from __future__ import annotations

import ast
import importlib
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

PACKAGE = Path(burnish.__file__).resolve().parent

# Loaded when used, never by `import burnish` or by a script that only trains.
HEAVY = (
    "rich",
    "burnish.renderer.tui",
    "burnish.renderer.plain",
    "burnish.renderer.chart",
    "mlflow",
    "tensorboard",
    "torch.utils.tensorboard",
    "psutil",
    "pynvml",
)

SCRIPT = "from burnish import LearnerBuilder, AccuracyMetric, ClassificationOutput, LossMetric"


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


def test_import_burnish_loads_nothing_heavy() -> None:
    modules = _modules_after("import burnish")
    assert _heavy(modules) == []
    assert "torch" not in modules


def test_a_training_script_loads_no_dashboard_rich_or_optional_logger_library() -> None:
    baseline = _heavy(_modules_after("import torch"))  # what torch loads is not burnish's
    modules = _modules_after(SCRIPT)
    assert {"burnish.builder", "burnish.metric.accuracy", "burnish.output"} <= modules
    assert _heavy(modules) == baseline


def test_the_summary_command_loads_neither_torch_nor_rich_nor_the_dashboard(
    tmp_path: Path,
) -> None:
    write_log(tmp_path, START, STEPS, EPOCH, END)
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "burnish.cli", "summary", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "| Train | Loss" in run.stdout
    # `-X importtime` writes a line per module imported: "import time: self | total | name".
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in run.stderr.splitlines()
        if line.startswith("import time:") and line.count("|") == 2
    }
    assert "burnish.logger.jsonl" in imported
    assert _heavy(imported) == []
    assert sorted(m for m in imported if m == "torch" or m.startswith("torch.")) == []


def _lazy_packages() -> list[str]:
    """The packages of burnish whose names are imported on first use."""
    return sorted(
        ".".join(path.parent.relative_to(PACKAGE.parent).parts)
        for path in PACKAGE.rglob("__init__.py")
        if "lazy_exports(__name__" in path.read_text(encoding="utf-8")
    )


def _typed_imports(package: str) -> dict[str, str]:
    """Each name the ``if TYPE_CHECKING:`` block of ``package`` imports, and its module: what a
    type checker sees the package export."""
    path = PACKAGE.parent.joinpath(*package.split("."), "__init__.py")
    found: dict[str, str] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom)
                assert statement.module
                found.update((alias.name, statement.module) for alias in statement.names)
    return found


def test_the_lazy_packages_include_burnish_and_the_learner() -> None:
    assert {"burnish", "burnish.learner", "burnish.logger"} <= set(_lazy_packages())


@pytest.mark.parametrize("package", _lazy_packages())
def test_a_lazy_package_gives_what_type_checkers_see_it_export(package: str) -> None:
    module = importlib.import_module(package)
    typed = _typed_imports(package)
    assert sorted(typed) == sorted(module.__all__)
    for name, source in typed.items():
        assert getattr(module, name) is getattr(importlib.import_module(source), name), name
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'Nothing'"):
        _ = module.Nothing
    with pytest.raises(ImportError):
        exec(f"from {package} import Nothing", {})


def test_a_star_import_and_a_submodule_attribute_work_as_from_an_eager_package() -> None:
    namespace: dict[str, Any] = {}
    exec("from burnish import *", namespace)
    assert namespace["LearnerBuilder"] is burnish.LearnerBuilder
    assert {"AccuracyMetric", "read_run", "TuiRenderer"} <= set(namespace)
    modules = _modules_after("import burnish\nassert burnish.metric.loss.LossMetric")
    assert "burnish.metric.loss" in modules


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
