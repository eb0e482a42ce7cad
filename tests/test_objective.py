"""Tests for sweep.search.objective: what a trial records when a deadline or the pruner cuts it short."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from sweep.models.params import MNIST_BASELINE
from tests.fixtures import PruneAll

# A CNN that trains on digits in a second.
SMALL = {
    **MNIST_BASELINE,
    "filters_1": 4,
    "filters_2": 4,
    "dense_units": 8,
    "padding": "same",
    "pool_last": False,
    "batch_size": 64,
    "epochs": 3,
}


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
    from sweep.data.registry import load_dataset
    from sweep.progress import Display
    from sweep.search.objective import Objective
    from sweep.search.worker import run_trials
    from sweep.space.spaces import parse_space

    space = parse_space(
        {
            "params": {
                "epochs": {"type": "int", "low": 2, "high": 4},
                "lr_schedule": {"type": "categorical", "choices": ["constant", "cosine"]},
            }
        },
        "test",
    )
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"epochs": 3, "lr_schedule": "constant"}, user_attrs={"is_baseline": True})
    study.enqueue_trial({"epochs": 3, "lr_schedule": "constant"})
    study.enqueue_trial({"epochs": 3, "lr_schedule": "cosine"})
    study.enqueue_trial({"epochs": 3, "lr_schedule": "cosine"}, user_attrs={"is_first_trial": True})
    objective = Objective(load_dataset("digits"), space, SMALL, seed=0, display=Display(), deadline=deadline(study))
    run_trials(study, objective, trials=4)
    # Two that did not fit ask for a cheaper one (sweep.search.worker.cheaper_job), left waiting here.
    baseline, constant, cosine, first = study.get_trials(states=[s for s in TrialState if s != TrialState.WAITING])
    for full in (baseline, first):  # never cut
        assert full.state == optuna.trial.TrialState.COMPLETE
        assert full.user_attrs["epochs_run"] == 3 and "stopped" not in full.user_attrs
    return [constant, cosine]


@pytest.mark.slow
def test_trials_running_at_the_deadline_stop_within_their_epoch_but_keep_the_ones_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    from sweep.models import train

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

    from sweep.search.budget import SearchDeadline, TimeLimit

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
def test_the_baseline_and_first_trials_are_never_pruned_and_set_no_bar() -> None:
    from sweep.data.registry import load_dataset
    from sweep.progress import Display
    from sweep.search.objective import Objective
    from sweep.search.worker import run_trials
    from sweep.space.spaces import parse_space

    space = parse_space({"params": {"epochs": {"type": "int", "low": 2, "high": 3}}}, "test")
    small = {**SMALL, "epochs": 2}
    pruner = PruneAll()
    study = optuna.create_study(direction="maximize", pruner=pruner)
    study.enqueue_trial({"epochs": 2}, user_attrs={"is_baseline": True})
    study.enqueue_trial({"epochs": 3}, user_attrs={"is_first_trial": True})
    study.enqueue_trial({"epochs": 3})
    run_trials(study, Objective(load_dataset("digits"), space, small, seed=0, display=Display()), trials=3)
    baseline, first, sampled = study.trials
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert len(first.intermediate_values) == 3 and len(sampled.intermediate_values) == 1
    # Hyperband records rungs only for trials that ask: the baseline's and first trials' curves
    # (reported, for the leaderboard) are no bar that sampled trials are stopped against.
    assert pruner.asked == {2}


def test_a_long_trial_reports_each_percent_of_its_training_once() -> None:
    import warnings

    from sweep.search.objective import report

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Optuna warns when a step is reported twice
        for epoch in range(1, 251):
            report(trial, epoch, 250, {"val_accuracy": epoch / 250})
    steps = study.trials[0].intermediate_values
    assert sorted(steps) == list(range(101)) and steps[100] == 1.0 and steps[1] == 3 / 250


def test_a_cheaper_job_trains_on_the_share_of_the_images_that_fits_and_others_are_pruned() -> None:
    import time

    from optuna.trial import create_trial

    from sweep.choice.trials import SHARE_OF_IMAGES
    from sweep.progress import Display
    from sweep.search.objective import Objective

    study = optuna.create_study(direction="maximize")
    # The study's fastest rate: 1 GFLOP/s.
    study.add_trial(create_trial(value=0.9, user_attrs={"train_flops": 1e9, "epochs_run": 1, "epochs_seconds": 1.0}))
    ends = time.monotonic() + 100.0
    objective = Objective(None, None, {}, seed=0, display=Display(), deadline=ScriptedTimeout(lambda: ends))  # type: ignore[arg-type]
    # Epochs of 55 s on all 10,000 images: 3 of 5 would need 165 s, over 1.5 × the 100 s left.
    sampled = study.ask()
    with pytest.raises(optuna.TrialPruned, match="would need at least"):
        objective.check_it_fits(sampled, 55e9, 5, 10_000)
    assert sampled.user_attrs["stopped"] == "timeout"
    # The cheaper job runs all 5 epochs on the share 100 s hold with the margin: 100 / 412.5.
    cheaper = study.ask()
    cheaper.set_user_attr("cheaper", SHARE_OF_IMAGES)
    assert 2_400 < objective.check_it_fits(cheaper, 55e9, 5, 10_000) <= 2_424
    # Not even FEWEST_SHARE of the images fits: pruned too.
    with pytest.raises(optuna.TrialPruned):
        objective.check_it_fits(cheaper, 200e9, 5, 10_000)
    # What fits is trained on all the images, cheaper job or not.
    assert objective.check_it_fits(cheaper, 10e9, 5, 10_000) == 10_000


@pytest.mark.slow
def test_a_trial_on_a_share_of_the_images_trains_on_it_and_records_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from sweep.choice.trials import SHARE_OF_IMAGES, marks
    from sweep.data.registry import load_dataset
    from sweep.models import train
    from sweep.models.user_models import plan
    from sweep.progress import Display
    from sweep.search.objective import Objective
    from sweep.search.worker import run_trials
    from sweep.space.spaces import parse_space

    dataset = load_dataset("digits")
    quarter = len(dataset.x_train) // 4
    monkeypatch.setattr(Objective, "check_it_fits", lambda self, trial, flops, epochs, images: quarter)
    trained_on: list[int] = []
    fit = train.train

    def counted(model: object, arch: object, x: np.ndarray, *args: object, **kwargs: object) -> object:
        trained_on.append(len(x))
        return fit(model, arch, x, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(train, "train", counted)
    space = parse_space({"params": {"epochs": {"type": "int", "low": 1, "high": 2}}}, "test")
    pruner = PruneAll()
    study = optuna.create_study(direction="maximize", pruner=pruner)
    study.enqueue_trial({"epochs": 2}, user_attrs=marks(cheaper=SHARE_OF_IMAGES))
    run_trials(study, Objective(dataset, space, SMALL, seed=0, display=Display()), trials=1)

    trial = study.trials[0]
    assert trial.state == TrialState.COMPLETE and trained_on == [quarter]
    # Its first epoch reported at step 50, where a sampled trial asks: its curve, on a quarter
    # of the images, is no bar and meets none.
    assert len(trial.intermediate_values) == 2 and pruner.asked == set()
    assert trial.user_attrs["train_images"] == quarter
    per_image = plan({**SMALL, "epochs": 2}, None).training_flops(dataset.input_shape, dataset.num_classes)
    assert trial.user_attrs["train_flops"] == pytest.approx(per_image * quarter)  # an epoch's cost, for the rate


@pytest.mark.slow
def test_a_model_that_cannot_be_kept_costs_the_trial_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sweep.models.build import build_model
    from sweep.models.params import Architecture
    from sweep.progress import Display
    from sweep.search.objective import Objective
    from tests.fixtures import TINY

    blocked = tmp_path / "results"
    blocked.write_text("a file where the results folder should be")  # its trials/ cannot be made
    objective = Objective(None, None, {}, seed=0, display=Display(), keep_in=blocked)  # type: ignore[arg-type]
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    objective.keep(trial, build_model(Architecture.from_params(TINY), (28, 28, 1), 10, 64), 0.9)
    assert "kept_model" not in trial.user_attrs
    assert f"trial {trial.number}: its model was not kept" in capsys.readouterr().out
