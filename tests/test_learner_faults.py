"""The learner under faults: exact resume between optimizer steps, non-finite losses that never
reach the weights, resuming past the end, and clear errors."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from burnish import (
    CheckpointError,
    ClassificationOutput,
    Interrupter,
    NonFiniteLossError,
    Split,
    TrainOutput,
)
from burnish.learner.checkpoint import FileCheckpointer
from burnish.processor.events import EndEvent, LearnerEvent
from tests.learner_fixtures import Batch, Classifier, builder, loaders, sgd

EPOCHS = 2
BATCHES = 6  # a train epoch of loaders(): 96 items in batches of 16


def _weights(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _accumulating_fit(
    directory: Path, model: Classifier, interrupter: Interrupter | None = None, resume: bool = False
) -> str:
    """Accumulation over 4 batches, with clipping and a scheduler stepped every optimizer step."""
    optimizer = sgd(model)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    learn, _ = builder(directory, epochs=EPOCHS)
    learn = learn.grads_accumulation(4).clip_grad_norm(0.5).with_file_checkpointer()
    if interrupter is not None:
        learn = learn.with_interrupter(interrupter)
    if resume:
        learn = learn.resume()
    return learn.build(model, optimizer, scheduler).fit(*loaders()).reason


@pytest.mark.parametrize("stop_after", range(1, EPOCHS * BATCHES))
def test_resume_is_exact_at_every_offset_of_an_accumulation_window(
    tmp_path: Path, stop_after: int
) -> None:
    torch.manual_seed(7)
    straight = Classifier()
    assert _accumulating_fit(tmp_path / "straight", straight) == "completed"

    torch.manual_seed(7)
    stopped = Classifier()
    interrupter = Interrupter()
    stopped.on_train_step = lambda step: interrupter.stop() if step == stop_after else None
    assert _accumulating_fit(tmp_path / "split", stopped, interrupter) == "stopped"
    assert stopped.train_steps == stop_after

    torch.manual_seed(999)  # resuming must not depend on the caller's seed
    resumed = Classifier()
    assert _accumulating_fit(tmp_path / "split", resumed, resume=True) == "completed"
    assert resumed.train_steps == EPOCHS * BATCHES - stop_after
    for a, b in zip(_weights(straight), _weights(resumed), strict=True):
        assert torch.equal(a, b)


class NanFrom(Classifier):
    """From train step ``first_bad`` on, its loss and logits are NaN (as after an overflow)."""

    def __init__(self, first_bad: int) -> None:
        super().__init__()
        self.first_bad = first_bad

    def train_step(self, batch: Batch) -> TrainOutput[ClassificationOutput]:
        output = super().train_step(batch)
        if self.train_steps < self.first_bad:
            return output
        item = output.item
        loss, logits = output.loss * math.nan, item.output * math.nan
        return TrainOutput(loss, ClassificationOutput(loss, logits, item.targets))


def _finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


@pytest.mark.parametrize("repeat", range(4))
def test_stop_on_a_nonfinite_loss_returns_the_last_finite_state(
    tmp_path: Path, repeat: int
) -> None:
    """Loss and accuracy metrics see the NaN steps too: their checks never pre-empt the policy."""
    torch.manual_seed(repeat)
    model = NanFrom(first_bad=BATCHES + 3)  # the third step of epoch 2
    learn, _ = builder(tmp_path, epochs=3)
    learn = learn.with_file_checkpointer().on_nonfinite_loss("stop")
    result = learn.build(model, sgd(model)).fit(*loaders())
    assert result.reason == "nonfinite_loss"
    assert _finite(model)
    # The model holds epoch 1's weights, which its checkpoint holds too.
    saved = torch.load(tmp_path / "checkpoint" / "epoch-1.pt", weights_only=True)
    for name, value in model.state_dict().items():
        assert torch.equal(value, saved["model"][name])
    assert not (tmp_path / "checkpoint" / "epoch-2.pt").exists()
    assert math.isfinite(result.value(Split.TRAIN, "Loss"))


@pytest.mark.parametrize("first_bad", [1, 3, BATCHES + 2])
def test_error_on_a_nonfinite_loss_names_the_step_and_leaves_finite_weights(
    tmp_path: Path, first_bad: int
) -> None:
    torch.manual_seed(0)
    model = NanFrom(first_bad)
    before = _weights(model)
    learn, _ = builder(tmp_path, epochs=2)
    epoch, iteration = (1, first_bad) if first_bad <= BATCHES else (2, first_bad)
    with pytest.raises(
        NonFiniteLossError, match=f"the loss is nan at epoch {epoch}, iteration {iteration}"
    ):
        learn.build(model, sgd(model)).fit(*loaders())
    assert _finite(model)
    if epoch == 1:
        # Nothing finished before the loss went bad: the weights the fit started from.
        for a, b in zip(before, _weights(model), strict=True):
            assert torch.equal(a, b)


def test_resuming_past_the_end_says_so_and_returns_the_checkpoint_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=3)
    finished = learn.with_file_checkpointer().build(model, sgd(model)).fit(*loaders())

    again = Classifier()
    learn, _ = builder(tmp_path, epochs=2)
    with caplog.at_level(logging.WARNING, logger="burnish.learner"):
        result = learn.with_file_checkpointer().resume().build(again, sgd(again)).fit(*loaders())
    assert "nothing to train" in caplog.text
    assert "epoch 3" in caplog.text
    assert result.reason == "completed"
    assert again.train_steps == 0
    for split in (Split.TRAIN, Split.VALID):
        assert result.value(split, "Loss") == finished.value(split, "Loss")
        assert result.value(split, "Accuracy") == finished.value(split, "Accuracy")
    for a, b in zip(_weights(model), _weights(again), strict=True):
        assert torch.equal(a, b)


def test_fit_result_names_the_metrics_it_has(tmp_path: Path) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    result = learn.build(model, sgd(model)).fit(*loaders())
    with pytest.raises(KeyError, match=r"no metric 'loss' .* it has 'Loss', 'Accuracy'"):
        result.value(Split.VALID, "loss")


def test_an_empty_batch_is_an_error_naming_where(tmp_path: Path) -> None:
    empty: list[Batch] = [(torch.randn(4, 8), torch.tensor([0, 1, 2, 0]))] * 2 + [
        (torch.zeros(0, 8), torch.zeros(0, dtype=torch.long))
    ]
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    with pytest.raises(ValueError, match=r"empty batch .* at epoch 1, batch 3"):
        learn.build(model, sgd(model)).fit(empty)


def test_a_checkpoint_of_another_optimizer_is_a_checkpoint_error(tmp_path: Path) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    learn.with_file_checkpointer().build(model, sgd(model)).fit(*loaders())
    other = Classifier()
    learn, _ = builder(tmp_path, epochs=2)
    adam = torch.optim.Adam(other.parameters())
    with pytest.raises(CheckpointError, match=r"written with optimizer SGD.* has Adam"):
        learn.with_file_checkpointer().resume().build(other, adam).fit(*loaders())


@pytest.mark.parametrize(
    "damage",
    [
        lambda record: record["learner"].pop("iteration"),
        lambda record: record["learner"].update(epoch="three"),
        lambda record: record["learner"].update(history=[1, 2]),
        lambda record: record.update(gradients={"net.0.weight": torch.zeros(2)}),
        lambda record: record["model"].pop("net.0.bias"),
    ],
)
def test_a_malformed_checkpoint_record_is_a_checkpoint_error(
    tmp_path: Path, damage: object
) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    learner = learn.with_file_checkpointer().build(model, sgd(model))
    learner.fit(*loaders())
    record = learner.checkpointer.load(1)
    damage(record)  # type: ignore[operator]
    learner.checkpointer.save(1, record)
    other = Classifier()
    learn, _ = builder(tmp_path, epochs=2)
    with pytest.raises(CheckpointError, match=r"epoch-1\.pt"):
        learn.with_file_checkpointer().resume().build(other, sgd(other)).fit(*loaders())


class FailsOnce:
    """A consumer whose first batch of events fails (as a metric's check can), then works."""

    tick_seconds = 0.01

    def __init__(self) -> None:
        self.calls = 0
        self.seen: list[LearnerEvent] = []

    def consume(self, events: Sequence[LearnerEvent]) -> None:
        self.calls += 1
        if self.calls == 1:
            raise ValueError("Accuracy: expected scores that are finite, received NaN")
        self.seen.extend(events)

    def close(self) -> None:
        pass


def test_a_consumer_that_failed_still_receives_the_end(tmp_path: Path) -> None:
    """The learner raises the consumer's error, and the consumer still gets the events after
    it: a logger writes the end of the run."""
    model = Classifier()
    failing = FailsOnce()
    learn, _ = builder(tmp_path, epochs=2)
    with pytest.raises(ValueError, match="Accuracy: expected scores that are finite"):
        learn.with_metric_logger(failing).build(model, sgd(model)).fit(*loaders())
    assert isinstance(failing.seen[-1], EndEvent)
    assert failing.seen[-1].reason == "error"


def _generator_loaders() -> tuple[DataLoader[Batch], DataLoader[Batch]]:
    """Loaders that shuffle with their own generator, not the global one."""
    train, valid = loaders()
    own = DataLoader(train.dataset, batch_size=16, shuffle=True, generator=torch.Generator())
    own.generator.manual_seed(0)  # type: ignore[union-attr]
    return own, valid


@pytest.mark.parametrize("stop_after", [3, BATCHES, BATCHES + 2])
def test_resume_is_exact_when_the_loader_has_its_own_generator(
    tmp_path: Path, stop_after: int
) -> None:
    torch.manual_seed(3)
    straight = Classifier()
    learn, _ = builder(tmp_path / "straight", epochs=3)
    learn.with_file_checkpointer().build(straight, sgd(straight)).fit(*_generator_loaders())

    torch.manual_seed(3)
    stopped, interrupter = Classifier(), Interrupter()
    stopped.on_train_step = lambda step: interrupter.stop() if step == stop_after else None
    learn, _ = builder(tmp_path / "split", epochs=3)
    learn.with_file_checkpointer().with_interrupter(interrupter).build(stopped, sgd(stopped)).fit(
        *_generator_loaders()
    )
    resumed = Classifier()
    learn, _ = builder(tmp_path / "split", epochs=3)
    learn.with_file_checkpointer().resume().build(resumed, sgd(resumed)).fit(*_generator_loaders())
    for a, b in zip(_weights(straight), _weights(resumed), strict=True):
        assert torch.equal(a, b)


class NanAt(Classifier):
    """Its loss is NaN at the given train steps only."""

    def __init__(self, bad: set[int]) -> None:
        super().__init__()
        self.bad = bad

    def train_step(self, batch: Batch) -> TrainOutput[ClassificationOutput]:
        output = super().train_step(batch)
        if self.train_steps not in self.bad:
            return output
        loss = output.loss * math.nan
        return TrainOutput(
            loss, ClassificationOutput(loss, output.item.output, output.item.targets)
        )


def test_skipping_a_batch_keeps_the_accumulation_windows(tmp_path: Path) -> None:
    """A window whose last batch is skipped still steps at its end, on the batches admitted."""
    steps: list[int] = []
    model = NanAt({4})
    optimizer = sgd(model)
    optimizer.register_step_post_hook(lambda *_: steps.append(model.train_steps))
    learn, _ = builder(tmp_path, epochs=1)
    learn.grads_accumulation(4).on_nonfinite_loss("skip").build(model, optimizer).fit(loaders()[0])
    assert steps == [4, 6]


def test_a_stop_s_mid_epoch_checkpoint_does_not_outlive_its_epoch(tmp_path: Path) -> None:
    """With a strategy that keeps epoch 1 alone (as a best-only one can), the stop's partial
    checkpoint of epoch 2 is deleted at that epoch's end, not left for a later resume() to take
    for the latest."""
    torch.manual_seed(0)
    model, interrupter = Classifier(), Interrupter()
    model.on_train_step = lambda step: interrupter.stop() if step == BATCHES + 3 else None
    learn, _ = builder(tmp_path, epochs=2)
    learn.with_file_checkpointer(KeepFirst()).with_interrupter(interrupter).build(
        model, sgd(model)
    ).fit(*loaders())
    checkpointer = FileCheckpointer(tmp_path / "checkpoint")
    assert checkpointer.epochs() == [1, 2]  # the stop's, 3 batches into epoch 2
    resumed = Classifier()
    learn, _ = builder(tmp_path, epochs=2)
    learn.with_file_checkpointer(KeepFirst()).resume().build(resumed, sgd(resumed)).fit(*loaders())
    assert resumed.train_steps == BATCHES - 3
    assert checkpointer.epochs() == [1]


class KeepFirst:
    def wanted(self, epoch: int, history: object) -> frozenset[int]:
        return frozenset({1})


def test_a_learner_fits_once(tmp_path: Path) -> None:
    model = Classifier()
    learn, _ = builder(tmp_path, epochs=1)
    learner = learn.build(model, sgd(model))
    learner.fit(*loaders())
    with pytest.raises(RuntimeError, match=r"fit already.*resume\(\)"):
        learner.fit(*loaders())


def test_evaluate_after_a_stopped_fit_evaluates(tmp_path: Path) -> None:
    model, interrupter = Classifier(), Interrupter()
    model.on_train_step = lambda step: interrupter.stop() if step == 2 else None
    learn, _ = builder(tmp_path, epochs=2)
    learner = learn.with_interrupter(interrupter).build(model, sgd(model))
    assert learner.fit(*loaders()).reason == "stopped"
    assert set(learner.evaluate(loaders()[1])) == {"Loss", "Accuracy"}
