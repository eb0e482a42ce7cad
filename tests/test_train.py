"""Tests for sweep.models.train: the input pipeline, the epoch plan, the deadline, and what a trial leaves for the
garbage collector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sweep.models.params import MNIST_BASELINE, Architecture
from tests.fixtures import TINY


@pytest.mark.slow
def test_an_epoch_plan_shortens_a_run_and_its_schedule_still_ends_at_zero() -> None:
    from sweep.models.build import schedule
    from sweep.models.train import EpochPlan, new_model, train
    from sweep.progress import Display

    arch = Architecture.from_params({**TINY, "lr_schedule": "cosine", "epochs": 10, "batch_size": 10})
    rng = np.random.default_rng(0)
    x, y = rng.random((100, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 100)
    model = new_model(arch, (28, 28, 1), 10, 0, len(x))
    asked: list[int] = []

    def plan(done: int, seconds: float) -> int:
        asked.append(done)
        assert seconds > 0
        return 4 if done >= 2 else 10

    display = Display()
    with display.session(), display.task("epochs", 10) as task:
        result = train(model, arch, x, y, seed=0, callbacks=[EpochPlan(plan, 10, 10, task=task)])
    assert len(result.history["loss"]) == 4 and asked == [2, 3, 4]  # a short first epoch is not asked
    assert task.total == 4  # the progress shows the new length
    assert int(model.optimizer.iterations) == 40
    assert float(schedule(model)(40)) == 0.0  # decayed to 0 at the new end


@pytest.mark.slow
def test_a_partial_epoch_plan_stops_inside_an_epoch_where_its_schedule_reaches_zero() -> None:
    from sweep.models.build import STEPS_PER_EXECUTION, schedule
    from sweep.models.train import EpochPlan, new_model, train

    each = 2 * STEPS_PER_EXECUTION  # steps an epoch: 2 calls of Keras's
    arch = Architecture.from_params({**TINY, "lr_schedule": "cosine", "epochs": 2, "batch_size": 2})
    rng = np.random.default_rng(0)
    x, y = rng.random((2 * each, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 2 * each)
    model = new_model(arch, (28, 28, 1), 10, 0, len(x))
    # After 2 epochs the plan asks for 2.7: the third stops after its first call (0.5 epoch),
    # the last step Keras can stop at within 0.7.
    plan = EpochPlan(lambda done, seconds: 2.7, 2, each, most=4, partial=True)
    result = train(model, arch, x, y, seed=0, callbacks=[plan], epochs=4)
    assert int(model.optimizer.iterations) == 2 * each + STEPS_PER_EXECUTION
    assert result.epochs_run == 3 and result.trained == 2.5 and result.epochs == 2.5
    assert float(schedule(model)(2 * each + STEPS_PER_EXECUTION)) == 0.0


@pytest.mark.slow
def test_a_whole_run_records_no_fraction() -> None:
    from sweep.models.train import new_model, train

    arch = Architecture.from_params({**TINY, "epochs": 2, "batch_size": 10})
    rng = np.random.default_rng(0)
    x, y = rng.random((30, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 30)
    result = train(new_model(arch, (28, 28, 1), 10, 0, len(x)), arch, x, y, seed=0)
    assert result.trained is None and result.epochs == 2.0


@pytest.mark.parametrize(
    ("epoch_seconds", "asked"),
    [
        ([2.0, 0.1, 0.1], [2, 3]),  # the first epoch (mostly tracing) is not asked about
        ([40.0, 30.0, 30.0], [1, 2, 3]),  # a long one is: tracing hardly counts there
    ],
)
def test_an_epoch_plan_asks_from_the_second_epoch_unless_the_first_was_long(
    monkeypatch: pytest.MonkeyPatch, epoch_seconds: list[float], asked: list[int]
) -> None:
    import sweep.models.train as training

    now = [0.0]
    monkeypatch.setattr(training.time, "perf_counter", lambda: now[0])
    seen: list[tuple[int, float]] = []
    plan = training.EpochPlan(lambda done, seconds: seen.append((done, seconds)) or 3, 3, 10)
    plan.set_model(type("Model", (), {"stop_training": False})())
    for epoch, seconds in enumerate(epoch_seconds):
        plan.on_epoch_begin(epoch)
        now[0] += seconds
        plan.on_epoch_end(epoch)
    assert [done for done, _ in seen] == asked
    assert [seconds for _, seconds in seen] == pytest.approx(epoch_seconds[-len(asked) :])
    assert plan.model.stop_training  # after its 3 epochs


def test_a_partial_one_epoch_run_is_asked_after_it_and_may_grow(monkeypatch: pytest.MonkeyPatch) -> None:
    import sweep.models.train as training

    monkeypatch.setattr(training.time, "perf_counter", lambda: 0.0)
    monkeypatch.setattr(training, "schedule", lambda model: None)
    plan = training.EpochPlan(lambda done, seconds: 2.5, 1, 64, most=5, partial=True)
    plan.set_model(type("Model", (), {"stop_training": False})())
    plan.on_epoch_begin(0)
    plan.on_epoch_end(0)
    assert not plan.model.stop_training and (plan.epochs, plan.steps) == (3, 160)  # 2 epochs and a half's 32


def test_a_partial_run_plans_its_length_from_its_own_speed_inside_its_first_epoch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sweep.models.train as training

    now = [0.0]
    monkeypatch.setattr(training.time, "perf_counter", lambda: now[0])
    monkeypatch.setattr(training, "schedule", lambda model: None)
    asked: list[tuple[float, float]] = []

    def plan(done: float, epoch_seconds: float) -> float:
        asked.append((done, epoch_seconds))
        return done + 30.0 / epoch_seconds  # 30 s left

    model = type("Model", (), {"stop_training": False, "optimizer": type("Optimizer", (), {"iterations": 0})()})()
    epoch_plan = training.EpochPlan(plan, 1, 320, most=5, partial=True)
    epoch_plan.set_model(model)
    epoch_plan.on_epoch_begin(0)
    for call, seconds in enumerate([5.0, 1.0, 1.0, 1.0]):  # the first call traces: not timed
        now[0] += seconds
        model.optimizer.iterations = 32 * (call + 1)
        epoch_plan.on_train_batch_end(32 * call + 31)
    # Asked once, after the third call: 64 steps in 2 s, so 10 s an epoch; 0.3 epoch done.
    assert asked == [(pytest.approx(0.3), pytest.approx(10.0))]
    assert (epoch_plan.steps, epoch_plan.epochs) == (3 * 320 + 96, 4)  # 3.3 epochs: 3 and 96 steps
    assert not model.stop_training


def test_a_one_epoch_run_stops_after_it_though_the_plan_was_not_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    import sweep.models.train as training

    monkeypatch.setattr(training.time, "perf_counter", lambda: 0.0)
    plan = training.EpochPlan(lambda done, seconds: pytest.fail("asked after a short first epoch"), 1, 10, most=5)
    plan.set_model(type("Model", (), {"stop_training": False})())
    plan.on_epoch_begin(0)
    plan.on_epoch_end(0)
    assert plan.model.stop_training


@pytest.mark.slow
def test_every_batch_trains_though_keras_runs_several_per_call() -> None:
    from sweep.models.build import STEPS_PER_EXECUTION
    from sweep.models.train import new_model, train

    batches = STEPS_PER_EXECUTION + 5  # one full call and a shorter one, every epoch
    arch = Architecture.from_params(
        {**MNIST_BASELINE, "filters_1": 4, "filters_2": 4, "dense_units": 8, "batch_size": 2, "epochs": 2}
    )
    rng = np.random.default_rng(0)
    x = rng.random((2 * batches - 1, 28, 28, 1), dtype=np.float32)  # the last batch holds one
    model = new_model(arch, (28, 28, 1), 10, 0, len(x))
    train(model, arch, x, rng.integers(0, 10, len(x)), seed=0)
    assert int(model.optimizer.iterations) == 2 * batches


@pytest.mark.slow
def test_batches_cover_every_image_once_per_epoch_reshuffled_without_autotuning() -> None:
    from sweep.models.train import make_batches

    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    batches = make_batches(x, np.arange(10), batch_size=4, num_classes=10, shuffle_seed=0)
    epochs = [
        [
            (int(image.numpy().item()), int(np.argmax(label)))
            for images, labels in batches
            for image, label in zip(images, labels)
        ]
        for _ in range(2)
    ]
    assert [sorted(epoch) for epoch in epochs] == [[(i, i) for i in range(10)]] * 2
    assert epochs[0] != epochs[1]  # a new order every epoch
    # Autotuning's thread stalled the end of every epoch for seconds (see make_batches).
    assert batches.options().autotune.enabled is False


@pytest.mark.slow
def test_the_deadline_does_not_cut_a_trial_in_its_last_epoch() -> None:
    import time

    from sweep.models.train import Deadline, DeadlinePassed

    stop = Deadline(lambda: time.monotonic() - 1)
    stop.set_params({"epochs": 3, "verbose": 0, "steps": 10})
    stop.on_epoch_begin(1)
    with pytest.raises(DeadlinePassed, match="epoch 2"):
        stop.on_train_batch_end(0)
    stop.on_epoch_begin(2)
    stop.on_train_batch_end(0)  # the last epoch: the trial is all but complete, nothing to cut
    for deadline in (lambda: time.monotonic() + 60, lambda: None):
        waiting = Deadline(deadline)
        waiting.set_params({"epochs": 3, "verbose": 0, "steps": 10})
        waiting.on_epoch_begin(0)
        waiting.on_train_batch_end(0)  # not passed yet, or no deadline at all


@pytest.mark.slow
def test_garbage_collection_after_a_trial_skips_the_imported_modules() -> None:
    import subprocess
    import sys

    # A fresh interpreter: this one may have imported TensorFlow before sweep.machine.backend did.
    script = (
        "import gc; from sweep.machine.backend import load_keras; load_keras()\n"
        "from sweep.models import train; from sweep.models.params import MNIST_BASELINE, Architecture\n"
        "train.new_model(Architecture.from_params(MNIST_BASELINE), (28, 28, 1), 10, 0, 100)\n"
        "train.release()\n"
        "print(gc.get_freeze_count(), len(gc.get_objects()))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    frozen, tracked = map(int, run.stdout.split()[-2:])
    # TensorFlow's and Keras's objects are frozen; a collection walks only what came after.
    assert frozen > 100_000 and tracked < frozen / 5, (frozen, tracked)


@pytest.mark.slow
def test_every_model_is_built_in_the_chosen_precision_not_only_the_first() -> None:
    import os
    import subprocess
    import sys

    # clear_session (after every trial, and KerasTuner's before every build) resets Keras's
    # global policy; a fresh interpreter, as a worker process is, with bfloat16 asked for.
    script = (
        "from sweep.machine.backend import load_keras; load_keras()\n"
        "from sweep.models import train; from sweep.models.params import MNIST_BASELINE, Architecture\n"
        "arch = Architecture.from_params(MNIST_BASELINE)\n"
        "first = train.new_model(arch, (28, 28, 1), 10, 0, 100).dtype_policy.name\n"
        "train.release()\n"
        "print(first, train.new_model(arch, (28, 28, 1), 10, 0, 100).dtype_policy.name)\n"
    )
    env = {**os.environ, "SWEEP_PRECISION": "bfloat16"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
    assert run.stdout.split()[-2:] == ["mixed_bfloat16", "mixed_bfloat16"]


@pytest.mark.slow
def test_a_pass_is_timed_through_one_model_and_through_the_answers_models_and_views() -> None:
    import keras

    from sweep.models.train import pass_seconds

    arch = Architecture.from_params(TINY)
    x = np.random.default_rng(0).random((64, 28, 28, 1), dtype=np.float32)
    alone, same = pass_seconds(arch, (28, 28, 1), 10, x)
    assert alone > 0 and same == alone  # one model over one view is the answer itself
    alone, answer = pass_seconds(arch, (28, 28, 1), 10, x, members=2, shifts=((0, 0), (1, 0), (0, 1)))
    assert alone > 0 and answer > 0 and answer != alone  # the averaged copies were built and timed
    # Nothing it built stays behind to rename the next model's layers.
    assert keras.layers.Dense(2).name == "dense"


@pytest.mark.slow
def test_a_retrain_given_a_kept_model_starts_from_its_weights(tmp_path: Path) -> None:
    from sweep.models.build import portable
    from sweep.models.train import fit_within, new_model

    # A learning rate so small that an epoch hardly moves the weights: where they start shows.
    arch = Architecture.from_params({**TINY, "learning_rate": 1e-9, "weight_decay": 0.0, "epochs": 1, "batch_size": 16})
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 64)
    kept = new_model(arch, (28, 28, 1), 10, 7, len(x))
    path = tmp_path / "trial.keras"
    portable(kept).save(path)
    kernel = kept.get_weights()[0]
    warm = fit_within(arch, x, y, (28, 28, 1), 10, seed=0, start=path).model.get_weights()[0]
    fresh = fit_within(arch, x, y, (28, 28, 1), 10, seed=0).model.get_weights()[0]
    assert np.allclose(warm, kernel, atol=1e-4)
    assert not np.allclose(fresh, kernel, atol=1e-2)  # seed 0's initialization is not seed 7's
