"""The pure parts of ``make bench``: the peers' search space, time to a target, the floor,
where the workers' time went.

The benchmarks themselves train for minutes and time things, so they are never run by tests.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from optuna.trial import FrozenTrial, TrialState

from sweep.bench import first_reaching, peers_space, time_use
from sweep.params import BASELINES
from sweep.spaces import parse_space
from sweep.speed import floor_seconds
from sweep.study import max_epochs


def test_peers_space_is_the_mnist_space_with_kerastuners_max_epochs() -> None:
    space = parse_space(yaml.safe_load(peers_space()), "peers")
    shipped = parse_space(yaml.safe_load(open("search_spaces/mnist.yaml").read()), "mnist")
    assert max_epochs(space, BASELINES["mnist"]) == 9
    assert space.distributions["epochs"].low == 1
    assert {n: d for n, d in space.distributions.items() if n != "epochs"} == {
        n: d for n, d in shipped.distributions.items() if n != "epochs"}
    assert space.first_trials == shipped.first_trials and shipped.first_trials
    # The peers that stand for KerasTuner and plain Optuna start without them.
    assert parse_space(yaml.safe_load(peers_space(first_trials=False)), "peers").first_trials == ()


@pytest.mark.parametrize(("target", "seconds"), [
    (0.5, 10.0),  # the first point already reaches it
    (0.97, 30.0),
    (0.98, 30.0),  # reached exactly
    (0.99, None),  # never
])
def test_first_reaching(target: float, seconds: float | None) -> None:
    curve = pd.DataFrame({"seconds": [10.0, 20.0, 30.0, 40.0],
                          "best_val_accuracy": [0.9, 0.95, 0.98, 0.98]})
    assert first_reaching(curve, target) == seconds


def test_floor_seconds_is_flops_over_rate() -> None:
    # The figures: 15.4 MFLOP per image at 159 GFLOP/s is about 5.8 s per 60k images.
    assert floor_seconds(15.4e6, 159.0) == pytest.approx(5.81, abs=0.01)
    assert floor_seconds(1e9, 1.0, images=3) == pytest.approx(3.0)


def test_cpu_info_reads_the_first_processors_fields(tmp_path: Path) -> None:
    from sweep.backend import cpu_info

    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx2 fma\n\n"
                    "processor\t: 1\nmodel name\t: other\n")
    assert cpu_info("model name", str(info)) == "AMD EPYC"
    assert cpu_info("flags", str(info)).split() == ["fpu", "avx2", "fma"]
    assert cpu_info("bogomips", str(info)) == ""
    assert cpu_info("flags", str(tmp_path / "missing")) == ""


def _timed_trial(number: int, start: float, end: float, fit: float) -> FrozenTrial:
    zero = datetime(2026, 1, 1)
    return FrozenTrial(
        number=number, state=TrialState.COMPLETE, value=0.99, values=None,
        datetime_start=zero + timedelta(seconds=start), datetime_complete=zero + timedelta(seconds=end),
        params={}, distributions={}, user_attrs={"fit_seconds": fit}, system_attrs={},
        intermediate_values={}, trial_id=number,
    )


def test_time_use_splits_worker_time_into_fit_around_it_and_between_trials() -> None:
    # Two workers over 0-20 s. Worker A: trial 0 in 0-9 s (8 s of fit), a 2 s restart, trial 2
    # in 11-20 s (7 s). Worker B: trial 1 in 1-18 s (15 s), then idle until 20 s.
    trials = [_timed_trial(0, 0, 9, 8.0), _timed_trial(1, 1, 18, 15.0), _timed_trial(2, 11, 20, 7.0)]
    use = time_use(trials, workers=2)
    assert use == {"trials": 3, "trial_span_s": 20.0, "trials_per_hour": 540.0,
                   "fit_s": 10.0, "in_trial_s": 1.67, "between_trials_s": 1.67}
    # Every worker-second of the span is counted once: in fit, around it, or between trials.
    assert 3 * (use["fit_s"] + use["in_trial_s"] + use["between_trials_s"]) == pytest.approx(2 * 20, abs=0.05)
    with pytest.raises(ValueError, match="at least one"):
        time_use([], workers=2)
