"""What sweep needs from Optuna that its public API does not give: a study's storage (the study
lock and heartbeats write to it directly, outside ``study.optimize``) and a trial's storage id.
Every use of Optuna's private attributes and modules is here, so an Optuna upgrade that moves
them breaks one module.
"""

from __future__ import annotations

from typing import Any

import optuna


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage a study reads and writes (Optuna's cache layer, where it adds one)."""
    return study._storage


def trial_id(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """A trial's id in its storage (its number counts within its study only)."""
    return trial._trial_id


def engine_of(study: optuna.Study) -> Any | None:
    """The SQLAlchemy engine under a study's relational storage; None for others."""
    storage = storage_of(study)
    storage = getattr(storage, "_backend", storage)  # under Optuna's cache layer
    return getattr(storage, "engine", None)


def heartbeat_storage(study: optuna.Study) -> Any | None:
    """A study's storage where it records heartbeats (the relational ones), else None."""
    from optuna.storages._heartbeat import BaseHeartbeat

    storage = storage_of(study)
    return storage if isinstance(storage, BaseHeartbeat) else None
