"""The time limit's arithmetic (sweep.search.budget) on made-up trials: no training, no TensorFlow."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from optuna.trial import FrozenTrial, TrialState

from sweep.choice.trials import finalists
from sweep.search.budget import (
    AFTER_RETRAIN_SECONDS,
    ANSWER_SHARE,
    FIGURES_SECONDS,
    GROW,
    SHARED_CORES_FACTOR,
    TEST_PASSES,
    TimeLimit,
    answer_candidates,
    as_monotonic,
    cross_validation_fits,
    duration,
)
from tests.fixtures import timed_trial

# 100 s for 5 epochs of 1,000 images: 0.02 s per image-epoch.
LIMIT = TimeLimit(ends_at=10_000.0, train_images=1_000, full_images=1_100, shared_cores=False)
SHARED = TimeLimit(ends_at=10_000.0, train_images=1_000, full_images=1_100, shared_cores=True)


def on_images(trial: FrozenTrial, images: int) -> FrozenTrial:
    """``trial``, recorded as trained on ``images`` training images."""
    trial.user_attrs["train_images"] = images
    return trial


@pytest.mark.parametrize(
    ("limit", "made", "seconds"),
    [
        # Same epochs, 10 % more images (train + validation).
        (LIMIT, timed_trial(0, 0.9), 110.0),
        # All its epochs, whatever its best epoch and schedule: its score is its last epochs'.
        (LIMIT, timed_trial(0, 0.9, best_epoch=2), 110.0),
        (LIMIT, timed_trial(0, 0.9, best_epoch=2, schedule="cosine"), 110.0),
        # Pruned after 1 of 5 epochs, that epoch took 20 s; a retrain would run all 5.
        (LIMIT, timed_trial(0, None, fit=20.0, epochs_run=1, best_epoch=1, state=TrialState.PRUNED), 110.0),
        # Cut by a deadline 30 s into its second epoch: its one whole epoch took 20 s, and it is
        # retrained for the one epoch it ran.
        (LIMIT, timed_trial(0, 0.9, fit=50.0, epochs_run=1, best_epoch=1, epochs_seconds=20.0, stopped=True), 22.0),
        # Trials that shared the cores ran slower than the retrain will, with all of them.
        (SHARED, timed_trial(0, 0.9), 110.0 * SHARED_CORES_FACTOR),
        # A worker's cheaper job trained on 250 of the 1,000 images: its epochs are a quarter's.
        (LIMIT, on_images(timed_trial(0, 0.9), 250), 440.0),
        # No timing recorded (a trial from before the time limit existed, or one that failed early).
        (LIMIT, timed_trial(0, 0.9, fit=None), None),
        (LIMIT, timed_trial(0, 0.9, epochs_run=0), None),
    ],
)
def test_retrain_seconds_scale_the_trials_own_speed(limit: TimeLimit, made: FrozenTrial, seconds: float | None) -> None:
    assert limit.retrain_seconds(made) == (None if seconds is None else pytest.approx(seconds))


@pytest.mark.parametrize(
    ("trials", "reserved"),
    [
        # Nothing complete yet: only what follows the retrain is kept back.
        ([], 0.0),
        ([timed_trial(0, None, state=TrialState.PRUNED)], 0.0),
        ([timed_trial(0, None, state=TrialState.RUNNING)], 0.0),
        # The best trial's retrain is kept back, not the slowest trial's.
        ([timed_trial(0, 0.95, fit=100.0), timed_trial(1, 0.90, fit=1000.0)], 110.0),
        # A costlier net becomes the best: the search must end earlier.
        ([timed_trial(0, 0.95, fit=100.0), timed_trial(1, 0.97, fit=1000.0)], 1100.0),
        # Ties go to the earlier trial, as on the leaderboard.
        ([timed_trial(3, 0.95, fit=1000.0), timed_trial(2, 0.95, fit=100.0)], 110.0),
        # The baseline's retrain is kept back too (the gain is measured against it)...
        ([timed_trial(0, 0.90, fit=50.0, baseline=True), timed_trial(1, 0.95, fit=100.0)], 55.0 + 110.0),
        # ...once: when it is the best, it is the answer.
        ([timed_trial(0, 0.96, fit=50.0, baseline=True), timed_trial(1, 0.95, fit=100.0)], 55.0),
    ],
)
def test_the_search_ends_early_enough_for_the_best_trials_retrain(trials: list[FrozenTrial], reserved: float) -> None:
    assert LIMIT.search_ends_at(trials) == pytest.approx(10_000.0 - reserved - AFTER_RETRAIN_SECONDS)


# 550 test images: half as many as train + validation.
TESTED = TimeLimit(ends_at=10_000.0, train_images=1_000, full_images=1_100, shared_cores=False, test_images=550)
VIEWED = replace(TESTED, views=5, input_shape=(28, 28, 1))


@pytest.mark.parametrize(
    ("limit", "made", "after"),
    [
        # An epoch of the retrain takes 22 s: the test images' passes, half as many images.
        (TESTED, timed_trial(0, 0.9, fit=100.0), AFTER_RETRAIN_SECONDS + TEST_PASSES * 22.0 / 2),
        # Ten times slower a machine (or a model): ten times longer passes; the rest stays.
        (TESTED, timed_trial(0, 0.9, fit=1000.0), AFTER_RETRAIN_SECONDS + TEST_PASSES * 220.0 / 2),
        # No timing, or no test images counted: only what does not scale.
        (TESTED, timed_trial(0, 0.9, fit=None), AFTER_RETRAIN_SECONDS),
        (TESTED, None, AFTER_RETRAIN_SECONDS),
        (LIMIT, timed_trial(0, 0.9, fit=100.0), AFTER_RETRAIN_SECONDS),
        # An answer trained on shifts of 1.4 pixels predicts over 5 views: 4 more passes.
        (VIEWED, timed_trial(0, 0.9, fit=100.0, augment=0.05), AFTER_RETRAIN_SECONDS + 3.5 * 22.0 / 2),
        (replace(VIEWED, views=1), timed_trial(0, 0.9, fit=100.0, augment=0.05), AFTER_RETRAIN_SECONDS + 1.5 * 11.0),
        # One trained on no shifts, or on shifts under a pixel: one view.
        (VIEWED, timed_trial(0, 0.9, fit=100.0, augment=0.0), AFTER_RETRAIN_SECONDS + TEST_PASSES * 22.0 / 2),
        (
            replace(VIEWED, input_shape=(8, 8, 1)),
            timed_trial(0, 0.9, fit=100.0, augment=0.05),
            AFTER_RETRAIN_SECONDS + 16.5,
        ),
    ],
)
def test_what_follows_the_retrain_scales_with_the_answers_speed(
    limit: TimeLimit, made: FrozenTrial | None, after: float
) -> None:
    assert limit.after_retrain_seconds(made) == pytest.approx(after)


def with_latency(trial: FrozenTrial, ms: float) -> FrozenTrial:
    """``trial``, its model's float32 latency in LiteRT recorded."""
    trial.user_attrs["latency_ms"] = ms
    return trial


