"""Queries over a study's trials: which one is best, what a trial is retrained with, which ones
are finalists. Pure functions of Optuna's FrozenTrial records; no TensorFlow."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optuna.trial import FrozenTrial, TrialState

# The best trials besides the baseline that are scored again where validation cannot tell them
# apart (sweep.rescore).
FINALISTS = 2


def final_params(trial: FrozenTrial) -> dict[str, Any]:
    """The parameters a trial is retrained with: its own, for the epochs it ran (fewer than it
    asked for when a deadline cut it with a constant learning rate, see
    :class:`sweep.objective.Objective`)."""
    params = dict(trial.user_attrs.get("params", trial.params))
    if trial.user_attrs.get("stopped") and trial.user_attrs.get("epochs_run"):
        params["epochs"] = int(trial.user_attrs["epochs_run"])
    return params


def best_of(trials: Sequence[FrozenTrial]) -> FrozenTrial | None:
    """The completed trial with the highest validation accuracy (lower number on ties)."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    return max(done, key=lambda t: (t.values[0], -t.number)) if done else None


def finalists(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The FINALISTS best completed trials other than the baseline (by score; the first of
    trials with the same parameters), then the baseline, where it completed."""
    done = sorted((t for t in trials if t.state == TrialState.COMPLETE and t.values),
                  key=lambda t: (-t.values[0], t.number))
    chosen: list[FrozenTrial] = []
    for trial in done:
        if trial.user_attrs.get("is_baseline") or len(chosen) == FINALISTS:
            continue
        if all(final_params(trial) != final_params(other) for other in chosen):
            chosen.append(trial)
    base = next((t for t in done if t.user_attrs.get("is_baseline")), None)
    return chosen + ([base] if base is not None else [])


def failure(trial: FrozenTrial) -> str:
    """Why a failed trial failed ('' for one that did not): the error it recorded, or, with
    none, that its worker died during it (Optuna failed it when its heartbeat stopped)."""
    if trial.state != TrialState.FAIL:
        return ""
    return str(trial.user_attrs.get("error") or "its worker stopped during the trial (killed, or "
               "out of memory); its parameters were run again")
