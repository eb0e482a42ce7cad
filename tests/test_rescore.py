"""Which trial becomes the answer (sweep.search.rescore.choose), on made-up trials and correctness vectors: no
training."""

from __future__ import annotations

import numpy as np
import pytest
from optuna.trial import FrozenTrial

from sweep.search.rescore import by_accuracy, choose
from tests.fixtures import candidate_trial


def right(count: int, of: int = 1000) -> np.ndarray:
    """``count`` of ``of`` images right, the first ones."""
    return np.arange(of) < count


BASE = candidate_trial(0, 0.90, baseline=True)


@pytest.mark.parametrize(
    ("best_right", "answer", "says"),
    [
        # 960 against 900 of 1,000 images: clearly better.
        (960, 1, "trial 1, the best on validation (1000 images): +0.0600 (95 % interval +0.0443 to +0.0757)"),
        # 905 against 900: five images prove nothing; the baseline stays the answer.
        (905, 0, "the baseline: the best trial, 1, is not clearly better on validation"),
        # Worse on these images than the baseline, though ranked first by its score.
        (890, 0, "the baseline: no trial beat it on validation"),
    ],
)
def test_the_best_trial_must_be_clearly_better_than_the_baseline(best_right: int, answer: int, says: str) -> None:
    best = candidate_trial(1, 0.95)
    chosen, why = choose([best, BASE], BASE, {0: right(900), 1: right(best_right)}, "validation (1000 images)")
    assert chosen.number == answer and why.startswith(says)


def starting(number: int, value: float, name: str = "small") -> FrozenTrial:
    """A starting point of the portfolio."""
    made = candidate_trial(number, value, dense=number)
    made.user_attrs["portfolio"] = name
    return made


@pytest.mark.parametrize(
    ("best_right", "start_right", "answer", "says"),
    [
        # The best trial is not clearly better, nor is the baseline clearly better than the
        # starting point: the rule takes the starting point.
        (
            905,
            890,
            2,
            "trial 2 (small), the best starting point: no trial is clearly better than the baseline on "
            "validation (1000 images) (the best, trial 1: +0.0050",
        ),
        # No trial beat the baseline on these images, the starting point within noise of it.
        (
            895,
            890,
            2,
            "trial 2 (small), the best starting point: no trial is clearly better than the baseline on "
            "validation (1000 images), and",
        ),
        # The baseline clearly better than the starting point: it stays.
        (905, 840, 0, "the baseline: the best trial, 1, is not clearly better"),
        # A clear winner is the answer whatever the starting point.
        (960, 890, 1, "trial 1, the best on validation"),
    ],
)
def test_where_no_trial_is_clearly_better_the_rule_takes_the_best_starting_point(
    best_right: int, start_right: int, answer: int, says: str
) -> None:
    best, start = candidate_trial(1, 0.95), starting(2, 0.94)
    # The starting point errs on other images than the baseline: 50 of its right ones are not.
    correct = {0: right(900), 1: right(best_right), 2: np.roll(right(start_right), 50)}
    chosen, why = choose([best, start, BASE], BASE, correct, "validation (1000 images)")
    assert chosen.number == answer and why.startswith(says)


def test_where_trials_explored_on_a_share_the_baselines_lead_there_does_not_keep_it() -> None:
    best, start = candidate_trial(1, 0.95), starting(2, 0.94)
    correct = {0: right(905), 1: right(905), 2: np.roll(right(840), 50)}  # the baseline clearly ahead
    assert choose([best, start, BASE], BASE, correct, "validation")[0] is BASE
    chosen, why = choose([best, start, BASE], BASE, correct, "validation", shared=True)
    assert chosen is start and "explored on a share of the images" in why


def trained(trial: FrozenTrial, epochs: int, batch_size: int, images: int = 6_000) -> FrozenTrial:
    """``trial`` with the record of ``epochs`` over ``images`` training images in batches of ``batch_size``."""
    trial.user_attrs.update(train_images=images, epochs_run=epochs)
    trial.user_attrs["params"] = {**trial.user_attrs["params"], "batch_size": batch_size}
    return trial


