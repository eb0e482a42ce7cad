"""Tests for sweep.commands.ensemble: when the answer trains as two models side by side, how they are
trained in their own processes, and the averaged model they make (sweep.models.build.average_of)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sweep.commands.ensemble import members_for
from tests.fixtures import TINY

NO_LIMITS = {"max_params": None, "max_size_kb": None, "max_latency_ms": None}


@pytest.mark.parametrize(
    ("asked", "cores", "gpus", "limits", "objective", "expected"),
    [
        (1, 2, 0, NO_LIMITS, "accuracy", 1),  # the default: one model
        (2, 2, 0, NO_LIMITS, "accuracy", 2),  # a core for each
        (2, 16, 0, {}, "accuracy", 2),
        (3, 2, 0, NO_LIMITS, "accuracy", 1),  # fewer cores than models: they would take turns
        (2, 2, 1, NO_LIMITS, "accuracy", 1),  # a GPU trains one model and the cores feed it
        (2, 2, 0, {**NO_LIMITS, "max_params": 50_000}, "accuracy", 1),  # limits are one model's
        (2, 2, 0, {**NO_LIMITS, "max_latency_ms": 0.5}, "accuracy", 1),
        (2, 2, 0, NO_LIMITS, "latency", 1),  # a Pareto search trades cost: one model
    ],
)
def test_the_answer_averages_the_models_asked_for_where_nothing_asks_for_one(
    asked: int, cores: int, gpus: int, limits: dict[str, float | None], objective: str, expected: int
) -> None:
    assert members_for(asked, cores, gpus, limits, objective) == expected


@pytest.mark.parametrize(
    ("threads_gain", "cores", "gpus", "limits", "expected"),
    [
        (1.06, 2, 0, NO_LIMITS, 2),  # the slowest kind: a second thread gains nothing, a model each
        (1.5, 2, 0, NO_LIMITS, 1),  # a second thread speeds one model up: one model, more epochs
        (None, 2, 0, NO_LIMITS, 1),  # not measured: one model
        (1.0, 16, 0, NO_LIMITS, 2),  # at most AUTO_MEMBERS
        (1.0, 1, 0, NO_LIMITS, 1),  # one core
        (1.0, 2, 1, NO_LIMITS, 1),  # a GPU
        (1.0, 2, 0, {**NO_LIMITS, "max_params": 50_000}, 1),
    ],
)
def test_unasked_the_machine_decides_from_its_measured_gain_of_threads(
    threads_gain: float | None, cores: int, gpus: int, limits: dict[str, float | None], expected: int
) -> None:
    assert members_for(None, cores, gpus, limits, "accuracy", threads_gain) == expected


@pytest.mark.parametrize(
    ("each", "alone", "pays"),
    [
        (3, 3, True),  # both at their cap: the second model is free
        (8, 9, True),  # a ninth of the epochs, for an average of two
        (4, 5, True),  # a fifth: within the threshold
        (2, 3, False),  # a third of a short run (MNIST at the slowest kind's speed)
        (1, 2, False),
        (0.6, 0.6, False),  # under an epoch each: the first model needs the time
    ],
)
def test_models_side_by_side_must_not_cost_the_answer_many_epochs(each: float, alone: float, pays: bool) -> None:
    from sweep.commands.ensemble import side_by_side_pays

    assert side_by_side_pays(each, alone) is pays


def test_the_gain_of_threads_compares_one_process_with_a_trial_on_one_core() -> None:
    from sweep.commands.ensemble import threads_gain

    assert threads_gain(5_400.0, 3_600.0, workers=2, cores=2) == pytest.approx(1.5)
    assert threads_gain(None, 3_600.0, workers=2, cores=2) is None  # no calibration: a small split
    assert threads_gain(5_400.0, None, workers=2, cores=2) is None
    assert threads_gain(5_400.0, 3_600.0, workers=1, cores=2) is None  # its trials had every core


@pytest.mark.slow
def test_the_averaged_model_outputs_the_mean_of_its_members_probabilities(tmp_path: Path) -> None:
    import keras

    from sweep.models.build import average_of, portable
    from sweep.models.params import Architecture
    from sweep.models.train import new_model, probabilities

    softmax = new_model(Architecture.from_params(TINY), (28, 28, 1), 10, 0, 100)
    logits = new_model(Architecture.from_params({**TINY, "logits": True}), (28, 28, 1), 10, 1, 100)
    images = np.random.default_rng(0).random((6, 28, 28, 1), dtype=np.float32)
    averaged = average_of([softmax, logits])
    # The members as saved: float32 copies (training may compute in bfloat16).
    expected = (probabilities(portable(softmax), images) + probabilities(portable(logits), images)) / 2
    got = averaged.predict(images, verbose=0)
    assert got == pytest.approx(expected, abs=1e-5)
    assert got.sum(axis=1) == pytest.approx(np.ones(6), abs=1e-5)  # logits were softmaxed first
    assert portable(averaged) is averaged  # built from portable members: saved as it is
    averaged.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert reloaded.predict(images, verbose=0) == pytest.approx(got, abs=1e-6)


@pytest.mark.slow
def test_members_train_side_by_side_with_their_own_seeds() -> None:
    from sweep.commands.ensemble import fit_members
    from sweep.progress import Display

    rng = np.random.default_rng(0)
    x, y = rng.random((64, 28, 28, 1), dtype=np.float32), np.arange(64) % 10
    params = {**TINY, "epochs": 2, "batch_size": 16}
    members = fit_members(params, None, x, y, ((28, 28, 1), 10), 3, Display(), "tiny")
    assert len(members) == 2  # the default of fit_members
    assert [member.epochs_run for member in members] == [2, 2]
    first, second = (member.model.get_weights()[0] for member in members)
    assert not np.allclose(first, second)  # seeds 3 and 4


@pytest.mark.slow
def test_members_lengthened_to_the_time_left_count_their_epochs_against_the_new_total() -> None:
    import io
    import time

    from rich.console import Console

    from sweep.commands.ensemble import fit_members
    from sweep.progress import Display

    rng = np.random.default_rng(0)
    x, y = rng.random((64, 28, 28, 1), dtype=np.float32), np.arange(64) % 10
    out = io.StringIO()
    display = Display(Console(file=out, force_terminal=False, width=200))
    params = {**TINY, "epochs": 2, "batch_size": 16, "lr_schedule": "cosine"}
    members = fit_members(params, None, x, y, ((28, 28, 1), 10), 0, display, "tiny", time.time() + 600, 4)
    assert [member.epochs_run for member in members] == [4, 4]  # grown to `most` in the time left
    lines = [line for line in out.getvalue().splitlines() if "side by side" in line]
    assert lines[-1].split(" [")[0].endswith(" 8/8") and "model " in lines[-1]  # was "8/4"


@pytest.mark.slow
def test_a_member_that_fails_names_itself_and_its_error() -> None:
    from sweep.commands.ensemble import fit_members
    from sweep.progress import Display

    x, y = np.zeros((8, 6, 6, 1), dtype=np.float32), np.arange(8) % 2
    # Two 'valid' 3×3 convolutions and two poolings do not fit 6×6 images.
    with pytest.raises(RuntimeError, match=r"model 1 of the answer failed \(exit 1\): .*6"):
        fit_members({**TINY, "epochs": 1}, None, x, y, ((6, 6, 1), 2), 0, Display(), "tiny")


@pytest.mark.parametrize(
    ("one_seconds", "left", "members", "expected"),
    [
        (60.0, 100.0, 2, 2),  # a copy a core fits, with the margin
        (60.0, 70.0, 2, 0),  # it would be cut short
        (None, 100.0, 2, 0),  # no timing of the baseline's retrain
        (60.0, 100.0, 1, 0),  # one core, a GPU, limits: one model (members_for)
    ],
)
def test_the_time_left_when_the_baseline_is_the_answer_trains_copies_of_it(
    one_seconds: float | None, left: float, members: int, expected: int
) -> None:
    from sweep.commands.ensemble import copies_in_time_left

    assert copies_in_time_left(one_seconds, left, members) == expected


@pytest.mark.parametrize(
    ("room", "gain", "members", "allowed", "expected", "says"),
    [
        # Each of two models reaches the answer's most epochs (10: twice its 5, cosine): both.
        (250.0, 1.5, 1, 2, 2, "10 epochs each, against 10 for one"),
        # 9.8 each against 10 for one (MNIST 1k: the time kept for two, a little of it spent): both.
        (215.0, 1.5, 1, 2, 2, "9.8 epochs each, against 10 for one"),
        # Unmeasured gain: the limit's own assumption (1 / SHARED_CORES_FACTOR).
        (250.0, None, 1, 2, 2, "10 epochs each"),
        # The machine's gain asks for two, which cost few epochs (4.5 each, 4.8 alone): two.
        (100.0, 1.06, 2, 2, 2, "4.5 epochs each, against 4.8 for one"),
        # 2.7 each against 3.3 alone, a fraction of the last epoch counted (a gain under
        # ONE_MODEL_THREADS_GAIN): two. In whole epochs, 2 against 3 had kept one.
        (60.0, 1.22, 2, 2, 2, "2.7 epochs each, against 3.3 for one"),
        # The same where the machine allows one model: the line says what two would have trained.
        (60.0, 1.22, 2, 1, 1, "one model: 2 side by side would train 2.7 epochs each, against 3.3"),
        # Less than an epoch each (0.5 against 0.75 alone): one model, not two counted as one epoch each.
        (11.0, 1.5, 1, 2, 1, ""),
        # 0.7 each against 0.7 alone (a gain of 1.06): still one, as each would train under an epoch.
        (15.0, 1.06, 2, 2, 1, "one model: 2 side by side would train 0.7 epochs each, against 0.7"),
        # A second thread speeds one model up: 4 each against 6 alone, one model, nothing said.
        (100.0, 1.5, 1, 2, 1, ""),
        # Deployment limits or a GPU: one model, whatever the time.
        (250.0, 1.5, 1, 1, 1, ""),
    ],
)
def test_the_answer_trains_models_side_by_side_where_the_time_holds_them(
    room: float, gain: float | None, members: int, allowed: int, expected: int, says: str
) -> None:
    import time

    from sweep.commands.retrain import members_in_time
    from sweep.search.budget import TimeLimit
    from tests.fixtures import timed_trial

    limit = TimeLimit(time.time() + 1_000.0, 1_000, 1_100, shared_cores=True)
    # Epochs of 20 s on one core and 1,000 images: 22 s on train + validation.
    chosen = timed_trial(1, 0.95, epochs=5, epochs_run=5, fit=100.0, schedule="cosine")
    count, line = members_in_time(limit, chosen, time.time() + room, gain, members, allowed)
    assert count == expected and says in line
