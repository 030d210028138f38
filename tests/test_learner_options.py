"""What Lightning users expect of a learner: mixed precision, compile, a scheduler driven by a
metric, callbacks, the best checkpoint, and steps checked at build()."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau, StepLR

from burnish import (
    CheckpointError,
    ClassificationOutput,
    Interrupter,
    Learner,
    LearnerBuilder,
    LearnerCallback,
    LossMetric,
    Split,
    read_run,
)
from burnish.metric.entry import MetricEntry
from burnish.renderer import PlainRenderer
from tests.learner_fixtures import Batch, Classifier, builder, loaders, sgd
from tests.test_learner_faults import NanFrom


def _weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


class Autocasting(Classifier):
    """Records the dtype its steps' logits are computed in."""

    def __init__(self) -> None:
        super().__init__()
        self.dtypes: set[tuple[str, torch.dtype]] = set()

    def classify(self, batch: Batch) -> ClassificationOutput:
        output = super().classify(batch)
        self.dtypes.add(("train" if self.training else "valid", output.output.dtype))
        return output


def test_bf16_trains_under_autocast_on_the_cpu(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = Autocasting()
    before = _weights(model)
    learn, memory = builder(tmp_path, epochs=3)
    learn.mixed_precision("bf16").build(model, sgd(model)).fit(*loaders())
    assert model.dtypes == {("train", torch.bfloat16), ("valid", torch.bfloat16)}
    # The weights stay float32 and learn.
    assert all(p.dtype is torch.float32 for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, _weights(model), strict=True))
    losses = [entry.value for entry in memory.epochs[Split.TRAIN]["Loss"]]
    assert losses[-1] < losses[0]


def _fp16_fit(directory: Path, model: Classifier, interrupter: Interrupter | None = None) -> str:
    learn, _ = builder(directory, epochs=2)
    learn = learn.mixed_precision("fp16").grads_accumulation(2).clip_grad_norm(1.0)
    learn = learn.with_file_checkpointer()
    if interrupter is not None:
        learn = learn.with_interrupter(interrupter)
    elif (directory / "checkpoint").is_dir():
        learn = learn.resume()
    return learn.build(model, sgd(model)).fit(*loaders()).reason


def test_fp16_scales_the_loss_and_resumes_exactly(tmp_path: Path) -> None:
    torch.manual_seed(1)
    straight = Classifier()
    assert _fp16_fit(tmp_path / "straight", straight) == "completed"
    saved = torch.load(tmp_path / "straight" / "checkpoint" / "epoch-2.pt", weights_only=True)
    assert saved["grad_scaler"]["scale"] > 0

    torch.manual_seed(1)
    stopped = Classifier()
    interrupter = Interrupter()
    stopped.on_train_step = lambda step: interrupter.stop() if step == 7 else None
    assert _fp16_fit(tmp_path / "split", stopped, interrupter) == "stopped"
    resumed = Classifier()
    assert _fp16_fit(tmp_path / "split", resumed) == "completed"
    for a, b in zip(_weights(straight), _weights(resumed), strict=True):
        assert torch.equal(a, b)


def test_compile_compiles_the_steps_the_learner_calls(tmp_path: Path) -> None:
    torch._dynamo.reset()
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    learn.compile(backend="eager").build(model, sgd(model)).fit(*loaders())
    from torch._dynamo.utils import counters  # noqa: PLC0415 - torch's own count

    assert counters["stats"]["unique_graphs"] >= 2  # train_step and valid_step
    torch._dynamo.reset()


def test_a_compiled_module_is_refused_with_what_to_do(tmp_path: Path) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    with pytest.raises(TypeError, match=r"pass the module itself and call LearnerBuilder\.compile"):
        learn.build(torch.compile(model), sgd(model))  # type: ignore[arg-type]


def _plateau_fit(directory: Path, model: Classifier, epochs: int, resume: bool) -> list[float]:
    optimizer = sgd(model)
    # Any epoch short of a 10-point improvement counts as stalled: the rate halves each epoch.
    scheduler = ReduceLROnPlateau(
        optimizer, factor=0.5, patience=0, threshold=10.0, threshold_mode="abs"
    )
    learn, _ = builder(directory, epochs=epochs)
    learn = learn.lr_scheduler_metric("Loss", Split.VALID).with_file_checkpointer()
    if resume:
        learn = learn.resume()
    learn.build(model, optimizer, scheduler).fit(*loaders())
    return [group["lr"] for group in optimizer.param_groups]


