"""Tests for sweep.search.pareto_sampler: multi-objective TPE over accuracy and cost inside a
single-objective study, on a toy problem whose front is known. Nothing trains."""

from __future__ import annotations

import math
from typing import Any

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import FrozenTrial, TrialState, create_trial

from sweep.choice.pareto import front
from sweep.search.pareto_sampler import RUNNING, ParetoSampler, mirror
from sweep.search.study import make_sampler, tpe
from sweep.space.spaces import load_space
from tests.fixtures import SHIPPED

MNIST = load_space(SHIPPED["mnist"])
X = {"x": FloatDistribution(0.01, 1.0, log=True)}


def made(
    state: TrialState, value: float | None = None, steps: dict[int, float] | None = None, **attrs: Any
) -> FrozenTrial:
    constraints = attrs.pop("constraints", None)
    return create_trial(
        state=state,
        value=value,
        params={"x": 0.5},
        distributions=X,
        user_attrs=attrs,
        intermediate_values=steps,
        constraints=constraints,
    )


@pytest.mark.parametrize(
    ("trial", "values", "state", "infeasible"),
    [
        (made(TrialState.COMPLETE, 0.9, latency_ms=0.2), [0.9, 0.2], TrialState.COMPLETE, False),
        # Over a limit once measured: in, as infeasible (TPE learns from it).
        (made(TrialState.COMPLETE, 0.9, latency_ms=0.2, constraints={"max_latency_ms": 0.5}), [0.9, 0.2], None, True),
        (made(TrialState.COMPLETE, 0.9), None, None, None),  # no cost measured: left out
        (made(TrialState.PRUNED, steps={10: 0.5, 20: 0.6}), None, TrialState.PRUNED, True),  # the pruner's
        (made(TrialState.PRUNED, constraints={"max_params": 1.5}), None, TrialState.PRUNED, True),  # too large
        (made(TrialState.PRUNED, stopped="time_limit"), None, TrialState.PRUNED, True),  # too slow to start
        (made(TrialState.PRUNED), None, None, None),  # pruned before anything was known: left out
        (made(TrialState.FAIL), None, None, None),
    ],
)
def test_how_a_trial_enters_the_shadow_study(
    trial: FrozenTrial, values: list[float] | None, state: TrialState | None, infeasible: bool | None
) -> None:
    copy = mirror(trial, "latency_ms")
    if infeasible is None:
        assert copy is None
        return
    assert copy is not None and copy.params == trial.params
    assert (sum(v for v in copy.constraints.values() if v > 0) > 0) is infeasible
    if values is not None:
        assert copy.values == values
    if state is not None:
        assert copy.state == state


def test_a_pruned_trial_ranks_by_how_far_it_got_and_a_running_one_last() -> None:
    def violation(trial: FrozenTrial) -> float:
        copy = mirror(trial, "latency_ms")
        assert copy is not None
        return sum(copy.constraints.values())

    early = violation(made(TrialState.PRUNED, steps={10: 0.9}))  # steps: percent of training done
    late = violation(made(TrialState.PRUNED, steps={10: 0.5, 40: 0.8}))
    too_slow = violation(made(TrialState.PRUNED, stopped="time_limit"))
    running = made(TrialState.COMPLETE, 0.9, latency_ms=0.2)
    running.state, running.values = TrialState.RUNNING, None
    assert 0 < late < early < too_slow < violation(running) == RUNNING


def toy(sampler: optuna.samplers.BaseSampler, trials: int = 40) -> optuna.Study:
    """A study of accuracy rising with a cost ``x`` (log-uniform over 100×), at its best where
    a second parameter ``y`` is 0.5: every x has a Pareto-optimal model."""
    study = optuna.create_study(direction="maximize", sampler=sampler, pruner=optuna.pruners.NopPruner())

    def objective(trial: optuna.Trial) -> float:
        x, y = trial.suggest_float("x", 0.01, 1.0, log=True), trial.suggest_float("y", 0.0, 1.0)
        trial.set_user_attr("latency_ms", x)
        return 0.5 + 0.5 * x**0.3 * (1 - abs(y - 0.5))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=trials)
    return study


def hypervolume(study: optuna.Study) -> float:
    """Area the front dominates over accuracy 0.5 and log10 of the cost up to 1."""
    points = [(t.user_attrs["latency_ms"], t.values[0]) for t in front(study.trials, "latency")]
    edges = [cost for cost, _ in points[1:]] + [1.0]
    return sum((math.log10(edge) - math.log10(cost)) * (value - 0.5) for (cost, value), edge in zip(points, edges))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_front_it_finds_dominates_more_than_single_objective_tpe(seed: int) -> None:
    single, pareto = toy(tpe(seed)), toy(make_sampler("tpe", MNIST, seed, "latency"))
    assert hypervolume(pareto) > hypervolume(single)
    # Single-objective TPE climbs to the costly end; the Pareto sampler keeps proposing cheaper models.
    cheap = [sum(t.params["x"] < 0.1 for t in study.trials[20:]) for study in (single, pareto)]
    assert cheap[1] > cheap[0]


def test_the_pruner_still_stops_trials_of_a_pareto_search() -> None:
    study = optuna.create_study(
        direction="maximize",
        sampler=make_sampler("tpe", MNIST, 0, "size"),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
    )

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in range(1, 4):
            trial.report(x * step, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        trial.set_user_attr("tflite_kb", 10 * x)
        return x

    study.optimize(objective, n_trials=20)
    states = [t.state for t in study.trials]
    assert TrialState.PRUNED in states and states.count(TrialState.COMPLETE) >= 5


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_tpe_becomes_the_pareto_sampler_for_a_cost_objective_only() -> None:
    assert isinstance(make_sampler("tpe", MNIST, 0, "latency"), ParetoSampler)
    assert not isinstance(make_sampler("tpe", MNIST, 0, "accuracy"), ParetoSampler)
    assert isinstance(make_sampler("random", MNIST, 0, "size"), optuna.samplers.RandomSampler)
    with pytest.raises(ValueError, match="accuracy"):
        ParetoSampler("accuracy", tpe(0))