@pytest.mark.parametrize(
    ("epochs", "batch_size", "best_right", "answer", "says"),
    [
        # 5 epochs in batches of 64 (470 steps) against the starting point's 2 of 128 (94): a lead
        # taken in five times the steps is not evidence (MNIST at the slowest kind's speed).
        (
            5,
            64,
            980,
            2,
            "trial 2 (small), the portfolio's first starting point: trials explored on a share of the images, "
            "and no trial is clearly better than it on validation in as few optimizer steps (94 steps; trial 1 led by "
            "+0.0400",
        ),
        # As clear a lead in as few steps (2 epochs of 128): the trial is the answer.
        (
            2,
            128,
            980,
            1,
            "trial 1, the best on validation in no more optimizer steps than the portfolio's first "
            "starting point, trial 2 (small): +0.0400",
        ),
        # In fewer steps but within noise of it: the starting point.
        (1, 256, 945, 2, "trial 2 (small), the portfolio's first starting point"),
    ],
)
def test_on_a_share_a_trial_displaces_the_starting_point_only_when_clearly_better_in_as_few_steps(
    epochs: int, batch_size: int, best_right: int, answer: int, says: str
) -> None:
    best = trained(candidate_trial(1, 0.98), epochs, batch_size)
    start = trained(starting(2, 0.94), 2, 128)
    base = trained(candidate_trial(0, 0.97, baseline=True), 5, 32)
    correct = {0: right(970), 1: right(best_right), 2: right(940)}
    chosen, why = choose([best, base, start], base, correct, "validation", shared=True)
    assert chosen.number == answer and why.startswith(says), why


@pytest.mark.parametrize(
    ("double_right", "answer", "says"),
    [
        # `double` ahead of `small` within noise (MNIST at the slowest speed, a 65 % share: +0.0012,
        # then 0.57 epochs in the answer's time): the cheaper, the portfolio's first.
        (952, 2, "trial 2 (small), the portfolio's first starting point"),
        # Clearly ahead in as many steps: `double`.
        (990, 3, "trial 3, the best on validation in no more optimizer steps"),
    ],
)
def test_on_a_share_a_costlier_starting_point_must_be_clearly_better_than_the_first(
    double_right: int, answer: int, says: str
) -> None:
    small, double = trained(starting(2, 0.94), 2, 128), trained(starting(3, 0.95, "double"), 2, 128)
    base = trained(candidate_trial(0, 0.90, baseline=True), 5, 32)
    correct = {0: right(900), 2: right(940), 3: np.roll(right(double_right), 50)}  # they err on other images
    assert choose([double, small, base], base, correct, "validation")[0] is double  # on every image: the best
    chosen, why = choose([double, small, base], base, correct, "validation", shared=True)
    assert chosen.number == answer and why.startswith(says), why


@pytest.mark.parametrize(
    ("best_right", "start_right", "base_right", "answer", "says"),
    [
        # MNIST 1k at this machine's speed: a sampled trial got all 100 validation images right,
        # `small` 98 and the baseline 89. Clearly better than the baseline, not than `small`.
        (
            100,
            98,
            89,
            2,
            "trial 2 (small), the best starting point: on validation (100 images), too few to choose on, no trial is "
            "clearly better than it; trial 1 led by +0.0200",
        ),
        # Within noise of it and behind it: the starting point, no lead to report.
        (97, 98, 89, 2, "trial 2 (small), the best starting point: on validation (100 images), too few to choose on"),
        # The baseline clearly better than the starting point: the usual rule (the best trial,
        # clearly better than the baseline).
        (100, 70, 89, 1, "trial 1, the best on validation (100 images): +0.1100"),
    ],
)
def test_on_a_validation_split_too_small_to_choose_on_a_trial_must_be_clearly_better_than_the_starting_point(
    best_right: int, start_right: int, base_right: int, answer: int, says: str
) -> None:
    best, start = candidate_trial(1, 1.0), starting(2, 0.98)
    correct = {0: right(base_right, 100), 1: right(best_right, 100), 2: right(start_right, 100)}
    where = "validation (100 images)"
    assert choose([best, start, BASE], BASE, correct, where)[0].number == (1 if best_right > base_right else 2)
    chosen, why = choose([best, start, BASE], BASE, correct, where, small=True)
    assert chosen.number == answer and why.startswith(says), why


