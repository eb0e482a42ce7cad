"""Tests for sweep.choice.pareto: the front of accuracy against a deployment cost, in the leaderboard,
the summary and the report, and a Pareto sweep from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from optuna.trial import FrozenTrial, TrialState, create_trial

from sweep.choice.leaderboard import trials_frame
from sweep.choice.pareto import front, summary_line
from sweep.interface.cli import main
from sweep.models.params import Architecture
from sweep.space.portfolio import starting_points
from sweep.space.spaces import load_space
from tests.fixtures import FAST_SPACE, SHIPPED


def measured(number: int, value: float | None, latency: float, **attrs: Any) -> FrozenTrial:
    state = TrialState.COMPLETE if value is not None else TrialState.PRUNED
    made = create_trial(
        state=state, value=value, user_attrs={"params": {}, "latency_ms": latency, "tflite_kb": 10 * latency, **attrs}
    )
    made.number = number
    return made


TRIALS = [
    measured(0, 0.95, 1.0, is_baseline=True),
    measured(1, 0.97, 0.5),  # cheaper and better than the baseline: it dominates it
    measured(2, 0.99, 2.0),
    measured(3, 0.98, 3.0),  # dominated by trial 2
    measured(4, 0.90, 0.1),
    measured(5, 0.999, 0.05, infeasible="latency ms 0.05 > 0.01"),  # never on the front
    measured(6, None, 0.01),  # pruned
    measured(7, 0.97, 0.5),  # ties trial 1 exactly: both stay
]


@pytest.mark.parametrize(
    ("objective", "numbers"),
    [("latency", [4, 1, 7, 2]), ("size", [4, 1, 7, 2]), ("accuracy", [])],
)
def test_the_front_holds_the_trials_no_other_beats_on_both(objective: str, numbers: list[int]) -> None:
    assert [t.number for t in front(TRIALS, objective)] == numbers


def test_the_leaderboard_and_the_summary_mark_the_front() -> None:
    board = trials_frame(TRIALS, [], "latency")
    marked = set(board.loc[board["pareto"] == "yes", "trial"])
    assert marked == {1, 2, 4, 7}
    assert "pareto" not in trials_frame(TRIALS, []).columns  # accuracy alone: no column
    line = summary_line(TRIALS, "latency")
    assert line is not None and line.startswith("Pareto front (accuracy against latency), cheapest first: trials 4 (")
    assert summary_line(TRIALS, "accuracy") is None


def test_a_pareto_search_also_starts_from_cheaper_points() -> None:
    space = load_space(SHIPPED["mnist"])
    plain = starting_points(space, (28, 28, 1), 10, 54_000, False)
    ladder = starting_points(space, (28, 28, 1), 10, 54_000, False, ladder=True)
    assert [name for name, _ in plain] == ["small", "double"]  # the unconstrained portfolio
    assert [name for name, _ in ladder] == ["tiny", "small-shallow-half", "small-half", "small-shallow", "small", "vgg"]
    # Cheapest first: each costs more multiply-adds than the one before.
    baseline = space.baseline_for("mnist", (28, 28, 1))
    flops = [Architecture.from_params({**baseline, **p}).training_flops((28, 28, 1), 10) for _, p in ladder]
    assert flops == sorted(flops)


@pytest.mark.slow
def test_a_pareto_sweep_marks_its_front_plots_it_and_retrains_the_trial_picked(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("portfolio: true\n" + FAST_SPACE)
    results = tmp_path / "results"
    args = ["sweep", "--dataset", "digits", "--space", str(space), "--trials", "6", "--workers", "1"]
    assert main([*args, "--objective", "latency", "--no-retrain", "--results", str(results)]) == 0
    board = pd.read_csv(results / "digits" / "leaderboard.csv")
    assert set(board["origin"]) >= {"baseline", "portfolio: tiny", "portfolio: small-shallow-half"}  # cheapest first
    optimal = board[board["pareto"] == "yes"]
    assert len(optimal) >= 1 and (optimal["state"] == "complete").all()
    assert (results / "digits" / "plots" / "pareto_front.png").is_file()
    assert "Pareto front" in (results / "digits" / "report.html").read_text()
    cheapest = int(optimal.sort_values("latency_ms")["trial"].iloc[0])
    assert main(["retrain", "--dataset", "digits", "--results", str(results), "--trial", str(cheapest)]) == 0
    metrics = json.loads((results / "digits" / "best" / "metrics.json").read_text())
    assert metrics["trial"] == cheapest and metrics["chosen_because"] == f"trial {cheapest}, picked with --trial"
    assert main(["retrain", "--dataset", "digits", "--results", str(results), "--trial", "99"]) == 2
