"""The best trials' models kept (sweep.search.kept): which are kept, which one the retrain starts from."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from sweep.search.kept import FOLDER, KEPT, keep, kept_in, trial_model_path, warm_start


def _study(values: list[float | None], name: str = "mnist") -> optuna.Study:
    """A study of finished trials with these values (None: pruned)."""
    study = optuna.create_study(direction="maximize", study_name=name)
    for value in values:
        state = TrialState.COMPLETE if value is not None else TrialState.PRUNED
        study.add_trial(create_trial(state=state, value=value))
    return study


def _save(path: Path) -> None:
    path.write_bytes(b"model")


def kept(folder: Path, study: str = "mnist") -> list[int]:
    return sorted(int(path.stem.split("trial_")[1]) for path in (folder / FOLDER).glob(f"{study}-trial_*.keras"))


def test_only_the_best_trials_models_are_kept_and_the_folder_never_grows(tmp_path: Path) -> None:
    study = _study([])
    for number, score in enumerate([0.90, 0.95, 0.92, 0.80, 0.97, 0.93]):
        trial = study.ask()
        saved = keep(study, trial.number, score, tmp_path, _save)
        assert (saved is not None) == (number != 3)  # 0.80 is not among the best three so far
        study.tell(trial, score)
        assert len(kept(tmp_path)) <= KEPT
    assert kept(tmp_path) == [1, 4, 5]  # 0.95, 0.97, 0.93
    assert trial_model_path(tmp_path, "mnist", 4).read_bytes() == b"model"


def test_a_running_trials_model_and_other_studies_models_are_left_alone(tmp_path: Path) -> None:
    study = _study([0.9, 0.8, 0.7])
    running = study.ask()  # trained, saved, not yet told
    (tmp_path / FOLDER).mkdir()
    _save(trial_model_path(tmp_path, "mnist", running.number))
    _save(trial_model_path(tmp_path, "other", 2))  # another study's trial 2, in the same folder
    keep(study, 99, 0.99, tmp_path, _save)  # another worker's trial, better than all
    assert running.number in kept(tmp_path) and kept(tmp_path, "other") == [2]


def test_the_starting_points_models_are_kept_whatever_their_rank(tmp_path: Path) -> None:
    study = _study([0.99, 0.98, 0.97])
    study.add_trial(create_trial(value=0.5, user_attrs={"portfolio": "small"}))  # kept when it ran
    (tmp_path / FOLDER).mkdir()
    _save(trial_model_path(tmp_path, "mnist", 3))
    assert keep(study, 4, 0.6, tmp_path, _save, start=True) is not None  # the second starting point
    assert keep(study, 5, 0.7, tmp_path, _save) is None  # a sampled trial below the best three
    assert kept(tmp_path) == [3, 4]


def test_the_baseline_takes_no_place_among_the_kept(tmp_path: Path) -> None:
    study = _study([0.9, 0.8])
    study.add_trial(create_trial(value=0.99, user_attrs={"is_baseline": True}))  # never saved
    assert keep(study, 10, 0.7, tmp_path, _save) is not None  # third of the three that may be


def test_a_pareto_study_keeps_nothing(tmp_path: Path) -> None:
    study = optuna.create_study(directions=["maximize", "minimize"])
    assert keep(study, 0, 0.9, tmp_path, _save) is None and not (tmp_path / FOLDER).exists()


def test_models_are_kept_only_where_the_trials_explore_on_a_share(tmp_path: Path) -> None:
    assert kept_in(tmp_path, 6_750, 54_000) == tmp_path
    assert kept_in(tmp_path, 54_000, 54_000) is None  # every image: the retrain gets many epochs


@pytest.mark.parametrize(
    ("attrs", "state", "saved", "started"),
    [
        ({"train_images": 250}, TrialState.COMPLETE, True, True),
        ({"train_images": 250, "stopped": "time_limit"}, TrialState.COMPLETE, True, True),  # its epochs still count
        ({"train_images": 250}, TrialState.COMPLETE, False, False),  # deleted: it fell out of the best
        ({"train_images": 1000}, TrialState.COMPLETE, True, False),  # every image: not measured to help
        ({}, TrialState.COMPLETE, True, False),  # no record of its images: every image
        ({"train_images": 250, "is_baseline": True}, TrialState.COMPLETE, True, False),  # retrains as written
        ({"train_images": 250}, TrialState.PRUNED, True, False),
    ],
)
def test_the_retrain_starts_from_a_kept_model_of_a_trial_on_a_share_of_the_images(
    tmp_path: Path, attrs: dict[str, object], state: TrialState, saved: bool, started: bool
) -> None:
    path = trial_model_path(tmp_path, "mnist", 3)
    trial = create_trial(
        state=state, value=0.9 if state == TrialState.COMPLETE else None, user_attrs={**attrs, "kept_model": str(path)}
    )
    if saved:
        path.parent.mkdir(parents=True)
        _save(path)
    assert (warm_start(trial, 1000) == path) == started
    assert warm_start(create_trial(value=0.9, user_attrs={"train_images": 250}), 1000) is None  # nothing kept