def test_a_plateau_scheduler_lowers_the_rate_and_resumes_exactly(tmp_path: Path) -> None:
    torch.manual_seed(2)
    straight = Classifier()
    # After epoch 1 it holds the best value; epochs 2 to 4 stall.
    assert _plateau_fit(tmp_path / "straight", straight, 4, False) == [pytest.approx(0.1 / 8)]

    torch.manual_seed(2)
    first = Classifier()
    _plateau_fit(tmp_path / "split", first, 2, False)
    second = Classifier()
    assert _plateau_fit(tmp_path / "split", second, 4, True) == [pytest.approx(0.1 / 8)]
    for a, b in zip(_weights(straight), _weights(second), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("scheduler", "metric", "message"),
    [
        ("plateau", None, r"ReduceLROnPlateau steps on a metric.*lr_scheduler_metric"),
        ("plateau", "loss", r"lr_scheduler_metric.*watches 'loss'.*'Loss', 'Accuracy'"),
        ("step", "Loss", r"StepLR\.step\(\) takes no metric value"),
    ],
)
def test_scheduler_options_are_checked_at_build(
    tmp_path: Path, scheduler: str, metric: str | None, message: str
) -> None:
    model = Classifier()
    optimizer = sgd(model)
    made = ReduceLROnPlateau(optimizer) if scheduler == "plateau" else StepLR(optimizer, 1)
    learn, _ = builder(tmp_path)
    if metric is not None:
        learn = learn.lr_scheduler_metric(metric)
    with pytest.raises(ValueError, match=message):
        learn.build(model, optimizer, made)


class Recorder(LearnerCallback):
    def __init__(self, stop_at: int | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.stop_at = stop_at

    def on_fit_start(self, learner: Learner[Any]) -> None:
        self.calls.append(("fit_start",))

    def on_epoch_start(self, learner: Learner[Any], epoch: int) -> None:
        self.calls.append(("epoch_start", epoch))

    def on_validation_end(
        self, learner: Learner[Any], epoch: int, entries: dict[str, MetricEntry]
    ) -> None:
        self.calls.append(("validation_end", epoch, sorted(entries)))

    def on_epoch_end(
        self, learner: Learner[Any], epoch: int, entries: dict[Split, dict[str, MetricEntry]]
    ) -> None:
        self.calls.append(("epoch_end", epoch, sorted(s.value for s in entries)))
        if epoch == self.stop_at:
            learner.stop()

    def on_checkpoint(self, learner: Learner[Any], epoch: int, path: Path) -> None:
        assert path.is_file()
        self.calls.append(("checkpoint", epoch, path.name))

    def on_fit_end(self, learner: Learner[Any], result: Any) -> None:
        self.calls.append(("fit_end", result.reason))

    def on_error(self, learner: Learner[Any], error: BaseException) -> None:
        self.calls.append(("error", type(error).__name__))


def test_callbacks_are_called_in_order_and_can_stop(tmp_path: Path) -> None:
    recorder = Recorder(stop_at=2)
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=5)
    learn = learn.with_file_checkpointer(KeepAll()).with_callback(recorder)
    result = learn.build(model, sgd(model)).fit(*loaders())
    assert result.reason == "stopped"
    assert model.train_steps == 2 * 6
    metrics = ["Accuracy", "Loss"]
    epoch = [
        [
            ("epoch_start", e),
            ("validation_end", e, metrics),
            ("epoch_end", e, ["train", "valid"]),
            ("checkpoint", e, f"epoch-{e}.pt"),
        ]
        for e in (1, 2)
    ]
    assert recorder.calls == [
        ("fit_start",),
        *epoch[0],
        *epoch[1],  # the epoch's checkpoint is the stop's: written once
        ("fit_end", "stopped"),
    ]


def test_callbacks_hear_of_an_error(tmp_path: Path) -> None:
    recorder = Recorder()
    model = Classifier()

    def fail(step: int) -> None:
        if step == 3:
            raise RuntimeError("boom")

    model.on_train_step = fail
    learn, _ = builder(tmp_path, epochs=2)
    with pytest.raises(RuntimeError, match="boom"):
        learn.with_callback(recorder).build(model, sgd(model)).fit(*loaders())
    assert recorder.calls == [("fit_start",), ("epoch_start", 1), ("error", "RuntimeError")]


class KeepAll:
    def wanted(self, epoch: int, history: object) -> frozenset[int]:
        return frozenset(range(1, epoch + 1))


def test_the_best_checkpoint_is_named_and_loads_its_weights(tmp_path: Path) -> None:
    torch.manual_seed(4)
    model = Classifier()
    learn, memory = builder(tmp_path, epochs=5)
    result = learn.with_file_checkpointer().build(model, sgd(model, lr=0.5)).fit(*loaders())
    best = result.best_checkpoint
    assert best is not None
    losses = [entry.value for entry in memory.epochs[Split.VALID]["Loss"]]
    assert best.epoch == 1 + losses.index(min(losses))
    assert (best.split, best.metric, best.value) == (Split.VALID, "Loss", min(losses))
    assert best.path == tmp_path / "checkpoint" / f"epoch-{best.epoch}.pt"
    fresh = best.load_into(Classifier())
    saved = torch.load(best.path, weights_only=True)["model"]
    for name, value in fresh.state_dict().items():
        assert torch.equal(value, saved[name])


def test_no_checkpointer_no_best_checkpoint(tmp_path: Path) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    assert learn.build(model, sgd(model)).fit(*loaders()).best_checkpoint is None


