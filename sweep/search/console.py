"""What a person sees of a search: the leaderboard file rewritten after every trial, one line per
trial, the progress bar's status, and the summary when the search ends. No TensorFlow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.choice.leaderboard import trials_frame, write_csv
from sweep.choice.pareto import summary_line
from sweep.choice.stats import with_interval
from sweep.choice.trials import (
    STOPPED,
    failure,
    is_baseline,
    origin,
    over_limits,
    params_of,
    record,
    score_interval,
    stopped_by,
    trial_score,
)
from sweep.models.params import SPECS, unused_params
from sweep.progress import Display, Task
from sweep.search.budget import SearchDeadline, duration
from sweep.search.study import FINISHED, baseline_trial, best_trial, finished_count, recorded_objective
from sweep.settings import DataConfig
from sweep.space.spaces import SearchSpace


def write_leaderboard(study: optuna.Study, space: SearchSpace, folder: Path) -> Path:
    """Rewrite results/<dataset>/leaderboard.csv from the storage (atomically)."""
    objective = recorded_objective(study)
    frame = trials_frame(study.get_trials(deepcopy=False), list(space.distributions), objective)
    return write_csv(frame, folder / "leaderboard.csv")


def trial_logger(
    space: SearchSpace, folder: Path, display: Display, prefix: str = ""
) -> Callable[[optuna.Study, FrozenTrial], None]:
    """What runs after each trial: rewrite the leaderboard, log the trial's line."""

    def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        write_leaderboard(study, space, folder)
        display.log(prefix + trial_line(study, trial))

    return after_trial


def advance(task: Task, study: optuna.Study, deadline: SearchDeadline | None) -> None:
    """Move the trials' progress bar to the study's finished count, with the best so far and,
    where no trial count bounds the search, when it ends."""
    best = best_trial(study)
    info = f"best {best.values[0]:.4f} (trial {best.number})" if best else ""
    ends = deadline() if deadline is not None else None
    if ends is not None and task.total is None:  # no bar to show what is left: say it
        info += f"{'; ' if info else ''}search ends in {duration(max(ends - time.monotonic(), 0))}"
    task.advance(info, steps=finished_count(study) - task.done)


def trial_line(study: optuna.Study, trial: FrozenTrial) -> str:
    """One log line per finished trial."""
    attrs = record(trial)
    score = trial_score(trial)
    parts = [f"trial {trial.number} {trial.state.name.lower()}"]
    if score is not None:
        parts.append(f"val_accuracy {score:.4f}")
    if "epochs_run" in attrs:
        parts.append(f"after {attrs['epochs_run']} epochs")
    if "fit_seconds" in attrs:
        parts.append(f"in {attrs['fit_seconds']:.0f}s")
    if origin(trial) != "sampler":
        parts.append(f"({origin(trial)})")
    if attrs.get("stopped") in STOPPED:
        parts.append(f"(stopped by the {STOPPED[attrs['stopped']]})")
    if attrs.get("infeasible"):
        parts.append(f"(infeasible: {attrs['infeasible']})")
    if trial.state == TrialState.FAIL:
        parts.append(f"error: {failure(trial)}")
    return " ".join(parts)


def summary(study: optuna.Study, data: DataConfig, seconds: float | None) -> str:
    """What a person wants to know when the search ends (``seconds``: this run's search; None
    when it searched nothing)."""
    trials = study.get_trials(deepcopy=False)
    states = [t.state for t in trials]
    counts = ", ".join(f"{states.count(s)} {s.name.lower()}" for s in (*FINISHED, TrialState.FAIL))
    oversized = sum(map(over_limits, trials))
    # Not trained, and not counted towards TRIALS.
    over = f"{oversized} of the pruned over the deployment limits, never trained; " if oversized else ""
    took = "none run now" if seconds is None else f"this run {seconds:.0f}s"
    lines = [f"\nSearch on {data.name}: {counts} trials ({over}study {study.study_name!r}; {took})."]
    best = best_trial(study)
    if best is None:
        lines.append("No trial completed yet.")
    else:
        base = baseline_trial(study)
        gain = ""
        if base is not None and base.state == TrialState.COMPLETE:
            gain = f"; baseline {_scored(base)}"
        lines.append(f"Best trial {best.number} ({origin(best)}): val_accuracy {_scored(best)}{gain}")
        params = params_of(best)  # as trained: all, epochs as run; in the family's order
        searched = [name for name in SPECS if name in best.params] + [n for n in best.params if n not in SPECS]
        shown = [name for name in searched if name not in unused_params(params)]
        lines.append(
            "  "
            + ", ".join(f"{k}={params[k]:.4g}" if isinstance(params[k], float) else f"{k}={params[k]}" for k in shown)
        )  # :.4g, not 0.30000000000000004
        cut = sum(stopped_by(t) in STOPPED for t in study.get_trials(deepcopy=False))
        if cut and is_baseline(best):
            lines.append(
                f"No trial beat the baseline, and {cut} trial(s) were stopped at the "
                "search's deadline: give the search more time on this machine (--timeout "
                "and --time-limit, make TIMEOUT= TIME_LIMIT=)."
            )
    pareto = summary_line(study.get_trials(deepcopy=False), recorded_objective(study))
    lines += [pareto] if pareto else []
    lines.append(f"Leaderboard: {data.folder / 'leaderboard.csv'}")
    return "\n".join(lines)


def _scored(trial: FrozenTrial) -> str:
    """A trial's validation accuracy with its 95 % interval: ``0.9123 (0.9049 to 0.9193)``."""
    low, high = score_interval(trial)
    if low is None or high is None:
        return f"{trial.values[0]:.4f}"
    return with_interval(trial.values[0], low, high, words=False)
