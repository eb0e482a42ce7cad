"""The sweep's time limit: when the search must end for the retrain to finish in time.

``sweep sweep`` aims to finish search, retrain and export within ``--time-limit`` seconds. What
the retrain costs is known only once trials have run: a trial that trained E epochs on N images
in S seconds retrains E' epochs on N + V images in about S·E'·(N + V) / (E·N) seconds. So the
search's end moves as trials finish, earlier when a costlier net becomes the best, and a slow
machine gets a shorter search instead of a longer sweep. The baseline's retrain, which only
measures the gain, runs after the best's when what is left of the limit allows it.

No TensorFlow here: the arithmetic is table-tested on made-up trials.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from optuna.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from sweep.datasets import Dataset

# With several workers a trial had a share of the cores while the others were busy; the
# retrain, one process with every core, trained the same nets 1.4-1.6x faster (MNIST, per 60k
# images: 41 against 26 s on the AVX2 machine, 6.0 against 4.4 s on the AVX512-BF16 one).
# 0.8 rather than 0.65: an estimate a little too long costs search time, one too short the limit.
SHARED_CORES_FACTOR = 0.8
# What comes after the retrain (test evaluation, plots, export: 5-15 s here), and a margin.
AFTER_RETRAIN_SECONDS = 30.0


def final_params(trial: FrozenTrial) -> dict[str, Any]:
    """A trial's parameters, with epochs set to the epoch where validation accuracy peaked.

    A cosine schedule keeps all its epochs: stopping it early would change every epoch's
    learning rate, not just drop the last ones.
    """
    params = dict(trial.user_attrs.get("params", trial.params))
    if params.get("lr_schedule") != "cosine":
        params["epochs"] = int(trial.user_attrs.get("best_epoch", params["epochs"]))
    return params


def best_of(trials: Sequence[FrozenTrial]) -> FrozenTrial | None:
    """The completed trial with the highest validation accuracy (lower number on ties)."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
    return max(done, key=lambda t: (t.values[0], -t.number)) if done else None


@dataclass(frozen=True)
class TimeLimit:
    """The end of a sweep command and what its retrain needs to know to plan for it.

    ``ends_at`` is a :func:`time.time` value (shared by the driver and its worker processes);
    ``train_images``/``full_images``: the training split and train + validation;
    ``shared_cores``: whether trials ran on a share of the cores (several workers).
    """

    ends_at: float
    train_images: int
    full_images: int
    shared_cores: bool

    @classmethod
    def for_data(cls, ends_at: float, dataset: Dataset, shared_cores: bool) -> TimeLimit:
        """The limit ending at ``ends_at`` for trials on ``dataset``'s splits."""
        images = len(dataset.x_train)
        return cls(ends_at, images, images + len(dataset.x_val), shared_cores)

    def retrain_seconds(self, trial: FrozenTrial) -> float | None:
        """About how long retraining ``trial`` on train + validation takes (None: no timing)."""
        attrs = trial.user_attrs
        # The seconds of its whole epochs: a trial cut inside an epoch spent part of one more.
        fit, epochs_run = attrs.get("epochs_seconds", attrs.get("fit_seconds")), attrs.get("epochs_run")
        if not fit or not epochs_run:
            return None
        per_image_epoch = fit / (epochs_run * self.train_images)
        seconds = per_image_epoch * final_params(trial)["epochs"] * self.full_images
        return seconds * (SHARED_CORES_FACTOR if self.shared_cores else 1.0)

    def search_ends_at(self, trials: Sequence[FrozenTrial]) -> float:
        """The :func:`time.time` by which the search must end: the limit, less the best
        trial's retrain and what follows it."""
        best = best_of(trials)
        retrain = (self.retrain_seconds(best) if best is not None else None) or 0.0
        return self.ends_at - retrain - AFTER_RETRAIN_SECONDS

    def left(self) -> float:
        """Seconds until the limit."""
        return self.ends_at - time.time()

    def skip_line(self, trial: FrozenTrial | None, what: str) -> str | None:
        """Why ``what`` (``trial``'s retrain) is skipped: it would end after the limit.
        None when it fits, or when there is no timing to tell."""
        seconds = self.retrain_seconds(trial) if trial is not None else None
        if seconds is None or seconds + AFTER_RETRAIN_SECONDS <= self.left():
            return None
        return (f"Not retraining {what}: it needs about {duration(seconds)} and the export "
                f"{duration(AFTER_RETRAIN_SECONDS)}, with {duration(max(self.left(), 0))} left of "
                "the time limit (--time-limit, make TIME_LIMIT=); `make retrain` retrains both, with no limit.")


def duration(seconds: float) -> str:
    """``45 s`` or ``7.1 min``: how long, for people."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def as_monotonic(wall: float) -> float:
    """The :func:`time.monotonic` value of a :func:`time.time` value (for deadlines)."""
    return time.monotonic() + (wall - time.time())