@pytest.mark.parametrize(
    ("limit", "made", "after"),
    [
        # 10 ms an image: the answer's pass, the model alone and the baseline's, 5.5 s each.
        (TESTED, with_latency(timed_trial(0, 0.9, fit=100.0), 10.0), AFTER_RETRAIN_SECONDS + 2 * 5.5 + FIGURES_SECONDS),
        # Its training's speed no longer counts: short runs' epochs are mostly overhead.
        (TESTED, with_latency(timed_trial(0, 0.9, fit=1000.0), 10.0), AFTER_RETRAIN_SECONDS + 11.0 + FIGURES_SECONDS),
        # Over 5 views: 5 passes, the model alone, the baseline's, 5 conversions.
        (
            VIEWED,
            with_latency(timed_trial(0, 0.9, fit=100.0, augment=0.05), 10.0),
            AFTER_RETRAIN_SECONDS + 7 * 5.5 + 5 * FIGURES_SECONDS,
        ),
        # No test images counted: the training's speed, which then counts none.
        (LIMIT, with_latency(timed_trial(0, 0.9, fit=100.0), 10.0), AFTER_RETRAIN_SECONDS),
    ],
)
def test_what_follows_the_retrain_is_planned_from_the_answers_latency(
    limit: TimeLimit, made: FrozenTrial, after: float
) -> None:
    assert limit.after_retrain_seconds(made) == pytest.approx(after)


