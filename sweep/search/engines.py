"""Engines: what proposes parameters and schedules trials (Optuna, or KerasTuner), behind one
small interface. What trains a trial is ours in both (the objective, the data pipeline, the
training loop), KerasTuner's split, so a comparison of engines compares their search alone.

The driver (:mod:`sweep.commands.sweep`) asks an engine what it can do instead of asking its
name, and hands it one :class:`Search` bundle. No TensorFlow here until an engine searches.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import optuna
from optuna.trial import FrozenTrial

from sweep.progress import Display
from sweep.search.budget import SearchDeadline, TimeLimit, duration
from sweep.search.console import advance, trial_logger
from sweep.search.study import finished_count
from sweep.search.worker import run_trials
from sweep.settings import DataConfig, SweepConfig

if TYPE_CHECKING:
    from sweep.data.registry import Dataset
    from sweep.space.spaces import SearchSpace


@dataclass(frozen=True)
class Search:
    """One sweep's search, everything an engine needs: the study, the data (all of the
    training split, and the share trials explore on), the space and its baseline, the settings,
    where to show progress, and when to stop (the deadline, the time limit, the timeout)."""

    study: optuna.Study
    dataset: Dataset
    explored: Dataset
    space: SearchSpace
    baseline: dict[str, Any]
    data: DataConfig
    settings: SweepConfig
    display: Display
    deadline: SearchDeadline | None
    limit: TimeLimit | None
    timeout: float | None


class Engine:
    """An engine: what it can do, and its search. Subclasses set the flags and ``search``."""

    name: ClassVar[str]
    # Takes the baseline, the space's first trials and the portfolio's starting points as its
    # first trials (KerasTuner cannot be handed a trial).
    seeds_the_study: ClassVar[bool]
    # Runs trials in worker processes sharing one study (and this machine's cores).
    runs_workers: ClassVar[bool]
    # Its trials may train on a share of the training images (sweep.search.fidelity).
    explores_on_a_share: ClassVar[bool]
    # TRIALS counts the study's finished trials, also across runs (a resumed study goes on).
    counts_study_trials: ClassVar[bool]

    def search(self, run: Search) -> bool:
        """Search until the deadline or TRIALS; True on Ctrl-C."""
        raise NotImplementedError

    def why_it_ended(
        self, study: optuna.Study, settings: SweepConfig, deadline: SearchDeadline | None, limit: TimeLimit | None
    ) -> str | None:
        """Which deadline ended the search, if one did (None: the engine says so itself)."""
        return None


class OptunaEngine(Engine):
    """Optuna's samplers and pruners: in this process, or in worker processes (:mod:`sweep.search.pool`)."""

    name = "optuna"
    seeds_the_study = runs_workers = explores_on_a_share = counts_study_trials = True

    def search(self, run: Search) -> bool:
        if run.settings.workers > 1:
            from sweep.search.pool import run_worker_processes

            return run_worker_processes(
                run.study, run.space, run.data, run.settings, run.display, run.limit, run.timeout
            )
        from sweep.search.kept import kept_in
        from sweep.search.objective import Objective

        objective = Objective(
            run.explored,
            run.space,
            run.baseline,
            run.data.seed,
            run.display,
            deadline=run.deadline,
            limits=run.settings.limits,
            keep_in=kept_in(run.data.folder, len(run.explored.x_train), len(run.dataset.x_train)),
        )
        with run.display.session(), run.display.task("trials", run.settings.trials) as task:
            log_trial = trial_logger(run.space, run.data.folder, run.display)

            def after_trial(study: optuna.Study, trial: FrozenTrial) -> None:
                log_trial(study, trial)
                advance(task, study, run.deadline)

            advance(task, run.study, run.deadline)
            try:
                reason = run_trials(
                    run.study,
                    objective,
                    trials=run.settings.trials,
                    deadline=run.deadline,
                    on_trial=after_trial,
                    log=run.display.log,
                )
            except KeyboardInterrupt:
                return True
        if reason == "grid exhausted":
            run.display.log("The grid is exhausted: every point has been tried.")
        return False

    def why_it_ended(
        self, study: optuna.Study, settings: SweepConfig, deadline: SearchDeadline | None, limit: TimeLimit | None
    ) -> str | None:
        ends = deadline() if deadline is not None else None
        if (
            deadline is None
            or ends is None
            or time.monotonic() < ends
            or (settings.trials is not None and finished_count(study) >= settings.trials)
        ):
            return None
        if deadline.cause() == "timeout":
            return (
                f"Timeout of {settings.timeout:.0f}s reached: no more trials started, running "
                "ones stopped (the baseline and starting points finish)."
            )
        if limit is None:  # --no-retrain: the limit bounded the search as a timeout
            return "The time limit ended the search (--time-limit, make TIME_LIMIT=)."
        planned = limit.planned_answers(study.get_trials(deepcopy=False))
        seconds = max((limit.answer_seconds(t) for t in planned), default=0.0)
        retrain = (
            f"the answer's retrain (trial {either(sorted(t.number for t in planned))}: up to about {duration(seconds)})"
            if seconds
            else "the answer's retrain"
        )
        flag = f"--time-limit {settings.time_limit:.0f}, make TIME_LIMIT="
        if limit.left() <= 0:  # the baseline and starting points are never cut, and ran past it
            return (
                f"Search ended past the time limit ({flag}): the trials that always run in full "
                f"took longer on this machine; {retrain} and the export come after."
            )
        return (
            f"Search ended with {duration(limit.left())} left of the time limit ({flag}) "
            f"for {retrain}, the baseline's and the export."
        )


def either(numbers: list[int]) -> str:
    """``numbers`` as alternatives in words: '3', '0 or 3', '0, 1 or 3'."""
    words = [str(number) for number in numbers]
    return " or ".join([", ".join(words[:-1]), words[-1]]) if len(words) > 1 else "".join(words)


class KerasTunerEngine(Engine):
    """``--engine kerastuner``: KerasTuner proposes and schedules, in this process."""

    name = "kerastuner"
    seeds_the_study = runs_workers = explores_on_a_share = counts_study_trials = False

    def search(self, run: Search) -> bool:
        from sweep.search import kerastuner_engine

        with run.display.session():
            return kerastuner_engine.search(run, trial_logger(run.space, run.data.folder, run.display))


# --engine's choices (sweep.settings.ENGINES names them, for the command line's grammar).
ENGINES: dict[str, Engine] = {engine.name: engine for engine in (OptunaEngine(), KerasTunerEngine())}


def engine_of(settings: SweepConfig) -> Engine:
    """The engine a sweep's settings name."""
    return ENGINES[settings.engine]
