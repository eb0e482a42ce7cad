"""Tests for sweep.search.console: what the summary says when a search ends."""

from __future__ import annotations

import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial


def test_the_search_summary_leaves_out_filters_of_blocks_the_best_trial_lacks() -> None:
    import optuna

    from sweep.search.console import summary
    from sweep.settings import DataConfig

    distributions = {"conv_blocks": IntDistribution(2, 3), "filters_3": IntDistribution(32, 128)}
    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(value=0.99, params={"conv_blocks": 2, "filters_3": 96}, distributions=distributions))
    text = summary(study, DataConfig("mnist"), seconds=60)
    assert "Search on mnist: 1 complete, 0 pruned, 0 fail trials (study" in text
    assert "; this run 60s)." in text
    assert "; none run now)." in summary(study, DataConfig("mnist"), seconds=None)
    assert "Best trial 0 (sampler): val_accuracy 0.9900" in text
    assert "conv_blocks=2" in text and "filters_3" not in text
    assert "deployment limits" not in text
    # Proposals over a deployment limit were never trained: the summary says how many.
    too_large = {"infeasible": "parameters 30,000 > 20,000"}
    study.add_trial(
        create_trial(
            state=TrialState.PRUNED,
            params={"conv_blocks": 3},
            distributions={"conv_blocks": IntDistribution(2, 3)},
            user_attrs=too_large,
        )
    )
    text = summary(study, DataConfig("mnist"), seconds=60)
    assert (
        "1 complete, 1 pruned, 0 fail trials (1 of the pruned over the deployment limits, never trained; study" in text
    )


@pytest.mark.parametrize(
    ("state", "value", "stopped", "hint"),
    [
        (TrialState.PRUNED, None, "timeout", True),  # the timeout cut the only other trial
        (TrialState.COMPLETE, 0.98, "timeout", True),  # cut, complete, still below the baseline
        (TrialState.COMPLETE, 0.995, "timeout", False),  # cut, and it beat the baseline
        (TrialState.PRUNED, None, None, False),  # the pruner, not the timeout, stopped it
        (TrialState.COMPLETE, 0.98, None, False),  # the baseline won a fair race
    ],
)
def test_the_summary_asks_for_more_time_when_the_timeout_left_the_baseline_unbeaten(
    state: TrialState, value: float | None, stopped: str | None, hint: bool
) -> None:
    import optuna

    from sweep.search.console import summary
    from sweep.settings import DataConfig

    study = optuna.create_study(direction="maximize")
    study.add_trial(create_trial(value=0.99, user_attrs={"is_baseline": True}))
    attrs = {"stopped": stopped} if stopped else {}
    study.add_trial(create_trial(state=state, value=value, intermediate_values={0: 0.9}, user_attrs=attrs))
    text = summary(study, DataConfig("mnist"), seconds=60)
    assert ("give the search more time" in text) is hint