@pytest.mark.parametrize(
    ("alone", "answer", "models", "after"),
    [
        # One model over one view: its pass and the baseline's through 550 test images.
        (0.01, 0.01, 1, AFTER_RETRAIN_SECONDS + 2 * 5.5 + FIGURES_SECONDS),
        # 2 models over 5 views: their pass, the first model's alone, the baseline's, 10 conversions.
        (0.01, 0.08, 10, AFTER_RETRAIN_SECONDS + 44.0 + 2 * 5.5 + 10 * FIGURES_SECONDS),
        # A pass too quick to time: what does not scale.
        (0.0, 0.0, 1, AFTER_RETRAIN_SECONDS + FIGURES_SECONDS),
    ],
)
def test_what_follows_the_retrain_from_its_timed_passes(alone: float, answer: float, models: int, after: float) -> None:
    assert TESTED.after_measured_seconds(alone, answer, models) == pytest.approx(after)


@pytest.mark.parametrize(("alone", "answer", "models"), [(-0.01, 0.01, 1), (0.01, -1.0, 2), (0.01, 0.01, 0)])
def test_impossible_passes_are_refused_with_their_values(alone: float, answer: float, models: int) -> None:
    with pytest.raises(ValueError, match=f"{models} models"):
        TESTED.after_measured_seconds(alone, answer, models)


def test_the_search_keeps_back_the_answers_test_passes() -> None:
    best = timed_trial(0, 0.95, fit=1000.0)
    passes = TEST_PASSES * 220.0 / 2
    assert TESTED.search_ends_at([best]) == pytest.approx(10_000.0 - 1100.0 - AFTER_RETRAIN_SECONDS - passes)


@pytest.mark.parametrize(
    ("trials", "kept", "reserved"),
    [
        # No trial is the baseline (KerasTuner's study): its measured estimate is kept back.
        ([timed_trial(0, 0.95, fit=100.0)], True, 110.0 + 55.0),
        # A worker took its retrain: nothing for it.
        ([timed_trial(0, 0.95, fit=100.0)], False, 110.0),
        # A baseline trial times it itself: the estimate is not used.
        ([timed_trial(0, 0.90, fit=20.0, baseline=True), timed_trial(1, 0.95, fit=100.0)], True, 22.0 + 110.0),
    ],
)
def test_a_baseline_without_a_trial_is_kept_back_from_its_measured_speed(
    trials: list[FrozenTrial], kept: bool, reserved: float
) -> None:
    untimed = TimeLimit(10_000.0, 1_000, 1_100, shared_cores=False, baseline_seconds=55.0)
    assert untimed.search_ends_at(trials, baseline_kept=kept) == pytest.approx(
        10_000.0 - reserved - AFTER_RETRAIN_SECONDS
    )


def test_a_retrain_is_skipped_only_when_it_would_end_after_the_limit() -> None:
    now = time.time()
    needs_110 = timed_trial(0, 0.9)
    enough = TimeLimit(now + 110 + AFTER_RETRAIN_SECONDS + 60, 1_000, 1_100, shared_cores=False)
    assert enough.skip_line(needs_110, "the baseline") is None
    short = TimeLimit(now + 60, 1_000, 1_100, shared_cores=False)
    line = short.skip_line(needs_110, "the baseline")
    assert line is not None and line.startswith("Not retraining the baseline: it needs about 1.8 min")
    assert "--time-limit" in line
    # Unknown cost (no timing, or no baseline trial): retrain, there is no telling.
    assert short.skip_line(timed_trial(0, 0.9, fit=None), "the baseline") is None
    assert short.skip_line(None, "the baseline") is None