class ReturnsItsItem(Classifier):
    def train_step(self, batch: Batch) -> ClassificationOutput:  # type: ignore[override]
        return self.classify(batch)


def test_a_train_step_annotated_to_return_other_than_train_output_fails_at_build(
    tmp_path: Path,
) -> None:
    model = ReturnsItsItem()
    with pytest.raises(TypeError, match=r"ReturnsItsItem\.train_step is annotated to return"):
        LearnerBuilder(tmp_path).build(model, sgd(model))


def test_the_plain_renderer_says_what_a_run_does(tmp_path: Path) -> None:
    model = Classifier()
    stream = io.StringIO()
    learn = LearnerBuilder(tmp_path).num_epochs(1).renderer(PlainRenderer(stream=stream))
    learner = learn.metric_valid_numeric(LossMetric()).build(model, sgd(model))
    learner.fit(loaders()[0])
    learner.evaluate(loaders()[1])
    lines = stream.getvalue().splitlines()
    assert "Training for 1 epoch (train)" in lines
    assert "Evaluating (test)" in lines


def test_fp16_reads_the_device_no_more_than_the_scaler_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The skipped steps are counted by the optimizer's step hook, not by reading the scale
    (two reads an optimizer step, before)."""
    reads: list[str] = []
    original = torch.Tensor.item

    def item(self: torch.Tensor) -> Any:
        frame = sys._getframe(1)
        reads.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")
        return original(self)

    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    learner = learn.mixed_precision("fp16").clip_grad_norm(1.0).build(model, sgd(model))
    monkeypatch.setattr(torch.Tensor, "item", item)
    learner.fit(loaders()[0])
    monkeypatch.undo()
    learner_reads = len(reads)
    # A bare loop with the same scaler calls, for what torch itself reads.
    reads.clear()
    scaler = torch.amp.GradScaler("cpu")
    optimizer = sgd(model)
    monkeypatch.setattr(torch.Tensor, "item", item)
    for x, y in loaders()[0]:
        with torch.autocast("cpu", dtype=torch.float16):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad()
    monkeypatch.undo()
    # The two more are the scaler's own state_dict() (its scale and growth tracker), read once
    # an epoch for the epoch's record: nothing a step.
    assert learner_reads == len(reads) + 2


def test_a_stop_asked_in_the_last_epoch_completes_the_run(tmp_path: Path) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=2)
    result = learn.with_callback(Recorder(stop_at=2)).build(model, sgd(model)).fit(*loaders())
    assert result.reason == "completed"


def test_callbacks_hear_of_a_fit_that_trains_nothing_and_of_a_bad_checkpoint(
    tmp_path: Path,
) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    learn.with_file_checkpointer().build(model, sgd(model)).fit(*loaders())
    recorder = Recorder()
    again = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    learn.with_file_checkpointer().resume().with_callback(recorder).build(again, sgd(again)).fit(
        *loaders()
    )
    assert recorder.calls == [("fit_start",), ("fit_end", "completed")]

    (tmp_path / "checkpoint" / "epoch-1.pt").write_bytes(b"not a checkpoint")
    recorder = Recorder()
    learn, _ = builder(tmp_path, epochs=2)
    with pytest.raises(CheckpointError):
        learn.with_file_checkpointer().resume().with_callback(recorder).build(
            again, sgd(again)
        ).fit(*loaders())
    assert recorder.calls == [("error", "CheckpointError")]


def test_a_stop_for_a_nonfinite_loss_tells_callbacks_of_its_checkpoint(tmp_path: Path) -> None:
    recorder = Recorder()
    model = NanFrom(first_bad=2 * 6 + 2)

    class KeepFirst:
        def wanted(self, epoch: int, history: object) -> frozenset[int]:
            return frozenset({1})

    learn, _ = builder(tmp_path, epochs=3)
    learn = learn.with_file_checkpointer(KeepFirst()).on_nonfinite_loss("stop")
    learn.with_callback(recorder).build(model, sgd(model)).fit(*loaders())
    written = [call for call in recorder.calls if call[0] == "checkpoint"]
    assert written == [("checkpoint", 1, "epoch-1.pt"), ("checkpoint", 2, "epoch-2.pt")]


def test_a_scheduler_metric_without_a_scheduler_is_refused(tmp_path: Path) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path)
    with pytest.raises(ValueError, match="no learning-rate scheduler"):
        learn.lr_scheduler_metric("Loss").build(model, sgd(model))


def test_an_evaluation_logs_test_steps_and_keeps_the_run_s_epochs(tmp_path: Path) -> None:
    model = Classifier()
    learn, memory = builder(tmp_path, epochs=3)
    learner = learn.build(model, sgd(model))
    learner.fit(*loaders())
    learner.evaluate(loaders()[1])
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    last_start = max(i for i, record in enumerate(records) if record["event"] == "start")
    after = [record for record in records[last_start:] if record["event"] == "steps"]
    assert after
    assert {record["split"] for record in after} == {"test"}
    assert read_run(tmp_path).epoch_total == 3
    assert memory.steps[Split.TEST]["Loss"]
