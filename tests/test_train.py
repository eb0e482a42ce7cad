"""Tests for training: the learning-rate schedule, the input pipeline, the deadline, and what
a trial leaves for the garbage collector."""

from __future__ import annotations

import datetime
from collections.abc import Callable

import numpy as np
import optuna
import pytest
from optuna.distributions import IntDistribution

from sweep.params import MNIST_BASELINE, Architecture
from sweep.trials import final_params


def _trial(params: dict, best_epoch: int) -> optuna.trial.FrozenTrial:
    now = datetime.datetime.now()
    return optuna.trial.FrozenTrial(
        number=1,
        state=optuna.trial.TrialState.COMPLETE,
        value=0.9,
        values=None,
        datetime_start=now,
        datetime_complete=now,
        params={"epochs": params["epochs"]},
        distributions={"epochs": IntDistribution(1, 10)},
        user_attrs={"params": params, "best_epoch": best_epoch},
        system_attrs={},
        intermediate_values={},
        trial_id=1,
    )


@pytest.mark.parametrize(
    ("schedule", "stopped", "retrained_epochs"),
    [
        ("constant", False, 6),
        ("cosine", False, 6),  # all its epochs, whatever its best one
        ("constant", True, 3),  # cut by a deadline after 3 epochs, and complete: those 3
    ],
)
def test_the_retrain_runs_the_epochs_the_trial_ran(schedule: str, stopped: bool, retrained_epochs: int) -> None:
    params = {**MNIST_BASELINE, "epochs": 6, "lr_schedule": schedule}
    trial = _trial(params, best_epoch=4)
    if stopped:
        trial.user_attrs.update(stopped="timeout", epochs_run=3)
    assert final_params(trial)["epochs"] == retrained_epochs


TINY = {**MNIST_BASELINE, "filters_1": 4, "filters_2": 4, "dense_units": 8}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("schedule", "rates"),
    [
        # 100 steps. cosine: warm-up over 5 steps from 4 % of the peak, then half a cosine to 0.
        ("cosine", {0: 0.04, 1: 0.232, 5: 1.0, 30: 0.8386, 52: 0.5083, 99: 0.0003, 100: 0.0}),
        # one_cycle: warm-up over 30 steps, half a cosine down over the other 70.
        ("one_cycle", {0: 0.04, 15: 0.52, 30: 1.0, 65: 0.5, 100: 0.0}),
        ("constant", None),
    ],
)
def test_learning_rate_schedules_warm_up_then_decay_to_zero(schedule: str, rates: dict[int, float] | None) -> None:
    from sweep.models import schedule as schedule_of
    from sweep.train import new_model

    arch = Architecture.from_params(
        {**TINY, "lr_schedule": schedule, "epochs": 10, "batch_size": 10, "learning_rate": 1e-3}
    )
    model = new_model(arch, (28, 28, 1), 10, 0, train_images=100)  # 10 steps an epoch
    rate = schedule_of(model)
    if rates is None:
        assert rate is None and float(model.optimizer.learning_rate) == pytest.approx(1e-3)
        return
    assert {step: float(rate(step)) / 1e-3 for step in rates} == pytest.approx(rates, abs=1e-3)