@pytest.mark.parametrize(("seconds", "text"), [(0.4, "0 s"), (89, "89 s"), (90, "1.5 min"), (426, "7.1 min")])
def test_durations_read_as_seconds_or_minutes(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_wall_clock_deadlines_become_monotonic_ones() -> None:
    assert as_monotonic(time.time() + 100) - time.monotonic() == pytest.approx(100, abs=1)


@pytest.mark.parametrize(
    ("timeout", "limit_left", "ends_in", "cause"),
    [
        (600.0, None, 600, "timeout"),
        (None, 200.0, 200 - AFTER_RETRAIN_SECONDS, "time_limit"),
        (600.0, 200.0, 200 - AFTER_RETRAIN_SECONDS, "time_limit"),  # the limit needs the rest first
        (100.0, 200.0, 100, "timeout"),
    ],
)
def test_the_search_deadline_is_the_earlier_of_the_timeout_and_the_time_limit(
    timeout: float | None, limit_left: float | None, ends_in: float, cause: str
) -> None:
    import optuna

    from sweep.search.budget import search_deadline

    started = time.monotonic()
    limit = (
        None if limit_left is None else TimeLimit(time.time() + limit_left, 1_000, 1_100, shared_cores=False)
    )  # no trial: no retrain yet
    deadline = search_deadline(optuna.create_study(), timeout, started, limit)
    assert deadline is not None and deadline() - started == pytest.approx(ends_in, abs=1)
    assert deadline.cause() == cause
    assert search_deadline(optuna.create_study(), None, started, None) is None


def test_a_starting_point_gets_a_share_of_the_time_left_and_room_for_its_retrain() -> None:
    from sweep.search.budget import STARTING_POINT_SHARE

    now = time.time()
    limit = TimeLimit(now + 1000 + AFTER_RETRAIN_SECONDS, 1_000, 1_100, shared_cores=False)
    # 1,000 s left after the baseline's retrain (here 100 s) and the export: a share of it...
    assert limit.starting_point_seconds(now, 100.0) == pytest.approx(STARTING_POINT_SHARE * 900)
    assert limit.starting_point_seconds(now + 2000, 0.0) == 0.0
    # ...but never more than leaves room for its own retrain before the end: with half the
    # images held out for validation, a retrain takes twice as long as its trial.
    halved = TimeLimit(now + 1000 + AFTER_RETRAIN_SECONDS, 1_000, 2_000, shared_cores=False)
    assert halved.starting_point_seconds(now, 0.0) == pytest.approx(1000 / 3)


def test_the_fastest_rate_any_trial_reached() -> None:
    from sweep.search.budget import fastest_rate

    slow, fast, untimed = timed_trial(0, 0.9), timed_trial(1, 0.9), timed_trial(2, None, state=TrialState.PRUNED)
    slow.user_attrs.update(train_flops=1e9, epochs_seconds=10.0, epochs_run=5)  # 0.5 GFLOP/s
    fast.user_attrs.update(train_flops=4e9, epochs_seconds=10.0, epochs_run=5)  # 2 GFLOP/s
    assert fastest_rate([slow, fast, untimed]) == pytest.approx(2e9)
    assert fastest_rate([untimed]) is None


def test_cross_validating_the_finalists_is_kept_back_from_the_search() -> None:
    from sweep.search.rescore import FOLDS

    base = timed_trial(0, 0.90, fit=50.0, baseline=True)
    best, second = timed_trial(1, 0.95, fit=100.0), timed_trial(2, 0.94, fit=200.0, schedule="cosine")
    plain = TimeLimit(10_000.0, 1_000, 1_100, shared_cores=False)
    checked = TimeLimit(10_000.0, 1_000, 1_100, shared_cores=False, cross_validation_seconds=2000.0)
    trials = [base, best, second]
    assert plain.after_search_seconds(trials) == pytest.approx(110 + 55 + AFTER_RETRAIN_SECONDS)
    # Every finalist FOLDS times, each fold about as long as a retrain (a new model each), then
    # the costliest finalist's retrain as the answer (the answer may be any of them; a decaying
    # schedule grows to GROW times its epochs) and the baseline's.
    folds = FOLDS * (55 + 110 + 220)
    answer = GROW * 220
    assert checked.cross_validation_cost(trials) == pytest.approx(folds)
    assert checked.after_search_seconds(trials) == pytest.approx(folds + answer + 55 + AFTER_RETRAIN_SECONDS)
    # Not cross-validated, the answer is the best trial, the best starting point or the
    # baseline: the best's retrain is kept back, not the costliest finalist's...
    assert checked.after_search_seconds(trials, cross_validate=False) == pytest.approx(110 + 55 + AFTER_RETRAIN_SECONDS)
    # ...or a starting point's, where it is costlier (sweep.search.rescore.choose may take it).
    start = timed_trial(3, 0.93, fit=150.0)
    start.user_attrs["portfolio"] = "small"
    assert checked.after_search_seconds([*trials, start], cross_validate=False) == pytest.approx(
        165 + 55 + AFTER_RETRAIN_SECONDS
    )
    # Over its budget, cross-validation is not planned for (but can be counted on demand).
    tight = TimeLimit(10_000.0, 1_000, 1_100, shared_cores=False, cross_validation_seconds=folds - 1)
    assert tight.after_search_seconds(trials) == pytest.approx(110 + 55 + AFTER_RETRAIN_SECONDS)
    assert tight.after_search_seconds(trials, cross_validate=True) == pytest.approx(
        folds + answer + 55 + AFTER_RETRAIN_SECONDS
    )


def test_the_answers_the_search_plans_for_are_those_the_rule_may_take() -> None:
    base = timed_trial(0, 0.90, fit=50.0, baseline=True)
    small, double = timed_trial(1, 0.93, fit=100.0), timed_trial(2, 0.94, fit=350.0)
    small.user_attrs["portfolio"], double.user_attrs["portfolio"] = "small", "double"
    best, other = timed_trial(3, 0.95, fit=80.0), timed_trial(4, 0.91, fit=90.0)
    trials = [base, small, double, best, other]
    # The best trial, the best starting point (`double`), the portfolio's first (`small`, the
    # answer on a share) and the baseline; not trial 4.
    assert [t.number for t in answer_candidates(trials, cross_validated=False)] == [3, 2, 1, 0]
    assert [t.number for t in answer_candidates(trials, cross_validated=True)] == [t.number for t in finalists(trials)]
    plain = TimeLimit(10_000.0, 1_000, 1_100, shared_cores=False)
    assert plain.planned_answers(trials) == answer_candidates(trials, cross_validated=False)


def test_the_baselines_folds_done_by_a_worker_are_not_kept_back() -> None:
    from sweep.search.rescore import FOLDS

    base = timed_trial(0, 0.90, fit=50.0, baseline=True)
    best, second = timed_trial(1, 0.95, fit=100.0), timed_trial(2, 0.94, fit=200.0, schedule="cosine")
    checked = TimeLimit(10_000.0, 1_000, 1_100, shared_cores=False, cross_validation_seconds=2000.0)
    trials = [base, best, second]
    assert checked.cross_validation_cost(trials, baseline=False) == pytest.approx(FOLDS * (110 + 220))
    after = checked.after_search_seconds(trials, baseline_kept=False, folds_kept=False)
    assert after == pytest.approx(FOLDS * (110 + 220) + GROW * 220 + AFTER_RETRAIN_SECONDS)
    assert checked.search_ends_at(trials, False, False) == pytest.approx(10_000.0 - after)
    # Only the baseline's folds within the budget: the search plans for the others'.
    tight = TimeLimit(10_000.0, 1_000, 1_100, shared_cores=False, cross_validation_seconds=FOLDS * (110 + 220))
    assert tight.after_search_seconds(trials) == pytest.approx(110 + 55 + AFTER_RETRAIN_SECONDS)  # no room
    assert tight.after_search_seconds(trials, folds_kept=False) == pytest.approx(after + 55)


@pytest.mark.parametrize(
    ("trials", "budget", "shared", "left", "expected"),
    [
        # FOLDS retrains of the baseline at its trial's speed: 4 × 55 s.
        ("base best", 2000.0, False, 1000.0, 220.0),
        # On a worker's one core: as fast as its trial, not the retrain on every core.
        ("base best", 2000.0, True, 1000.0, 220.0),
        ("base best", 2000.0, False, 400.0, None),  # more than half the search's time left
        ("base best", 439.0, False, 1000.0, None),  # the best trial's folds alone exceed the budget
        ("base best", 0.0, False, 1000.0, None),  # no cross-validation (a large validation split)
        ("best", 2000.0, False, 1000.0, None),  # the baseline has not completed
        ("base", 2000.0, False, 1000.0, None),  # no other finalist yet
    ],
)
def test_a_worker_cross_validates_the_baseline_where_the_folds_will_be_wanted_and_fit(
    trials: str, budget: float, shared: bool, left: float, expected: float | None
) -> None:
    made = {"base": timed_trial(0, 0.90, fit=50.0, baseline=True), "best": timed_trial(1, 0.95, fit=100.0)}
    limit = TimeLimit(10_000.0, 1_000, 1_100, shared_cores=shared, cross_validation_seconds=budget)
    seconds = limit.baseline_folds_seconds([made[name] for name in trials.split()], left)
    assert seconds == (None if expected is None else pytest.approx(expected))


def test_small_validation_splits_get_a_share_of_the_limit_for_cross_validation() -> None:
    from sweep.data.registry import load_dataset
    from sweep.search.budget import CROSS_VALIDATION_SHARE

    digits = load_dataset("digits")  # 144 validation images
    limit = TimeLimit.for_data(time.time() + 1000, digits, shared_cores=True, seconds=1000.0)
    assert limit.cross_validation_seconds == pytest.approx(CROSS_VALIDATION_SHARE * 1000)
    assert (limit.train_images, limit.full_images) == (1293, 1437)


def test_the_time_line_names_each_phase_and_how_busy_the_workers_were(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime, timedelta

    from sweep.search.budget import Clock, busy_seconds

    clock = Clock()
    clock.started -= 600
    clock._mark -= 600
    clock.lap("search")
    clock.phases["search"] = 480.0
    clock.phases["retraining"] = 100.0
    line = clock.summary(1140.0, workers=2, busy=864.0)
    assert line.startswith(
        "Time: 10.0 min of the 19.0 min limit: search 8.0 min (2 workers busy "
        "90% of it, idle 1.6 min), retraining 1.7 min; 9.0 min of it unused."
    )
    start = datetime(2026, 1, 1)
    ran = timed_trial(0, 0.9)
    ran.datetime_start, ran.datetime_complete = start, start + timedelta(seconds=100)
    assert busy_seconds([ran], (start + timedelta(seconds=40)).timestamp()) == pytest.approx(60)
    assert busy_seconds([ran], None) == 0.0


@pytest.mark.parametrize(
    ("needed", "left", "fits"),
    [
        (100, 200, True),
        (234, 228, True),  # digits on one core: 3.9 min needed, 3.8 min left
        (200, 171, True),  # 30 s of slack
        (200, 169, False),
        (600, 545, True),  # 10 % of a longer cost
        (600, 535, False),
        (3258, 312, False),  # MNIST-10k on one core: 54 min needed, 5 left
    ],
)
def test_cross_validation_may_overrun_its_estimate_a_little(needed: float, left: float, fits: bool) -> None:
    assert cross_validation_fits(needed, left) is fits


@pytest.mark.parametrize(
    ("made", "seconds", "epochs"),
    [
        # 22 s an epoch on train + validation. No time limit length: its own epochs...
        (timed_trial(1, 0.95), None, 5),
        # ...grown to GROW times where its learning rate decays and the time allows...
        (timed_trial(1, 0.95, schedule="cosine"), 1_000.0, int(GROW * 5)),
        (timed_trial(1, 0.95, schedule="one_cycle"), 1_000.0, int(GROW * 5)),
        # ...but not with a constant rate (a longer run of it is no better),
        (timed_trial(1, 0.95), 1_000.0, 5),
        # shrunk to what the time holds,
        (timed_trial(1, 0.95, schedule="cosine"), 70.0, 3),
        # at least one epoch,
        (timed_trial(1, 0.95, schedule="cosine"), 5.0, 1),
        # and with all the time there is, its cap.
        (timed_trial(1, 0.95, schedule="cosine"), float("inf"), int(GROW * 5)),
        # and the baseline as written, whatever the time.
        (timed_trial(0, 0.95, schedule="cosine", baseline=True), 1_000.0, 5),
        (timed_trial(0, 0.95, baseline=True), 5.0, 5),
    ],
)
def test_the_answer_retrains_for_the_epochs_the_time_holds(
    made: FrozenTrial, seconds: float | None, epochs: int
) -> None:
    assert LIMIT.answer_epochs(made, seconds) == epochs


def test_the_answer_takes_at_most_its_share_of_the_limit_and_caps_the_trials_epochs() -> None:
    limit = TimeLimit(10_000.0, 1_000, 1_100, shared_cores=False, seconds=1_000.0)
    # ANSWER_SHARE of 1,000 s holds int(300 / 22) epochs of 22 s on train + validation.
    held = int(ANSWER_SHARE * 1_000 // 22)
    assert limit.answer_epochs(timed_trial(1, 0.95, epochs=30, epochs_run=30, fit=600.0)) == held
    # The time kept for it is the share in full, not rounded down to whole epochs (the retrain
    # re-plans from its own speed),
    assert limit.answer_seconds(timed_trial(1, 0.95, epochs=30, epochs_run=30, fit=600.0)) == pytest.approx(
        ANSWER_SHARE * 1_000
    )
    # no more than its epochs need (5 of 22 s, no decay to grow them),
    assert limit.answer_seconds(timed_trial(1, 0.95, epochs=5, epochs_run=5, fit=100.0)) == pytest.approx(5 * 22)
    # and at least one epoch.
    assert limit.answer_seconds(timed_trial(1, 0.95, epochs=5, epochs_run=5, fit=2_000.0)) == pytest.approx(440)
    # A trial's epochs of 20 s (on its 1,000 images) are 22 s on all 1,100: the same cap.
    assert limit.epochs_cap(20.0) == held
    assert LIMIT.epochs_cap(20.0) is None  # no length: no cap
    assert limit.epochs_cap(5.0, images=250) == held  # 5 s epochs on a quarter of the images
    # Validation is left out of an epoch's time where it was timed apart.
    timed = timed_trial(1, 0.95, epochs=30, epochs_run=30, fit=900.0)
    timed.user_attrs["train_seconds"] = 600.0
    assert limit.epoch_seconds(timed) == pytest.approx(22.0)


@pytest.mark.parametrize(
    ("fit", "side_by_side", "kept"),
    [
        # 5 epochs of 20 s on one core, 22 s on all the images, grown to 10 (cosine): one model on
        # both cores takes 0.65 of that; two side by side, one a core, the whole 220 s.
        (100.0, True, 220.0),
        (100.0, False, 220.0 * SHARED_CORES_FACTOR),
        # Two would need 440 s, over the share (350 s): one model's time is kept.
        (200.0, True, 440.0 * SHARED_CORES_FACTOR),
    ],
)
def test_the_time_kept_for_the_answer_holds_models_side_by_side_where_they_fit_its_share(
    fit: float, side_by_side: bool, kept: float
) -> None:
    limit = TimeLimit(10_000.0, 1_000, 1_100, shared_cores=True, seconds=1_000.0, side_by_side=side_by_side)
    chosen = timed_trial(1, 0.95, epochs=5, epochs_run=5, fit=fit, schedule="cosine")
    assert limit.answer_seconds(chosen) == pytest.approx(kept)


def test_the_benchmarks_share_variable_sets_the_answers_share_and_a_bad_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sweep.data.registry import load_dataset
    from sweep.errors import UsageError
    from sweep.search.budget import SHARE_VARIABLE

    digits = load_dataset("digits")
    monkeypatch.delenv(SHARE_VARIABLE, raising=False)
    assert TimeLimit.for_data(time.time() + 1000, digits, True, 1000.0).answer_share == ANSWER_SHARE
    monkeypatch.setenv(SHARE_VARIABLE, "0.6")
    limit = TimeLimit.for_data(time.time() + 1000, digits, True, 1000.0)
    assert limit.answer_share == 0.6 and limit.epochs_cap(20.0 / limit.retrain_ratio()) == 30  # 600 s of 20 s epochs
    for bad in ("1", "0", "-0.2", "half", "nan"):
        monkeypatch.setenv(SHARE_VARIABLE, bad)
        with pytest.raises(UsageError, match=f"{SHARE_VARIABLE}='{bad}'.*above 0 and below 1"):
            TimeLimit.for_data(time.time() + 1000, digits, True, 1000.0)


def test_a_baseline_retrained_by_a_worker_is_not_kept_back() -> None:
    base = timed_trial(0, 0.90, fit=50.0, baseline=True)
    best = timed_trial(1, 0.95, fit=100.0)
    assert LIMIT.after_search_seconds([base, best]) == pytest.approx(110 + 55 + AFTER_RETRAIN_SECONDS)
    assert LIMIT.after_search_seconds([base, best], baseline_kept=False) == pytest.approx(110 + AFTER_RETRAIN_SECONDS)
    # Where the baseline is the answer, the worker's retrain is the answer's too (sweep.commands.retrain).
    winner = timed_trial(0, 0.96, fit=50.0, baseline=True)
    assert LIMIT.after_search_seconds([winner, best]) == pytest.approx(55 + AFTER_RETRAIN_SECONDS)
    assert LIMIT.after_search_seconds([winner, best], baseline_kept=False) == pytest.approx(AFTER_RETRAIN_SECONDS)


@pytest.mark.parametrize(
    ("epochs", "every", "step"),
    [
        (3.0, 32, 300),  # whole epochs: each one's end
        (2.7, 32, 200 + 64),  # 70 of the third's 100 steps: Keras stops after whole calls of 32
        (2.2, 32, 200),  # less than one call: the second epoch's end
        (2.99, 100, 200),  # whole epochs only (a trial's plan)
        (0.5, 32, 32),
    ],
)
def test_stop_step(epochs: float, every: int, step: int) -> None:
    from sweep.models.params import stop_step

    assert stop_step(epochs, 100, every) == step


@pytest.mark.parametrize(
    ("done", "seconds_left", "epochs"),
    [
        (2, 25.0, 4.5),  # 10 s epochs: two and a half more
        (2, 100.0, 6.0),  # at most the run's most
        (2, -5.0, 2.0),  # past the deadline: what is done
        (2, 5.0, 2.5),  # half an epoch more: a trial, in whole epochs, keeps the 2 it has done
    ],
)
def test_epochs_in_time(done: int, seconds_left: float, epochs: float) -> None:
    from sweep.models.params import epochs_in_time

    assert epochs_in_time(6, done, 10.0, seconds_left) == pytest.approx(epochs)