def test_on_a_small_split_a_trial_clearly_better_than_the_starting_point_is_the_answer() -> None:
    best, start = candidate_trial(1, 0.99), starting(2, 0.90)
    correct = {0: right(80, 200), 1: right(198, 200), 2: right(170, 200)}
    chosen, why = choose([best, start, BASE], BASE, correct, "validation (200 images)", small=True)
    assert chosen is best and why.startswith("trial 1, the best on validation (200 images): +0.1400"), why
    assert why.endswith("over the best starting point")


def test_the_rule_takes_the_first_starting_point_with_evidence_within_the_limits() -> None:
    best, first, second = candidate_trial(1, 0.95), starting(2, 0.94), starting(3, 0.93, "double")
    correct = {0: right(900), 1: right(905), 3: np.roll(right(900), 50)}  # no evidence kept for trial 2
    assert choose([best, first, second, BASE], BASE, correct, "validation")[0].number == 3
    second.user_attrs["infeasible"] = "over MAX_PARAMS"
    assert choose([best, first, second, BASE], BASE, correct, "validation")[0].number == 0  # the baseline


def test_without_a_baseline_or_its_evidence_the_best_trial_is_the_answer() -> None:
    best = candidate_trial(1, 0.95)
    assert choose([best], None, {}, "validation")[0] is best  # KerasTuner: no baseline trial
    assert choose([best, BASE], BASE, {}, "validation")[0] is best  # an older study
    assert choose([BASE], BASE, {0: right(900)}, "validation")[0] is BASE  # nothing else ran


def test_cross_validated_finalists_are_ranked_by_their_accuracy_across_folds() -> None:
    first, second = candidate_trial(1, 0.99), candidate_trial(2, 0.98)
    correct = {0: right(900), 1: right(940), 2: right(970)}
    ranked = by_accuracy([first, second, BASE], correct)
    assert [t.number for t in ranked] == [2, 1, 0]
    chosen, why = choose(ranked, BASE, correct, "4-fold cross-validation (1000 images)")
    assert chosen.number == 2 and "cross-validation" in why


def test_cross_validation_stops_before_a_fold_that_would_end_after_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The folds on a fake clock: trial 1's take 10 s, the baseline's 4 s, trial 2's 30 s."""
    import optuna

    from sweep.data.registry import Dataset
    from sweep.models import train as training
    from sweep.progress import Display
    from sweep.search import rescore

    now = [1_000.0]
    fold = {0: 4.0, 1: 10.0, 2: 30.0}
    trained: list[int] = []

    def train(model: int, *args: object, **kwargs: object) -> None:
        trained.append(model)
        now[0] += fold[model]

    monkeypatch.setattr(rescore.time, "time", lambda: now[0])
    monkeypatch.setattr(rescore, "plan", lambda params, model: params["dense_units"])
    monkeypatch.setattr(rescore, "recorded_space", lambda study: type("Space", (), {"model": None}))
    monkeypatch.setattr(training, "new_model", lambda arch, *args: arch)
    monkeypatch.setattr(training, "train", train)
    monkeypatch.setattr(training, "correct", lambda model, x, y: np.ones(len(y), dtype=bool))
    monkeypatch.setattr(training, "release", lambda: None)
    images, labels = np.zeros((40, 4, 4, 1)), np.arange(40) % 2
    data = Dataset("tiny", images, labels, images[:8], labels[:8], images[:8], labels[:8], ["a", "b"], "test")
    base, best, second = (
        candidate_trial(0, 0.9, baseline=True, dense=0),
        candidate_trial(1, 0.95, dense=1),
        candidate_trial(2, 0.94, dense=2),
    )

    def run(until: float | None, estimates: dict[int, float]) -> list[int]:
        trained.clear()
        study = optuna.create_study()
        done = rescore.cross_validated(study, [best, second, base], data, 0, Display(), until, estimates)
        return sorted(done)

    # No deadline: every finalist, the baseline first.
    assert run(None, {}) == [0, 1, 2] and trained[:4] == [0] * 4 and trained[4:8] == [1] * 4
    # The baseline (16 s) and trial 1 (40 s) fit 60 s; trial 2's first fold, estimated at 30 s, does not.
    start = now[0]
    assert run(start + 60, {0: 4.0, 1: 10.0, 2: 30.0}) == [0, 1] and 2 not in trained
    # Without an estimate the first fold starts, and its length stops the second.
    assert run(now[0] + 60, {}) == [0, 1] and trained.count(2) == 1


