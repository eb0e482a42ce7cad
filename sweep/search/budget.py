"""The sweep's time limit: when the search must end for the retrain to finish in time.

``sweep sweep`` searches until its time is used, then retrains and exports, all within
``--time-limit`` seconds. What the retrains cost is known only once trials have run: a trial
that trained E epochs on N images in S seconds retrains them on N + V images in about
S·(N + V) / N seconds. So the search's end moves as trials finish, earlier when a costlier net
becomes the best, and a slow machine gets a shorter search instead of a longer sweep. The
baseline is retrained too (the gain is measured against it), and its retrain is planned for.

No TensorFlow here: the arithmetic is table-tested on made-up trials.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import optuna
from optuna.trial import FrozenTrial

from sweep.choice.trials import (
    best_of,
    final_params,
    finalists,
    is_baseline,
    portfolio_first,
    record,
    starting_points,
    training_rate,
)
from sweep.errors import UsageError
from sweep.models.views import views_for
from sweep.search.jobs import baseline_taken, folds_taken
from sweep.search.rescore import FOLDS, needs_cross_validation

if TYPE_CHECKING:
    from sweep.data.registry import Dataset

# With several workers a trial had a share of the cores while the others were busy; the
# retrain, one process with every core, trained the same nets 1.4-1.6x faster (MNIST, per 60k
# images: 41 against 26 s on the AVX2 machine, 6.0 against 4.4 s on the AVX512-BF16 one; 1.45x
# on an emulated slow sweep). The answer's retrain re-plans its epochs from its own speed as it
# trains (sweep.commands.retrain), so the estimate need not err long to keep the limit.
SHARED_CORES_FACTOR = 0.65
# What comes after the retrain but for the test images' passes (plots, TFLite figures, export:
# about 10 s in float32 here), and a little margin: the retrain re-plans its epochs from its
# own speed, so it ends near its deadline. With 30 s, 17-37 s of every sweep went unused; at the
# slowest kind's emulated speed (a 4-minute limit) that is a tenth of it.
AFTER_RETRAIN_SECONDS = 12.0
# The test images' passes after the retrain (the answer, one of its models alone, the baseline),
# in epochs of the answer's retrain over as many images: a pass costs about half a training
# step. Measured on a slow MNIST sweep's pair (float32 here): 6.4 s for the three, estimated
# 7.0 s. They scale with the machine's speed, where the rest hardly does: on the slowest kind
# itself (0.22 of its time here) about 30 s, which a fixed reserve of 15 s left past the limit.
TEST_PASSES = 1.5
# And as much again, half an epoch of test images, for each test-time view past the first
# (sweep.models.views): the answer's pass is one a view.
VIEW_PASSES = 0.5
# The answer's TFLite figures (sweep.deploy.deployment: a float32 and an int8 conversion, then
# its latency), for each model and view it averages: the converter's work grows with the
# graph, not with the arithmetic. Measured on an AMX machine: 2.0 s for one model, 4.9 s over
# 5 views, 11.2 s for 2 models over 5 (:meth:`TimeLimit.after_measured_seconds`).
FIGURES_SECONDS = 1.1
# Cross-validating the finalists is planned for where it costs at most this share of the time
# limit: on scikit-learn's digits about 3 of 19 minutes; on 10,000 images far more, and their
# 1,000 validation images can tell clear gains apart.
CROSS_VALIDATION_SHARE = 0.25
# A worker takes the baseline's retrain or its folds (sweep.search.jobs) only where its estimate
# is at most this share of the time left: a job must end well before the search does.
BASELINE_JOB_SHARE = 0.5
# A starting point of the portfolio trains for at most this share of the time left when it
# starts (its retrain needs about as much again later): the rest is the sampler's.
STARTING_POINT_SHARE = 0.45
# The answer's retrain on all the images may take at most this share of the time limit: a
# trial whose retrain would need more trains fewer epochs (the cheaper version of its recipe,
# see sweep.search.objective), so the search looks for what the time can hold, not what it cannot.
ANSWER_SHARE = 0.35
# The benchmark that measures other shares (`make bench BENCH=share`) sets one in this
# environment variable, which the driver and its workers read (:func:`answer_share`).
SHARE_VARIABLE = "SWEEP_ANSWER_SHARE"
# Where the time allows, the answer retrains for up to this many times its trial's epochs (a
# rule fixed in advance: with a decaying learning rate, longer runs of a recipe end better).
GROW = 2.0
DECAYING = ("cosine", "one_cycle")


def answer_share() -> float:
    """ANSWER_SHARE, or the share SHARE_VARIABLE sets (a number above 0 and below 1)."""
    text = os.environ.get(SHARE_VARIABLE)
    if text is None:
        return ANSWER_SHARE
    try:
        share = float(text)
    except ValueError:
        share = math.nan
    if not 0 < share < 1:
        raise UsageError(
            f"{SHARE_VARIABLE}={text!r} is not a share of the time limit: give a number above 0 and below 1, e.g. 0.5"
        )
    return share


@dataclass(frozen=True)
class TimeLimit:
    """The end of a sweep command and what its retrain needs to know to plan for it.

    ``ends_at`` is a :func:`time.time` value (shared by the driver and its worker processes);
    ``train_images``/``full_images``: the training split and train + validation;
    ``shared_cores``: whether trials ran on a share of the cores (several workers);
    ``cross_validation_seconds``: the most that cross-validating the finalists before the
    retrain may take (a small validation split, :mod:`sweep.search.rescore`); 0: none.
    """

    ends_at: float
    train_images: int
    full_images: int
    shared_cores: bool
    cross_validation_seconds: float = 0.0
    seconds: float = 0.0  # the limit's length; 0: the answer's retrain has no cap of its own
    answer_share: float = ANSWER_SHARE  # of ``seconds``, the most the answer's retrain may take
    # The answer may train as models side by side, one a core (sweep.commands.ensemble).
    side_by_side: bool = False
    test_images: int = 0  # passed through after the retrain (:meth:`after_retrain_seconds`)
    # The baseline's retrain where no trial of it times it (KerasTuner's studies), from the
    # baseline's speed measured when the study was created.
    baseline_seconds: float = 0.0
    # The test-time views an answer trained on shifts may average (sweep.models.views), and
    # the images' shape that decides whether it trained on shifts of a pixel.
    views: int = 1
    input_shape: tuple[int, int, int] = (0, 0, 0)

    @classmethod
    def for_data(
        cls,
        ends_at: float,
        dataset: Dataset,
        shared_cores: bool,
        seconds: float,
        explore_images: int | None = None,
        side_by_side: bool = False,
        baseline_seconds: float = 0.0,
        views: int = 1,
    ) -> TimeLimit:
        """The limit of ``seconds`` ending at ``ends_at`` for trials on ``dataset``'s splits
        (on ``explore_images`` of its training images, :mod:`sweep.search.fidelity`; None: all;
        ``views``: :func:`sweep.models.views.most_views`)."""
        images = len(dataset.x_train)
        folds = CROSS_VALIDATION_SHARE * seconds if needs_cross_validation(dataset) else 0.0
        full = images + len(dataset.x_val)
        return cls(
            ends_at,
            explore_images or images,
            full,
            shared_cores,
            folds,
            seconds,
            answer_share(),
            side_by_side,
            len(dataset.x_test),
            baseline_seconds,
            views,
            dataset.input_shape,
        )

    def epoch_seconds(self, trial: FrozenTrial) -> float | None:
        """About how long one epoch of ``trial`` on train + validation takes (None: no timing)."""
        attrs = record(trial)
        # The seconds of its whole epochs (a trial cut inside an epoch spent part of one more),
        # validation left out where it was timed apart.
        fit = attrs.get("train_seconds") or attrs.get("epochs_seconds", attrs.get("fit_seconds"))
        epochs_run = attrs.get("epochs_run")
        if not fit or not epochs_run:
            return None
        return float(fit / epochs_run * self.retrain_ratio(attrs.get("train_images")))

    def after_retrain_seconds(self, trial: FrozenTrial | None) -> float:
        """What comes after retraining ``trial`` as the answer, as the search plans it. From its
        model's float32 latency in LiteRT (``latency_ms``, one image at a time on one thread),
        as :meth:`after_measured_seconds` plans from passes timed: within half of a batched
        pass's cost per image, here. Where it has none, AFTER_RETRAIN_SECONDS and TEST_PASSES
        through the test images at its training's speed, VIEW_PASSES more for each test-time
        view past the first: KerasTuner's 3-epoch trials of 900 images, their time mostly
        overhead, had 180 s kept back for 6 s of passes. The retrain itself plans from passes
        timed once it is chosen."""
        if trial is None:
            return AFTER_RETRAIN_SECONDS
        views = len(views_for(final_params(trial), self.input_shape, self.views))
        latency = record(trial).get("latency_ms")
        if latency is not None and self.test_images:
            return self.after_measured_seconds(latency / 1000, views * latency / 1000, views)
        epoch = self.epoch_seconds(trial)
        if epoch is None or not self.full_images:
            return AFTER_RETRAIN_SECONDS
        passes = TEST_PASSES + VIEW_PASSES * (views - 1)
        return AFTER_RETRAIN_SECONDS + passes * epoch * self.test_images / self.full_images

    def after_measured_seconds(self, alone: float, answer: float, models: int) -> float:
        """What comes after the answer's retrain, from its passes timed on this machine before
        it trains (:func:`sweep.models.train.pass_seconds`, seconds per image): the answer's
        (``answer``, over ``models`` models and views) through the test images, one through its
        first model alone where it averages several, the baseline's (about as long as one
        model's), FIGURES_SECONDS a model and view, and AFTER_RETRAIN_SECONDS. The estimate from
        the trial's epochs (:meth:`after_retrain_seconds`) errs where training is in bfloat16,
        for the passes are in float32: it kept 26 s for 34 on an AMX machine, 2 models over 5 views."""
        if min(alone, answer) < 0 or models < 1:
            raise ValueError(f"passes of {alone} and {answer} s per image over {models} models: need >= 0 and >= 1")
        passes = answer + (2 if models > 1 else 1) * alone
        return AFTER_RETRAIN_SECONDS + passes * self.test_images + FIGURES_SECONDS * models

    def retrain_seconds(self, trial: FrozenTrial) -> float | None:
        """About how long retraining ``trial`` on train + validation takes (None: no timing)."""
        epoch = self.epoch_seconds(trial)
        return None if epoch is None else epoch * final_params(trial)["epochs"]

    def answer_epochs(self, trial: FrozenTrial, seconds: float | None = None) -> int:
        """The epochs ``trial`` retrains for as the answer: its own, grown up to GROW times where
        its learning rate decays, and no more than fit in ``seconds`` (None: the answer's share
        of the limit), but at least one. The baseline retrains as written."""
        return int(self.answer_length(trial, seconds))

    def answer_length(self, trial: FrozenTrial, seconds: float | None = None, least: float = 1.0) -> float:
        """:meth:`answer_epochs` with the last one's fraction: the retrain's last epoch may stop
        at a step (:class:`sweep.models.train.EpochPlan`'s ``partial``); at least ``least``."""
        params = final_params(trial)
        epochs, epoch = int(params["epochs"]), self.epoch_seconds(trial)
        if is_baseline(trial) or epoch is None:
            return float(epochs)
        most = int(GROW * epochs) if params.get("lr_schedule") in DECAYING else epochs
        if seconds is None and not self.seconds:
            return float(most)
        room = self.answer_share * self.seconds if seconds is None else seconds
        return float(most) if math.isinf(room) else max(least, min(most, room / epoch))

    def answer_seconds(self, trial: FrozenTrial) -> float:
        """About how long retraining ``trial`` as the answer may take: its epochs grown as in
        :meth:`answer_epochs`, but the answer's share of the limit in full where that is less.
        Not rounded down to whole epochs: the retrain re-plans from its own speed as it trains,
        at the slowest kind's emulated speed the rounding took a fifth of the answer's share (68 of 84 s).

        Where models side by side may be the answer (``side_by_side``) and each reaches those
        epochs within the share at a trial's speed (one a core), their time is kept: averaged, they
        beat one model of the same epochs (:func:`sweep.commands.retrain.members_in_time`)."""
        epoch = self.epoch_seconds(trial)
        if epoch is None:
            return 0.0
        most = epoch * self.answer_epochs(trial, float("inf"))
        if is_baseline(trial) or not self.seconds:
            return most
        share = self.answer_share * self.seconds
        each = most / SHARED_CORES_FACTOR if self.shared_cores else most
        if self.side_by_side and each <= share:
            return each
        return min(most, max(share, epoch))

    def epochs_cap(self, train_epoch_seconds: float, images: int | None = None) -> int | None:
        """The most epochs a trial whose epochs take ``train_epoch_seconds`` (validation left
        out) on ``images`` training images (None: the exploration's) may run: those whose
        retrain on all the images fits in the answer's share of the limit. None: no cap (no
        limit length to share)."""
        if not self.seconds:
            return None
        epoch = train_epoch_seconds * self.retrain_ratio(images)
        return int(self.answer_share * self.seconds // max(epoch, 1e-9))

    def search_ends_at(
        self, trials: Sequence[FrozenTrial], baseline_kept: bool = True, folds_kept: bool = True
    ) -> float:
        """The :func:`time.time` by which the search must end: the limit, less what comes
        after the search (:meth:`after_search_seconds`)."""
        return self.ends_at - self.after_search_seconds(trials, baseline_kept=baseline_kept, folds_kept=folds_kept)

    def after_search_seconds(
        self,
        trials: Sequence[FrozenTrial],
        cross_validate: bool | None = None,
        baseline_kept: bool = True,
        folds_kept: bool = True,
    ) -> float:
        """What comes after the search: cross-validating the finalists (where planned, see
        :meth:`cross_validation_cost`; ``cross_validate`` True or False to count it or not),
        then the retrains and the export (:meth:`retrains_seconds`). ``baseline_kept`` and
        ``folds_kept`` False: a worker took the baseline's retrain, its folds
        (:mod:`sweep.search.jobs`)."""
        folds = self.cross_validation_cost(trials, baseline=folds_kept)
        counted = self.plans_cross_validation(folds) if cross_validate is None else cross_validate and folds > 0
        return (folds if counted else 0.0) + self.retrains_seconds(
            trials, cross_validated=counted, baseline_kept=baseline_kept
        )

    def plans_cross_validation(self, folds: float) -> bool:
        """Whether the search plans for cross-validating the finalists, ``folds`` seconds
        (:meth:`cross_validation_cost`): where it has a budget and they fit in it."""
        return 0 < folds <= self.cross_validation_seconds

    def planned_answers(self, trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
        """The trials the answer may be, as :meth:`after_search_seconds` plans their retrains."""
        cross_validated = self.plans_cross_validation(self.cross_validation_cost(trials))
        return answer_candidates(trials, cross_validated)

    def retrains_seconds(
        self, trials: Sequence[FrozenTrial], cross_validated: bool, baseline_kept: bool = True
    ) -> float:
        """What comes after the answer is chosen: retraining it (the costliest finalist's
        retrain where they were ``cross_validated``, else the costlier of the best trial's and
        the best starting point's) and the baseline (its trial's timing, else ``baseline_seconds``;
        none where a worker took that job, ``baseline_kept`` False: :mod:`sweep.search.jobs`),
        the test and the export."""
        base = best_of([t for t in trials if is_baseline(t)])
        final = answer_candidates(trials, cross_validated)
        seconds = {t.number: self.answer_seconds(t) for t in final}
        base_seconds = seconds.pop(base.number, 0.0) if base is not None else self.baseline_seconds
        if not baseline_kept:  # a worker retrains it, for the gain or as the answer itself
            base_seconds = 0.0
        after = max((self.after_retrain_seconds(t) for t in final), default=AFTER_RETRAIN_SECONDS)
        return max(seconds.values(), default=0.0) + base_seconds + after

    def cross_validation_cost(self, trials: Sequence[FrozenTrial], baseline: bool = True) -> float:
        """About how long cross-validating the finalists takes: FOLDS trainings of each on
        (FOLDS - 1) / FOLDS of train + validation, each about as long as a whole retrain, as a
        new model is built and compiled for every fold (digits at the slowest kind's emulated
        speed: folds of 11-12 s for a retrain of 11 s); the baseline's only where ``baseline``
        (no worker took them). 0 without a budget for it."""
        if not self.cross_validation_seconds:
            return 0.0
        counted = [t for t in finalists(trials) if baseline or not is_baseline(t)]
        return FOLDS * sum(self.retrain_seconds(t) or 0.0 for t in counted)

    def baseline_folds_seconds(self, trials: Sequence[FrozenTrial], seconds_left: float) -> float | None:
        """About how long one worker would take to cross-validate the baseline now, where that
        is worth doing (:mod:`sweep.search.jobs`): the other finalists' folds are within the
        cross-validation's budget (so, the baseline's done, it is planned), the baseline
        completed with a timing, and its folds, each about a retrain at its trial's speed, fit
        in BASELINE_JOB_SHARE of ``seconds_left`` (the search's time); None otherwise."""
        base = best_of([t for t in trials if is_baseline(t)])
        others = self.cross_validation_cost(trials, baseline=False)
        if base is None or not others or others > self.cross_validation_seconds:
            return None
        one_core = self.retrain_seconds(base) or 0.0
        if self.shared_cores:  # the worker trains it on its one core, as fast as its trial
            one_core /= SHARED_CORES_FACTOR
        folds = FOLDS * one_core
        return folds if 0 < folds < BASELINE_JOB_SHARE * seconds_left else None

    def left(self) -> float:
        """Seconds until the limit."""
        return self.ends_at - time.time()

    def retrain_ratio(self, images: int | None = None) -> float:
        """Seconds a retrain takes per second its trial trained on ``images`` images (None: the
        exploration's; more images, all the cores)."""
        return self.full_images / (images or self.train_images) * (SHARED_CORES_FACTOR if self.shared_cores else 1.0)

    def starting_point_seconds(self, started: float, reserved: float) -> float:
        """How long a starting point that began at ``started`` (a :func:`time.time` value) may
        train: STARTING_POINT_SHARE of the time then left, less ``reserved`` (the baseline's
        retrain), and no more than leaves time for its own retrain before the limit."""
        left = self.ends_at - started - reserved - AFTER_RETRAIN_SECONDS
        return max(min(STARTING_POINT_SHARE * left, left / (1 + self.retrain_ratio())), 0.0)

    def skip_line(self, trial: FrozenTrial | None, what: str) -> str | None:
        """Why ``what`` (``trial``'s retrain) is skipped: it would end after the limit.
        None when it fits, or when there is no timing to tell."""
        seconds = self.retrain_seconds(trial) if trial is not None else None
        after = self.after_retrain_seconds(trial)
        if seconds is None or seconds + after <= self.left():
            return None
        return (
            f"Not retraining {what}: it needs about {duration(seconds)} and the test and export "
            f"{duration(after)}, with {duration(max(self.left(), 0))} left of "
            "the time limit (--time-limit, make TIME_LIMIT=); `make retrain` retrains both, with no limit."
        )


# Seconds (or 10 % of its cost) by which cross-validating the finalists may overrun the limit.
CROSS_VALIDATION_SLACK = 30.0


def answer_candidates(trials: Sequence[FrozenTrial], cross_validated: bool) -> list[FrozenTrial]:
    """The trials the answer may be (:func:`sweep.search.rescore.choose`): any finalist where
    they are ``cross_validated``; else the best trial, the best starting point, the portfolio's
    first (the answer on a share) or the baseline. Keeping back the costliest finalist's retrain
    where none is cross-validated left 2.7 of 19 minutes unused on MNIST 1k."""
    if cross_validated:
        return finalists(trials)
    points = starting_points(trials)
    picks = (best_of(trials), *points[:1], portfolio_first(points), best_of([t for t in trials if is_baseline(t)]))
    return list({t.number: t for t in picks if t is not None}.values())


def cross_validation_fits(needed: float, left: float) -> bool:
    """Whether cross-validation, with the retrains after it (``needed`` seconds), may start with
    ``left`` seconds to the limit. The cost is an estimate from the trials' speed: a little over
    it is worth a choice made on every image instead of on a small validation split."""
    return needed <= left + max(CROSS_VALIDATION_SLACK, 0.1 * needed)


def duration(seconds: float) -> str:
    """``45 s`` or ``7.1 min``: how long, for people."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def as_monotonic(wall: float) -> float:
    """The :func:`time.monotonic` value of a :func:`time.time` value (for deadlines)."""
    return time.monotonic() + (wall - time.time())


@dataclass(frozen=True)
class SearchDeadline:
    """When the search ends, as a :func:`time.monotonic` value: ``timeout`` seconds after
    ``started``, or earlier when ``limit`` needs the rest for the retrains.

    Reads the study each time it is asked: the best trial, and so its retrain, changes.
    """

    study: optuna.Study
    timeout: float | None
    started: float
    limit: TimeLimit | None

    def ends(self) -> dict[str, float]:
        """Each deadline's end, by the name the leaderboard's ``stopped_by`` gives it."""
        ends = {} if self.timeout is None else {"timeout": self.started + self.timeout}
        if self.limit is not None:
            trials = self.study.get_trials(deepcopy=False)
            kept, folds_kept = not baseline_taken(self.study), not folds_taken(self.study)
            ends["time_limit"] = as_monotonic(self.limit.search_ends_at(trials, kept, folds_kept))
        return ends

    def __call__(self) -> float | None:
        return min(self.ends().values(), default=None)

    def cause(self) -> str:
        """The deadline that comes first: ``timeout`` or ``time_limit``."""
        ends = self.ends()
        return min(ends, key=ends.__getitem__)


def search_deadline(
    study: optuna.Study, timeout: float | None, started: float, limit: TimeLimit | None
) -> SearchDeadline | None:
    """The search's deadline; None without a timeout or a limit: trials then carry no deadline
    check at all."""
    if timeout is None and limit is None:
        return None
    return SearchDeadline(study, timeout, started, limit)


class Clock:
    """The wall-clock phases of one ``sweep`` command (loading, search, retrains, export), for
    the line that says where its time went."""

    def __init__(self) -> None:
        self.started = time.time()
        self.phases: dict[str, float] = {}  # seconds, in the order they ran
        self.begun: dict[str, float] = {}  # when each phase began (time.time)
        self._mark = self.started

    def lap(self, phase: str) -> float:
        """End ``phase`` now (it began where the last one ended); returns its seconds."""
        now = time.time()
        self.begun.setdefault(phase, self._mark)
        self.phases[phase] = self.phases.get(phase, 0.0) + now - self._mark
        self._mark = now
        return self.phases[phase]

    def summary(self, limit: float | None, workers: int, busy: float) -> str:
        """One line: the total against the limit, each phase, and how busy the search's
        ``workers`` were (``busy``: their seconds inside trials)."""
        total = time.time() - self.started
        against = f" of the {duration(limit)} limit" if limit else ""
        parts = []
        for phase, seconds in self.phases.items():
            part = f"{phase} {duration(seconds)}"
            if phase == "search" and workers and seconds > 0:
                idle = max(workers * seconds - busy, 0.0)
                part += (
                    f" ({workers} worker{'s' if workers > 1 else ''} busy "
                    f"{min(busy / (workers * seconds), 1.0):.0%} of it, idle {duration(idle)})"
                )
            parts.append(part)
        unused = f"; {duration(limit - total)} of it unused" if limit and limit > total else ""
        return f"Time: {duration(total)}{against}: {', '.join(parts)}{unused}."


def busy_seconds(trials: Sequence[FrozenTrial], since: float | None) -> float:
    """Seconds that trials spent running after ``since`` (a :func:`time.time` value), summed
    over trials: worker time, which several workers spend side by side."""
    if since is None:
        return 0.0
    start = datetime.fromtimestamp(since)
    return sum(
        (t.datetime_complete - max(t.datetime_start, start)).total_seconds()
        for t in trials
        if t.datetime_start and t.datetime_complete and t.datetime_complete > start
    )


def fastest_rate(trials: Sequence[FrozenTrial]) -> float | None:
    """The most training FLOPs per second any trial reached (over its whole epochs), from its
    ``train_flops`` (per image and epoch) and timing; None before any trial has an epoch."""
    return max((rate for rate in map(training_rate, trials) if rate is not None), default=None)