@pytest.mark.slow
def test_an_epoch_plan_shortens_a_run_and_its_schedule_still_ends_at_zero() -> None:
    from sweep.models import schedule
    from sweep.train import EpochPlan, new_model, train

    arch = Architecture.from_params({**TINY, "lr_schedule": "cosine", "epochs": 10, "batch_size": 10})
    rng = np.random.default_rng(0)
    x, y = rng.random((100, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 100)
    model = new_model(arch, (28, 28, 1), 10, 0, len(x))
    asked: list[int] = []

    def plan(done: int, seconds: float) -> int:
        asked.append(done)
        assert seconds > 0
        return 4 if done >= 2 else 10

    result = train(model, arch, x, y, seed=0, callbacks=[EpochPlan(plan, 10, 10)])
    assert len(result.history["loss"]) == 4 and asked == [1, 2, 3, 4]
    assert int(model.optimizer.iterations) == 40
    assert float(schedule(model)(40)) == 0.0  # decayed to 0 at the new end


@pytest.mark.slow
def test_every_batch_trains_though_keras_runs_several_per_call() -> None:
    from sweep.models import STEPS_PER_EXECUTION
    from sweep.train import new_model, train

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
    from sweep.train import make_batches

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


class ScriptedTimeout:
    """A search deadline whose end comes from ``end()``; what it cuts, the timeout cut."""

    limit = None  # no time limit: only the timeout

    def __init__(self, end: Callable[[], float | None]) -> None:
        self.end = end

    def __call__(self) -> float | None:
        return self.end()

    def cause(self) -> str:
        return "timeout"


def _cut_trials(deadline: Callable[[optuna.Study], object]) -> list[optuna.trial.FrozenTrial]:
    """Four 3-epoch digits trials (baseline, constant, cosine, first trial) under the deadline
    ``deadline(study)``."""
    from sweep.datasets import load_dataset
    from sweep.objective import Objective
    from sweep.progress import Display
    from sweep.spaces import parse_space
    from sweep.worker import run_trials

    space = parse_space(
        {
            "params": {
                "epochs": {"type": "int", "low": 2, "high": 4},
                "lr_schedule": {"type": "categorical", "choices": ["constant", "cosine"]},
            }
        },
        "test",
    )
    small = {
        **MNIST_BASELINE,
        "filters_1": 4,
        "filters_2": 4,
        "dense_units": 8,
        "padding": "same",
        "pool_last": False,
        "batch_size": 64,
        "epochs": 3,
    }
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"epochs": 3, "lr_schedule": "constant"}, user_attrs={"is_baseline": True})
    study.enqueue_trial({"epochs": 3, "lr_schedule": "constant"})
    study.enqueue_trial({"epochs": 3, "lr_schedule": "cosine"})
    study.enqueue_trial({"epochs": 3, "lr_schedule": "cosine"}, user_attrs={"is_first_trial": True})
    objective = Objective(load_dataset("digits"), space, small, seed=0, display=Display(), deadline=deadline(study))
    run_trials(study, objective, trials=4)
    baseline, constant, cosine, first = study.trials
    for full in (baseline, first):  # never cut
        assert full.state == optuna.trial.TrialState.COMPLETE
        assert full.user_attrs["epochs_run"] == 3 and "stopped" not in full.user_attrs
    return [constant, cosine]


@pytest.mark.slow
def test_trials_running_at_the_deadline_stop_within_their_epoch_but_keep_the_ones_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from sweep import train

    # Asked only when an epoch begins: each cut trial asks twice, and the deadline passes
    # between its first and second epoch. Only the Deadline callback's asks count (the
    # objective asks too, to tell whether a trial can still finish).
    monkeypatch.setattr(train.Deadline, "ASK_EVERY_SECONDS", 1e9)
    asks = {"count": 0, "asking": False}
    ask = train.Deadline._ask

    def counted(self: train.Deadline, now: float) -> None:
        asks["count"] += 1
        asks["asking"] = True
        try:
            ask(self, now)
        finally:
            asks["asking"] = False

    monkeypatch.setattr(train.Deadline, "_ask", counted)

    def deadline() -> float | None:
        return time.monotonic() - 1 if asks["asking"] and asks["count"] % 2 == 0 else None

    constant, cosine = _cut_trials(lambda study: ScriptedTimeout(deadline))
    # Its one epoch is exactly a 1-epoch trial's: a complete result.
    assert constant.state == optuna.trial.TrialState.COMPLETE
    assert constant.value == pytest.approx(constant.intermediate_values[33])  # 1 of 3 epochs
    # Its one epoch ran at a 3-epoch cosine's first rate: no trial's result, so pruned.
    assert cosine.state == optuna.trial.TrialState.PRUNED
    for cut in (constant, cosine):
        # Cut in its second epoch, not at that epoch's end (which would leave 2 epochs run).
        assert cut.user_attrs["epochs_run"] == 1 and cut.user_attrs["stopped"] == "timeout"
        assert len(cut.intermediate_values) == 1  # its epoch is on the leaderboard
        # The time limit's estimate reads its whole epoch's time, not the cut one's too.
        assert 0 < cut.user_attrs["epochs_seconds"] < cut.user_attrs["fit_seconds"]


