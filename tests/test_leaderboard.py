"""Tests for sweep.choice.leaderboard: ranking synthetic Optuna trials, CSV files and the summary table."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from sweep.choice.leaderboard import SUMMARY_COLUMNS, trials_frame, update_summary, write_csv

PARAMS = ["filters_1", "dropout"]
REQUIRED = [
    "rank",
    "trial",
    "state",
    "val_accuracy",
    "val_low",
    "val_high",
    "val_loss",
    "best_epoch",
    "epochs_run",
    "train_images",
    "origin",
    *PARAMS,
    "param_count",
    "fit_seconds",
    "started",
    "finished",
    "stopped_by",
    "error",
]


def trial(
    number: int,
    state: TrialState,
    value: float | None = None,
    *,
    val_loss: float | None = None,
    curve: list[float] | None = None,
    error: str | None = None,
    baseline: bool = False,
    stopped: str | None = None,
) -> FrozenTrial:
    """A finished trial as the sweep records it (the full params dict in user_attrs)."""
    attrs: dict[str, Any] = {
        "params": {"filters_1": 16 * (number + 1), "dropout": 0.1 * number, "epochs": 5},
        "is_baseline": baseline,
        "val_images": 1000,
    }
    if state != TrialState.FAIL:
        attrs.update(
            val_loss=val_loss,
            best_epoch=2,
            epochs_run=len(curve or [0, 0, 0]),
            param_count=1000 + number,
            fit_seconds=1.5 * number,
        )
    if error is not None:
        attrs["error"] = error
    if stopped is not None:
        attrs["stopped"] = stopped
    frozen = create_trial(
        state=state,
        value=value,
        user_attrs=attrs,
        intermediate_values=dict(enumerate(curve)) if curve else None,
    )
    frozen.number = number
    return frozen


TRIALS = [
    trial(0, TrialState.COMPLETE, 0.95, val_loss=0.20, curve=[0.9, 0.95], baseline=True),
    trial(1, TrialState.FAIL, error="ResourceExhaustedError: out of memory"),
    trial(2, TrialState.PRUNED, val_loss=0.9, curve=[0.50, 0.60, 0.55]),
    trial(3, TrialState.COMPLETE, 0.97, val_loss=0.15),
    trial(4, TrialState.COMPLETE, 0.95, val_loss=0.10),  # ties trial 0, lower loss
    trial(5, TrialState.PRUNED, val_loss=0.8, curve=[0.70], stopped="timeout"),
    # Ties trial 4 exactly: lower number first. Stopped at the timeout (a constant learning rate).
    trial(6, TrialState.COMPLETE, 0.95, val_loss=0.10, stopped="timeout"),
]


@pytest.fixture
def frame() -> pd.DataFrame:
    return trials_frame(TRIALS, PARAMS)


def test_ranking_order(frame: pd.DataFrame) -> None:
    # Completed by accuracy (ties: lower val_loss, then trial number), pruned by their best
    # intermediate value, failed last.
    assert frame["trial"].tolist() == [3, 4, 6, 0, 5, 2, 1]
    assert frame["state"].tolist() == ["complete"] * 4 + ["pruned"] * 2 + ["fail"]
    assert frame["rank"].tolist() == list(range(1, len(TRIALS) + 1))


def test_pruned_trials_score_their_best_epoch(frame: pd.DataFrame) -> None:
    scores = dict(zip(frame["trial"], frame["val_accuracy"]))
    assert scores[2] == pytest.approx(0.60)
    assert scores[5] == pytest.approx(0.70)
    assert math.isnan(scores[1])  # failed, nothing reported


def test_columns_and_values(frame: pd.DataFrame) -> None:
    assert set(REQUIRED) <= set(frame.columns)
    leading = 10 + len(PARAMS)  # rank … origin, then the parameters
    assert frame.columns[:leading].tolist() == REQUIRED[:leading]
    best = frame.iloc[0]
    assert best["filters_1"] == 64 and best["dropout"] == pytest.approx(0.3)
    assert best["param_count"] == 1003 and best["fit_seconds"] == pytest.approx(4.5)
    assert best["val_loss"] == pytest.approx(0.15) and best["best_epoch"] == 2
    assert best["started"] and best["finished"]  # ISO timestamps
    assert frame.set_index("trial")["origin"].to_dict() == {
        0: "baseline",
        1: "sampler",
        2: "sampler",
        3: "sampler",
        4: "sampler",
        5: "sampler",
        6: "sampler",
    }
    # 0.97 of 1,000 validation images: Wilson's 95 % interval.
    assert (best["val_low"], best["val_high"]) == pytest.approx((0.9575, 0.9789), abs=1e-4)
    assert frame.set_index("trial").loc[1, "error"].startswith("ResourceExhaustedError")


def test_stopped_by_says_whether_the_pruner_or_the_timeout_cut_a_trial_short(frame: pd.DataFrame) -> None:
    stopped = frame.fillna("").set_index("trial")["stopped_by"].to_dict()
    assert stopped == {0: "", 1: "", 2: "pruner", 3: "", 4: "", 5: "timeout", 6: "timeout"}


@pytest.mark.parametrize(
    ("stopped", "column", "log"),
    [
        ("timeout", "timeout", "(stopped by the timeout)"),
        ("time_limit", "time_limit", "(stopped by the time limit)"),
        # A starting point whose retrain would not fit the answer's share: the planner's, not the pruner's.
        ("answer_share", "answer_share", "(stopped by the answer's share of the time limit)"),
        (None, "pruner", None),
    ],
)
def test_the_leaderboard_and_the_log_name_the_deadline_that_cut_a_trial(
    stopped: str | None, column: str, log: str | None
) -> None:
    import optuna

    from sweep.search.console import trial_line

    cut = trial(0, TrialState.PRUNED, val_loss=0.8, curve=[0.70], stopped=stopped)
    assert trials_frame([cut], PARAMS).loc[0, "stopped_by"] == column
    line = trial_line(optuna.create_study(direction="maximize"), cut)
    assert line.startswith("trial 0 pruned val_accuracy 0.7000 after 1 epochs")
    assert (log in line) if log else "stopped by" not in line


def test_a_model_over_a_limit_before_training_is_stopped_by_the_limits() -> None:
    import optuna

    from sweep.search.console import trial_line

    over = trial(0, TrialState.PRUNED)
    over.user_attrs["infeasible"] = "parameters 2.25e+05 > 2e+04"
    assert trials_frame([over], PARAMS).loc[0, "stopped_by"] == "limits"
    line = trial_line(optuna.create_study(direction="maximize"), over)
    assert line.endswith("(infeasible: parameters 2.25e+05 > 2e+04)"), line


def test_filters_of_blocks_a_trial_does_not_build_are_blank_and_integers_stay_integers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sweep.commands.tools import leaderboard
    from sweep.settings import DataConfig, SweepConfig

    def sampled(number: int, blocks: int) -> FrozenTrial:  # every block's filters, as sampled
        frozen = create_trial(
            value=0.9 + number / 100,
            user_attrs={"params": {"conv_blocks": blocks, "filters_2": 64, "filters_3": 128, "dropout": 0.2}},
        )
        frozen.number = number
        return frozen

    names = ["conv_blocks", "filters_2", "filters_3", "dropout"]
    frame = trials_frame([sampled(0, 3), sampled(1, 2)], names)
    path = write_csv(frame, tmp_path / "mnist" / "leaderboard.csv")
    lines = path.read_text().splitlines()
    # filters_3: builds nothing; 128, not 128.0
    assert lines[1].startswith("1,1,complete,0.91,,,,,,,sampler,2,64,,0.2,")
    assert lines[2].startswith("2,0,complete,0.9,,,,,,,sampler,3,64,128,0.2,")
    assert leaderboard(DataConfig("mnist", results=str(tmp_path)), SweepConfig(), top=5) == 0
    shown = capsys.readouterr().out
    assert "NaN" not in shown and "<NA>" not in shown and "128.0" not in shown


def test_params_fall_back_to_the_trial_params() -> None:
    plain = create_trial(
        value=0.5, params={"filters_1": 32}, distributions={"filters_1": IntDistribution(16, 64, step=16)}
    )
    row = trials_frame([plain], PARAMS).iloc[0]
    assert row["filters_1"] == 32 and pd.isna(row["dropout"])
    assert row["origin"] == "sampler" and pd.isna(row["val_low"])  # no image count: no interval


def test_empty_study_gives_an_empty_frame_with_the_columns() -> None:
    empty = trials_frame([], PARAMS)
    assert empty.empty
    assert set(REQUIRED) <= set(empty.columns)
    assert empty.columns[0] == "rank"


def test_write_csv_round_trip(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "dataset" / "leaderboard.csv"  # the folder is created
    assert write_csv(frame, path) == path
    back = pd.read_csv(path)
    assert back.columns.tolist() == frame.columns.tolist()
    assert back["trial"].tolist() == frame["trial"].tolist()
    pd.testing.assert_series_equal(back["val_accuracy"], frame["val_accuracy"].astype(float))
    assert [p.name for p in path.parent.iterdir()] == ["leaderboard.csv"]  # no temp file left


def test_update_summary_inserts_then_replaces(tmp_path: Path) -> None:
    path = tmp_path / "summary.csv"
    update_summary(path, {"dataset": "mnist", "best_val_accuracy": 0.98, "finished_trials": 10})
    update_summary(path, {"dataset": "cifar10", "best_val_accuracy": 0.70, "finished_trials": 5})
    table = update_summary(path, {"dataset": "mnist", "best_val_accuracy": 0.99, "finished_trials": 20})
    on_disk = pd.read_csv(path)
    for result in (table, on_disk):
        assert result.columns.tolist() == SUMMARY_COLUMNS
        assert result["dataset"].tolist() == ["cifar10", "mnist"]  # one row each, sorted
        by_name = result.set_index("dataset")
        assert by_name.loc["mnist", "best_val_accuracy"] == pytest.approx(0.99)
        assert by_name.loc["mnist", "finished_trials"] == 20
        assert by_name.loc["cifar10", "best_val_accuracy"] == pytest.approx(0.70)