@pytest.mark.parametrize(("explored", "answer"), [(6_000, 1), (54_000, 2)])
def test_the_sweeps_answer_is_held_to_the_steps_rule_where_its_study_explored_on_a_share(
    explored: int, answer: int
) -> None:
    """``retrain.answer`` reads the study's exploration images: on a share of the 54,000 the
    sampled leader, 5 times the starting point's steps, does not displace it; on all of them
    its clear lead over the baseline makes it the answer."""
    import optuna

    from sweep.choice.stats import pack
    from sweep.commands.retrain import answer as answer_of
    from sweep.data.registry import Dataset
    from sweep.progress import Display
    from sweep.search.study import SETTINGS_ATTR
    from sweep.settings import DataConfig

    study = optuna.create_study(direction="maximize")
    study.set_user_attr(SETTINGS_ATTR, {"explore_images": explored})
    base = trained(candidate_trial(0, 0.970, baseline=True), 5, 32)
    start = trained(starting(1, 0.940), 2, 128)
    leader = trained(candidate_trial(2, 0.980, dense=64), 5, 64)
    for trial, count in ((base, 1940), (start, 1880), (leader, 1960)):
        trial.user_attrs["val_correct"] = pack(right(count, 2000))
        study.add_trial(trial)
    images = np.zeros((2000, 4, 4, 1), dtype=np.float32)
    labels = np.zeros(2000, dtype=np.int64)
    data = Dataset("tiny", images, np.zeros(54_000), images, labels, images, labels, ["a"], "memory")
    chosen, _ = answer_of(study, data, DataConfig("tiny"), Display(), None)
    assert chosen.number == answer


def test_the_sweeps_answer_on_a_small_validation_split_without_time_to_cross_validate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``retrain.answer`` with 100 validation images and no time left for the folds: the sampled
    leader, clearly better than the baseline but not than `small`, does not displace it."""
    import time

    import optuna

    import sweep.commands.retrain
    from sweep.choice.stats import pack
    from sweep.commands.retrain import answer as answer_of
    from sweep.data.registry import Dataset
    from sweep.progress import Display
    from sweep.search.budget import TimeLimit
    from sweep.settings import DataConfig

    monkeypatch.setattr(sweep.commands.retrain, "cross_validation_fits", lambda needed, left: False)
    study = optuna.create_study(direction="maximize")
    for trial, count in ((candidate_trial(0, 0.89, baseline=True), 89), (starting(1, 0.98), 98)):
        trial.user_attrs["val_correct"] = pack(right(count, 100))
        study.add_trial(trial)
    leader = candidate_trial(2, 1.0, dense=64)
    leader.user_attrs["val_correct"] = pack(right(100, 100))
    study.add_trial(leader)
    images = np.zeros((100, 4, 4, 1), dtype=np.float32)
    labels = np.zeros(100, dtype=np.int64)
    data = Dataset("tiny", images, np.zeros(900), images, labels, images, labels, ["a"], "memory")
    limit = TimeLimit(time.time() + 60, 900, 1_000, shared_cores=False)
    chosen, why = answer_of(study, data, DataConfig("tiny"), Display(), limit)
    assert chosen.number == 1 and "too few to choose on" in why, why
