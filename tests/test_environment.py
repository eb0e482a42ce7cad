"""Tests for sweep.machine.environment: every environment variable sweep reads, read in one place."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")


def test_the_environment_read_in_one_place() -> None:
    from sweep.machine.environment import DEFAULT_HEARTBEAT_SECONDS, Environment

    unset = Environment.read({})
    assert (unset.data_dir, unset.threads, unset.precision, unset.storage, unset.debug) == (
        None,
        None,
        "auto",
        None,
        False,
    )
    assert unset.heartbeat_seconds == DEFAULT_HEARTBEAT_SECONDS
    assert unset.members is None  # the machine decides (sweep.commands.ensemble.members_for)
    assert Environment.read({"SWEEP_MEMBERS": "1"}).members == 1
    assert unset.views is None  # every view the rule allows (sweep.models.views)
    assert Environment.read({"SWEEP_VIEWS": "1"}).views == 1
    given = Environment.read(
        {"SWEEP_THREADS": "2", "SWEEP_DATA_DIR": "/data", "SWEEP_STORAGE": "sqlite:///x.db", "SWEEP_DEBUG": "1"}
    )
    assert (given.threads, given.data_dir, given.storage, given.debug) == (2, "/data", "sqlite:///x.db", True)
