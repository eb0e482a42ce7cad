"""Leaderboards: a study's trials as a ranked table, and one row per dataset across sweeps.

Pure pandas over Optuna's FrozenTrial records; no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from sweep.choice.pareto import front
from sweep.choice.trials import STOPPED, failure, origin, params_of, record, score_interval, stopped_by, trial_score
from sweep.errors import UsageError, first_line
from sweep.files import atomic_write
from sweep.models.params import unused_params

# Completed trials first (ranked by validation accuracy), then pruned, then the rest.
_STATE_ORDER = {
    TrialState.COMPLETE: 0,
    TrialState.PRUNED: 1,
    TrialState.RUNNING: 2,
    TrialState.WAITING: 3,
    TrialState.FAIL: 4,
}
FIRST_COLUMNS = [
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
]
# Deployment figures (sweep.deploy.deployment), then the limits a trial breaks (sweep.deploy.constraints).
DEVICE_COLUMNS = ["tflite_kb", "int8_kb", "latency_ms", "infeasible"]
LAST_COLUMNS = ["param_count", *DEVICE_COLUMNS, "fit_seconds", "started", "finished", "stopped_by", "error"]
SUMMARY_COLUMNS = [
    "dataset",
    "study",
    "finished_trials",
    "best_trial",
    "best_val_accuracy",
    "baseline_val_accuracy",
    "test_accuracy",
    "baseline_test_accuracy",
    "test_gain",
    "updated",
]


def trials_frame(
    trials: Iterable[FrozenTrial], param_names: Sequence[str], objective: str = "accuracy"
) -> pd.DataFrame:
    """Every trial as one row, ranked: completed by validation accuracy, then pruned, then failed.
    A Pareto search (``objective`` latency or size) marks the Pareto-optimal trials (``pareto``).

    A parameter that builds nothing in a trial (the filters of blocks beyond its ``conv_blocks``)
    is left blank; integer parameters stay integers (16, not 16.0) where other trials are blank.
    """
    trials = list(trials)
    optimal = {t.number for t in front(trials, objective)}
    rows = []
    for trial in trials:
        attrs = record(trial)
        params = params_of(trial)
        unused = unused_params(params)
        low, high = score_interval(trial)
        rows.append(
            {
                "trial": trial.number,
                "state": trial.state.name.lower(),
                "val_accuracy": trial_score(trial),
                "val_low": low,
                "val_high": high,
                "val_loss": attrs.get("val_loss"),
                "best_epoch": attrs.get("best_epoch"),
                "epochs_run": attrs.get("epochs_run"),
                "train_images": attrs.get("train_images"),
                "origin": origin(trial),
                **{name: None if name in unused else params.get(name) for name in param_names},
                "param_count": attrs.get("param_count"),
                **{name: attrs.get(name) for name in DEVICE_COLUMNS},
                **({"pareto": "yes" if trial.number in optimal else ""} if objective != "accuracy" else {}),
                "fit_seconds": attrs.get("fit_seconds"),
                "started": _time(trial.datetime_start),
                "finished": _time(trial.datetime_complete),
                "stopped_by": _stopped_by(trial),
                "error": failure(trial),
                # Completed trials over a deployment limit rank below those within them.
                "_order": _STATE_ORDER.get(trial.state, 5) + 0.5 * bool(attrs.get("infeasible")),
            }
        )
    pareto = ["pareto"] if objective != "accuracy" else []
    columns = FIRST_COLUMNS[1:] + pareto + list(param_names) + LAST_COLUMNS
    if not rows:
        return pd.DataFrame(columns=["rank", *columns])
    frame = pd.DataFrame(rows)
    integers = [
        name
        for name in param_names
        if all(isinstance(row[name], int) and not isinstance(row[name], bool) for row in rows if row[name] is not None)
    ]
    frame[integers] = frame[integers].astype("Int64")
    frame["_score"] = frame["val_accuracy"].astype(float).fillna(-1.0)
    frame["_loss"] = frame["val_loss"].astype(float).fillna(float("inf"))
    frame = frame.sort_values(["_order", "_score", "_loss", "trial"], ascending=[True, False, True, True])
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame[["rank", *columns]].reset_index(drop=True)


def _stopped_by(trial: FrozenTrial) -> str:
    """Why a trial ran fewer epochs than it asked for: the pruner, a deadline, a deployment
    limit (before training), or nothing."""
    stopped = stopped_by(trial)
    if stopped in STOPPED:
        return stopped
    if trial.state == TrialState.PRUNED and record(trial).get("infeasible"):
        return "limits"
    return "pruner" if trial.state == TrialState.PRUNED else ""


def _time(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write a table atomically, so a reader never sees half a file."""
    return atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def read_table(path: Path, columns: Sequence[str], what: str) -> pd.DataFrame:
    """A CSV table this tool wrote; one that is unreadable or lacks ``columns`` is a UsageError
    naming the file."""
    try:
        frame = pd.read_csv(path)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise UsageError(
            f"{path} is not a readable {what} ({first_line(error)}); move it away, and the next run writes a new one"
        ) from None
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise UsageError(
            f"{path} is not a {what}: it has no {', '.join(missing)} column; move "
            "it away, and the next run writes a new one"
        )
    return frame


def read_summary(path: Path) -> pd.DataFrame:
    """The cross-dataset leaderboard (empty where there is none yet); read before a sweep's
    work too, so a broken file stops it at the start rather than after the retrain."""
    if not path.is_file():
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    return read_table(path, ["dataset"], "summary leaderboard")


def update_summary(path: Path, row: Mapping[str, Any]) -> pd.DataFrame:
    """Insert or replace one dataset's row of the cross-dataset leaderboard."""
    frame = read_summary(path)
    frame = frame[frame["dataset"] != row["dataset"]]
    new = pd.DataFrame([{column: row.get(column) for column in SUMMARY_COLUMNS}])
    # Rows whose columns are all empty are left out of pd.concat's dtype choice (its
    # FutureWarning otherwise): concat the records instead.
    frame = pd.DataFrame([*frame.to_dict("records"), *new.to_dict("records")], columns=SUMMARY_COLUMNS)
    frame = frame.sort_values("dataset").reset_index(drop=True)
    write_csv(frame, path)
    return frame