@pytest.mark.slow
def test_a_trial_cut_before_its_first_epoch_ends_is_pruned() -> None:
    import time

    from sweep.budget import SearchDeadline, TimeLimit

    def limit_passed(study: optuna.Study) -> SearchDeadline:  # the time limit, before they start
        return SearchDeadline(
            study,
            timeout=600.0,
            started=time.monotonic(),
            limit=TimeLimit(time.time() - 1, 1_000, 1_100, shared_cores=False),
        )

    for cut in _cut_trials(limit_passed):
        assert cut.state == optuna.trial.TrialState.PRUNED
        assert cut.user_attrs["stopped"] == "time_limit"  # which deadline: not the timeout
        assert not cut.intermediate_values and "epochs_run" not in cut.user_attrs


@pytest.mark.slow
def test_the_baseline_and_first_trials_are_never_pruned_but_the_pruner_sees_them() -> None:
    from sweep.datasets import load_dataset
    from sweep.objective import Objective
    from sweep.progress import Display
    from sweep.spaces import parse_space
    from sweep.worker import run_trials
    from tests.test_end_to_end import PruneAll

    space = parse_space({"params": {"epochs": {"type": "int", "low": 2, "high": 3}}}, "test")
    small = {
        **MNIST_BASELINE,
        "filters_1": 4,
        "filters_2": 4,
        "dense_units": 8,
        "padding": "same",
        "pool_last": False,
        "batch_size": 64,
        "epochs": 2,
    }
    pruner = PruneAll()
    study = optuna.create_study(direction="maximize", pruner=pruner)
    study.enqueue_trial({"epochs": 2}, user_attrs={"is_baseline": True})
    study.enqueue_trial({"epochs": 3}, user_attrs={"is_first_trial": True})
    study.enqueue_trial({"epochs": 3})
    run_trials(study, Objective(load_dataset("digits"), space, small, seed=0, display=Display()), trials=3)
    baseline, first, sampled = study.trials
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert len(first.intermediate_values) == 3 and len(sampled.intermediate_values) == 1
    assert pruner.asked == {0, 1, 2}  # Hyperband records rungs only for trials that ask


@pytest.mark.slow
def test_the_deadline_does_not_cut_a_trial_in_its_last_epoch() -> None:
    import time

    from sweep.train import Deadline, DeadlinePassed

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

    # A fresh interpreter: this one may have imported TensorFlow before sweep.backend did.
    script = (
        "import gc; from sweep.backend import load_keras; load_keras()\n"
        "from sweep import train; from sweep.params import MNIST_BASELINE, Architecture\n"
        "train.new_model(Architecture.from_params(MNIST_BASELINE), (28, 28, 1), 10, 0, 100)\n"
        "train.release()\n"
        "print(gc.get_freeze_count(), len(gc.get_objects()))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    frozen, tracked = map(int, run.stdout.split()[-2:])
    # TensorFlow's and Keras's objects are frozen; a collection walks only what came after.
    assert frozen > 100_000 and tracked < frozen / 5, (frozen, tracked)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("changes", "shape", "classes"),
    [
        ({}, (28, 28, 1), 10),  # the MNIST notebook
        (
            {"conv_blocks": 3, "filters_3": 64, "pool_last": False, "dense_units": 64, "logits": True},
            (32, 32, 3),
            10,
        ),  # the CIFAR-10 notebook
        ({"batch_norm": True, "padding": "same"}, (28, 28, 1), 10),  # batch norm, dense too
        (
            {
                "conv_blocks": 3,
                "filters_3": 128,
                "convs_per_block": 2,
                "padding": "same",
                "batch_norm": True,
                "head": "gap",
                "dense_units": 0,
            },
            (28, 28, 1),
            10,
        ),  # the VGG-style one
        ({"convs_per_block": 2, "augment": 0.1, "flip": True}, (40, 30, 3), 7),
    ],
)
def test_param_count_is_what_keras_builds(changes: dict, shape: tuple[int, int, int], classes: int) -> None:
    from sweep.train import new_model

    arch = Architecture.from_params({**MNIST_BASELINE, **changes})
    model = new_model(arch, shape, classes, 0, train_images=100)
    assert model.count_params() == arch.param_count(shape, classes)
