"""The sampler of a Pareto search: multi-objective TPE over accuracy and cost, in a study that
stays single-objective so that its pruner still works.

Optuna's pruners cannot stop trials of a multi-objective study (its RFC #3450), and a
single-objective TPE only climbs accuracy, so it proposes the costly models that are most
accurate and leaves the cheap end of the front empty. :class:`ParetoSampler` keeps the study as
it is (trials report their accuracy curves, the pruner compares them) and samples from a shadow:
an in-memory two-objective study (accuracy up, the cost of ``OBJECTIVE`` down) that mirrors the
real study's finished trials. Optuna's multi-objective TPE (MOTPE) splits the shadow's trials
by non-dominated rank, so its "good" trials lie along the whole front, cheap and costly, and its
proposals follow them.

How a trial enters the shadow (:func:`mirror`): a completed one with its accuracy and its
measured cost; one the pruner stopped, or one over the deployment limits, as infeasible
(Optuna's constraints: TPE ranks those below every feasible trial, the ones stopped later in
their training first, then the ones too slow to start in the time left); one under way (another
worker's) as the most infeasible, as Optuna's constant liar would; one that failed or whose
cost could not be measured, not at all, since it says nothing of the space.

No TensorFlow here.
"""

from __future__ import annotations

from typing import Any

import optuna
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState, create_trial

from sweep.choice.pareto import FIGURES
from sweep.choice.trials import did_not_fit, record

# The constraint violations of a trial that was too slow to start in the time left, and of a
# running one: more than any pruned one (those are under 3).
TOO_SLOW = 3.0
RUNNING = 10.0


def mirror(trial: FrozenTrial, figure: str) -> FrozenTrial | None:
    """The shadow study's copy of a finished trial (values: accuracy, cost), or None where the
    trial tells nothing about the space (see the module's docstring)."""
    constraints = dict(trial.constraints)
    if trial.state == TrialState.RUNNING:
        # Optuna's constant liar: a trial under way counts as the worst, so that a worker does
        # not propose what another is already training.
        return create_trial(
            state=TrialState.PRUNED,
            params=trial.params,
            distributions=trial.distributions,
            constraints={"running": RUNNING},
        )
    if trial.state == TrialState.COMPLETE:
        cost = record(trial).get(figure)
        if cost is None or not trial.values:
            return None
        return create_trial(
            state=TrialState.COMPLETE,
            values=[trial.values[0], float(cost)],
            params=trial.params,
            distributions=trial.distributions,
            constraints=constraints or None,
        )
    if trial.state != TrialState.PRUNED:
        return None
    # The more of its training it had done (steps are percent, sweep.search.objective.report) and the
    # more accurate it was then, the less infeasible; one too slow to start in the time left,
    # the most. TPE's "good" side takes the least infeasible only when too few are feasible.
    if trial.intermediate_values:
        percent, accuracy = max(trial.intermediate_values.items())
        constraints["pruned"] = 1.0 + (1.0 - percent / 100) + (1.0 - accuracy)
    elif did_not_fit(trial):
        constraints["pruned"] = TOO_SLOW
    elif not any(value > 0 for value in constraints.values()):
        return None
    return create_trial(
        state=TrialState.PRUNED,
        params=trial.params,
        distributions=trial.distributions,
        constraints=constraints,
    )


class ParetoSampler(BaseSampler):
    """Multi-objective TPE over (validation accuracy, ``objective``'s cost) for a
    single-objective study: ``tpe`` (sweep's, :func:`sweep.search.study.tpe`, without the constant
    liar) samples from the two-objective copy."""

    def __init__(self, objective: str, tpe: TPESampler) -> None:
        if objective not in FIGURES:
            raise ValueError(f"objective {objective!r} has no cost; use one of {', '.join(FIGURES)}")
        self._figure = FIGURES[objective]
        self._tpe = tpe
        self._shadow = self._mirror_of(None)

    def _mirror_of(self, study: Study | None, sampling: int = -1) -> Study:
        """A new shadow study holding the trials of ``study`` but trial number ``sampling``
        (built anew for each trial: a study caches its trials, and a few dozen copies cost
        nothing)."""
        shadow = optuna.create_study(directions=["maximize", "minimize"], sampler=self._tpe)
        trials = [t for t in study.get_trials(deepcopy=False) if t.number != sampling and t.params] if study else []
        shadow.add_trials(copy for copy in (mirror(trial, self._figure) for trial in trials) if copy is not None)
        return shadow

    @property
    def shadow(self) -> Study:
        """The two-objective study the last proposal came from."""
        return self._shadow

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        self._shadow = self._mirror_of(study, trial.number)
        return self._tpe.infer_relative_search_space(self._shadow, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        return self._tpe.sample_relative(self._shadow, trial, search_space)

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        return self._tpe.sample_independent(self._shadow, trial, param_name, param_distribution)

    def reseed_rng(self) -> None:
        self._tpe.reseed_rng()
