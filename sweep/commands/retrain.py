"""Retrain the answer from scratch on train + validation and evaluate it once on the test set.

The answer is the best trial on validation, or the baseline where no trial is clearly better
(:func:`choose`). The baseline configuration is retrained the same way (same data, same seed)
and tested on the same images, so the reported gain compares like with like, with a paired
95 % interval.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from sweep.choice.leaderboard import read_summary, update_summary
from sweep.choice.stats import accuracy_interval, paired_difference, wilson, with_interval
from sweep.choice.trials import (
    BASELINE_ITSELF,
    final_params,
    finalists,
    images_per_second,
    starting_points,
    validation_images,
)
from sweep.choice.trials import (
    record as trial_record,
)
from sweep.commands import ensemble
from sweep.commands.baseline import write_model_report
from sweep.data.registry import Dataset
from sweep.errors import UsageError
from sweep.files import atomic_write, ensure_writable, results_lock, write_json
from sweep.machine.backend import usable_cpus
from sweep.machine.devices import find_gpus
from sweep.machine.environment import Environment
from sweep.models.user_models import plan as plan_of
from sweep.models.views import SHIFTS, views_for
from sweep.progress import Display
from sweep.search.budget import (
    SHARED_CORES_FACTOR,
    Clock,
    TimeLimit,
    cross_validation_fits,
    duration,
)
from sweep.search.jobs import baseline_job, baseline_taken, folds_taken, retrained_baseline
from sweep.search.kept import warm_start
from sweep.search.rescore import (
    CV_ATTR,
    FOLDS,
    by_accuracy,
    choose,
    cross_validated,
    needs_cross_validation,
    validation_correct,
)
from sweep.search.study import (
    baseline_trial,
    best_trial,
    finished_count,
    load_study,
    recorded_data,
    recorded_explore_images,
    recorded_settings,
    recorded_space,
    recorded_speed,
    recorded_views,
)
from sweep.settings import DataConfig, SweepConfig, load_checked

if TYPE_CHECKING:
    from sweep.models.train import Evaluation, TrainResult


@dataclass(frozen=True)
class AnswerPlan:
    """What the retrain trains, decided before it trains anything (:func:`plan_answer`)."""

    chosen: FrozenTrial
    why: str  # the answer's rule, as the log and metrics.json say it
    params: dict[str, Any]  # the answer's, epochs as planned
    ran: int  # the epochs its trial ran
    base: FrozenTrial | None
    base_params: dict[str, Any]
    base_won: bool  # the answer is the baseline itself: one model, one accuracy
    prior: Path | None  # the baseline model a worker retrained during the search
    prior_job: dict[str, Any]  # and its job's record: history, seconds (sweep.search.jobs)
    members: int  # models averaged (sweep.commands.ensemble)
    copies: int  # more models of the baseline, the answer, trained in the time left and averaged with it
    until: float | None  # the answer's training ends by then (a time.time() value)
    most: int | None  # and runs at most this many epochs
    model: str | None  # the user's model function (module:function); None: sweep's CNN
    views: tuple[tuple[int, int], ...] = SHIFTS[:1]  # the test-time views it averages (sweep.models.views)
    start: Path | None = None  # its trial's model, whose weights the retrain starts from (sweep.search.kept)


def retrain_best(
    study: optuna.Study,
    dataset: Dataset,
    data: DataConfig,
    display: Display,
    limit: TimeLimit | None = None,
    clock: Clock | None = None,
    pick: int | None = None,
) -> dict[str, Any]:
    """Retrain the chosen trial (:func:`choose`) and the baseline on train + validation, test
    both on the same images, write results/<dataset>/best/, plots and the summary row.

    With a ``limit``, the baseline is retrained only if its retrain fits before the limit (the
    chosen trial's always runs).
    """
    if best_trial(study) is None and pick is None:
        raise UsageError(f"study {study.study_name!r} has no completed trial yet; run the sweep longer")
    out = ensure_writable(data.folder / "best")
    plan = plan_answer(study, dataset, data, display, limit, clock, pick)
    result, members_run = train_answer(plan, dataset, data, display)
    if len(plan.views) > 1:
        from sweep.models.build import with_views
        from sweep.models.train import TrainResult

        members_run = members_run or [result]  # the model alone stays at hand, and is saved
        result = TrainResult(with_views(result.model, plan.views), result.history, result.fit_seconds, result.trained)
    params = plan.params
    if result.epochs != params["epochs"] and not plan.base_won:
        display.log(f"Trained {result.epochs:g} epochs: what the time left held at the speed measured.")
        params = {**params, "epochs": result.epochs_run}  # a recipe's epochs are whole: the last one begun
    if clock is not None:
        clock.lap("retraining")
    base_eval = baseline_evaluation(plan, members_run, dataset, data, display, limit, clock)
    metrics = write_answer(study, plan, params, result, members_run, base_eval, dataset, data, display, out)
    if clock is not None:
        clock.lap("plots and export")
    copies = f" ({1 + plan.copies} copies averaged)" if plan.copies else ""
    display.log(
        f"\nTrial {plan.chosen.number} retrained{copies}: test accuracy {_with_interval(metrics, 'test_accuracy')} "
        f"({baseline_words(metrics, plan.base_won and not plan.copies)}); {metrics['param_count']:,} parameters, "
        f"{_device_words(metrics)}.\n"
        + (single_words(metrics) if members_run is not None else "")
        + f"Files: {out}/ (model, metrics, plots), {data.folder / 'plots'}/, "
        f"{data.folder / 'export'}/model.keras, {data.folder.parent / 'leaderboard.csv'}"
    )
    return metrics


def plan_answer(
    study: optuna.Study,
    dataset: Dataset,
    data: DataConfig,
    display: Display,
    limit: TimeLimit | None,
    clock: Clock | None,
    pick: int | None,
) -> AnswerPlan:
    """Choose the answer (or take ``pick``), and plan its retrain: how many models, how many
    epochs in the time left; say so."""
    base, space = baseline_trial(study), recorded_space(study)
    folds_before = study.user_attrs.get(CV_ATTR)  # a worker's (sweep.search.jobs), or an earlier run's
    if pick is None:
        chosen, why = answer(study, dataset, data, display, limit)
    else:
        chosen, why = study.trials[pick], f"trial {pick}, picked with --trial"
    if clock is not None and study.user_attrs.get(CV_ATTR) != folds_before:  # folds ran here
        clock.lap("cross-validation")
    params = final_params(chosen)
    base_params = (
        final_params(base)
        if base is not None and base.state == TrialState.COMPLETE
        else space.baseline_for(data.kind, dataset.input_shape)
    )
    base_won = base is not None and base.number == chosen.number  # same model, same accuracy
    # A worker may have retrained the baseline during the search (sweep.search.jobs).
    prior = retrained_baseline(study, base_params, data.folder)
    job = baseline_job(study)
    asked = Environment.read().members
    record, cores, gpus = recorded_settings(study), usable_cpus(), len(find_gpus())
    rate = images_per_second(base) if base is not None else None
    gain = ensemble.threads_gain(recorded_speed(study), rate, int(record.get("workers") or 1), cores)
    members = 1 if base_won else ensemble.members_for(asked, cores, gpus, **_limits_of(record), threads_gain=gain)
    until, kept = None, 0.0  # the answer's retrain ends by then (a time.time() value; None: no deadline)
    if limit is not None and pick is None and not base_won:
        # The time left but for the baseline's retrain (unless a worker did it) and the export, as
        # the search planned it: it decides how many models train; once they are known, their
        # passes are timed and the deadline set again below (after_retrain).
        kept = limit.baseline_seconds if base is None else 0.0 if prior else (limit.retrain_seconds(base) or 0.0)
        until = limit.ends_at - kept - limit.after_retrain_seconds(chosen)
    if asked is not None and members < asked and not base_won:
        display.log(f"SWEEP_MEMBERS={asked}: one model instead ({ensemble.ONE_MODEL_BECAUSE})")
    elif asked is None and limit is not None and until is not None:
        allowed = ensemble.members_for(min(cores, ensemble.AUTO_MEMBERS), cores, gpus, **_limits_of(record))
        one_a_core = int(record.get("workers") or 1) >= cores  # as the members would train
        members, line = members_in_time(limit, chosen, until, gain, members, allowed if one_a_core else 1)
        if line:
            display.log(line)
    elif asked is None and members > 1:
        display.log(
            f"One process trained only {gain:.2f}× faster on {cores} cores than on one here: "
            f"the answer trains as {members} models side by side (SWEEP_MEMBERS=1: one)."
        )
    most, ran, copies, after = None, params["epochs"], 0, 0.0
    views = views_for(params, dataset.input_shape, recorded_views(study))
    # A sweep's own retrain, under its time limit, starts from its trial's weights where that
    # trial explored on a share of the images (measured there only: sweep.search.kept).
    start = warm_start(chosen, len(dataset.x_train)) if limit is not None and pick is None and not base_won else None

    def after_retrain(models: int) -> float:
        """What comes after retraining ``models`` models of the answer, from its passes timed here."""
        from sweep.models.train import pass_seconds

        assert limit is not None
        shape = (dataset.input_shape, dataset.num_classes)
        alone, answer = pass_seconds(plan_of(params, space.model), *shape, dataset.x_train, models, views)
        return limit.after_measured_seconds(alone, answer, models * len(views))

    if limit is not None and pick is None and base_won and prior is not None:
        # The time kept for an answer the baseline's worker already trained: more copies of it.
        wanted = min(cores, ensemble.AUTO_MEMBERS) if asked is None else asked  # SWEEP_MEMBERS=1: one model
        count = ensemble.members_for(wanted, cores, gpus, **_limits_of(record))
        after = after_retrain(1 + count)
        until = limit.ends_at - after
        copies = ensemble.copies_in_time_left(job.get("seconds"), until - time.time(), count)
    elif until is not None and limit is not None:  # the test passes through each model and view
        after = after_retrain(members)
        until = limit.ends_at - kept - after
    if limit is not None and until is not None and not base_won:
        # The answer gets the time left but for the baseline's retrain and the export: its
        # epochs grow or shrink to fill it (TimeLimit.answer_epochs), and shrink again while
        # it trains if it is slower than its trial said. Members train one core each, as the
        # trials did, so their epochs take as long as their trial's.
        planner = replace(limit, shared_cores=False) if members > 1 else limit
        params = {**params, "epochs": planner.answer_epochs(chosen, until - time.time())}
        most = planner.answer_epochs(chosen, float("inf"))
    display.log(
        f"Answer: {why}.\nRetraining trial {chosen.number} on train + validation for "
        f"{epochs_words(params['epochs'], ran)}"
        + (f", as {members} models side by side, averaged" if members > 1 else "")
        + (f"; {copies} more copies of it train side by side in the time left, averaged with it" if copies else "")
        + (
            f", {'the first ' if members > 1 else ''}from its trial's weights (trained on "
            f"{trial_record(chosen).get('train_images', 0):,} images, kept from the search)"
            if start
            else ""
        )
        + (
            f". It predicts over {len(views)} views of each image, the image and its one-pixel shifts, "
            "averaged (SWEEP_VIEWS=1: one)"
            if len(views) > 1
            else ""
        )
        + (f"; {duration(after)} kept for the test's passes and the export" if after else "")
    )
    return AnswerPlan(
        chosen,
        why,
        params,
        ran,
        base,
        base_params,
        base_won,
        prior,
        job,
        members,
        copies,
        until,
        most,
        space.model,
        views,
        start,
    )


def members_in_time(
    limit: TimeLimit, chosen: FrozenTrial, until: float, gain: float | None, members: int, allowed: int
) -> tuple[int, str]:
    """How many models the answer trains side by side before ``until``, where the machine
    decides, and a line that says why (empty: one model, as usual).

    ``allowed`` models, one a core (as many as the machine allows), where each trains almost as
    many epochs as one model on every core would, ``gain`` times faster (unknown: as the time
    limit plans, 1 / SHARED_CORES_FACTOR), both up to the answer's most epochs
    (:func:`ensemble.side_by_side_pays`): where each reaches those, one model could not use the
    time, and at equal epochs two averaged models beat one on every seed measured
    (docs/benchmarks.md). Else one; the line says so where the machine's gain of threads alone
    (``members``, :func:`ensemble.members_for`) would have asked for more.
    """
    each_core = replace(limit, shared_cores=False)  # one core each, as the trials ran
    room = until - time.time()
    speedup = gain if gain is not None else 1 / SHARED_CORES_FACTOR
    # Not rounded up to one epoch: at the slowest speed two models of 0.6 epochs, each counted as
    # one, tied one model of 0.9 (one too) and were chosen; they trained 0.57 epochs each.
    each = each_core.answer_length(chosen, room, least=0.0)
    alone = each_core.answer_length(chosen, room * speedup, least=0.0)
    if allowed > 1 and ensemble.side_by_side_pays(each, alone):
        return allowed, (
            f"The answer trains as {allowed} models side by side, one a core, averaged: "
            f"{tenths(each)} epochs each, against {tenths(alone)} for one model on every core "
            "(SWEEP_MEMBERS=1: one)."
        )
    if members < 2:
        return 1, ""
    return 1, (
        f"The answer trains as one model: {members} side by side would train {tenths(each)} epochs each, "
        f"against {tenths(alone)} for one (SWEEP_MEMBERS={members}: {members})."
    )


def train_answer(
    plan: AnswerPlan, dataset: Dataset, data: DataConfig, display: Display
) -> tuple[TrainResult, list[TrainResult] | None]:
    """Train the answer on train + validation: one model, or several averaged (then the
    members too); the baseline's worker-trained model where the baseline is the answer."""
    from sweep.models.build import average_of, load_saved
    from sweep.models.train import TrainResult, fit_full, full_split

    def side_by_side(
        params: dict[str, Any], seed: int, label: str, most: int | None, count: int, start: Path | None = None
    ) -> list[TrainResult]:
        x, y = full_split(dataset)
        shape = (dataset.input_shape, dataset.num_classes)
        return ensemble.fit_members(
            params, plan.model, x, y, shape, seed, display, label, plan.until, most, count, start=start
        )

    def averaged(runs: list[TrainResult], seconds: float) -> TrainResult:
        """The runs' average, with the first's history, trained in ``seconds``."""
        return TrainResult(average_of([r.model for r in runs]), runs[0].history, seconds, runs[0].trained)

    if plan.base_won and plan.prior is not None:  # the answer is the baseline, retrained already
        job = plan.prior_job
        display.log(f"A worker retrained it the same way during the search: {plan.prior}")
        prior = TrainResult(
            load_saved(plan.prior), job.get("history") or {"loss": []}, float(job.get("seconds") or 0.0)
        )
        if not plan.copies:
            return prior, None
        # As written, like the worker's: only the seeds differ.
        copies = side_by_side(plan.base_params, data.seed + 1, "copies", plan.base_params["epochs"], plan.copies)
        return averaged([prior, *copies], max(r.fit_seconds for r in copies)), [prior, *copies]
    label = f"trial {plan.chosen.number}"
    if plan.members > 1:
        members_run = side_by_side(plan.params, data.seed, label, plan.most, plan.members, plan.start)
        took = max(r.fit_seconds for r in members_run)
        left = plan.until - time.time() if plan.until is not None else 0.0
        # Where they reached their most epochs well before the deadline, as many again train in
        # the time left, with the next seeds: averaged, more models of a recipe do no worse.
        more = ensemble.copies_in_time_left(took, left, plan.members)
        if more:
            display.log(
                f"Its {plan.members} models reached their most epochs with {duration(left)} left: "
                f"{more} more train side by side in it, averaged with them"
            )
            again = side_by_side(plan.params, data.seed + plan.members, label, plan.most, more)
            members_run, took = members_run + again, took + max(r.fit_seconds for r in again)
        return averaged(members_run, took), members_run
    fit = fit_full(plan.params, plan.model, dataset, data.seed, display, label, plan.until, plan.most, plan.start)
    return fit, None


def baseline_evaluation(
    plan: AnswerPlan,
    members_run: list[TrainResult] | None,
    dataset: Dataset,
    data: DataConfig,
    display: Display,
    limit: TimeLimit | None,
    clock: Clock | None,
) -> Evaluation | None:
    """Test the baseline retrained the same way (a worker's model where one did it), for the
    paired gain (the worker's model, first of ``members_run``, where copies of it are the
    answer); None where the answer is the baseline, or its retrain does not fit the limit."""
    from sweep.models.build import load_saved, portable
    from sweep.models.train import evaluate, fit_full

    if plan.base_won and plan.copies and members_run:  # the copies' gain over it alone
        return evaluate(members_run[0].model, dataset.x_test, dataset.y_test, dataset.class_names)
    if plan.base_won:
        return None
    skipped = None if limit is None or plan.prior else limit.skip_line(plan.base, "the baseline")
    if skipped:
        display.log(skipped)
        return None
    if plan.prior is not None:
        display.log(f"The baseline was retrained the same way by a worker during the search: testing {plan.prior}")
        return evaluate(load_saved(plan.prior), dataset.x_test, dataset.y_test, dataset.class_names)
    display.log(f"Retraining the baseline the same way for {plan.base_params['epochs']} epochs")
    base_model = fit_full(plan.base_params, plan.model, dataset, data.seed, display, "baseline").model
    evaluation = evaluate(portable(base_model), dataset.x_test, dataset.y_test, dataset.class_names)  # as saved
    if clock is not None:
        clock.lap("retraining")
    return evaluation


def write_answer(
    study: optuna.Study,
    plan: AnswerPlan,
    params: dict[str, Any],
    result: TrainResult,
    members_run: list[TrainResult] | None,
    base_eval: Evaluation | None,
    dataset: Dataset,
    data: DataConfig,
    display: Display,
    out: Path,
) -> dict[str, Any]:
    """Test the answer, and write what it produced: best/ (model, metrics, params, plots), the
    study's plots, the export, and its row of the cross-dataset summary."""
    from sweep.commands.export import export_model
    from sweep.deploy.deployment import figures
    from sweep.reporting import plots

    chosen, base = plan.chosen, plan.base
    metrics, evaluation = write_model_report(
        out,
        result,
        dataset,
        data,
        title=f"{dataset.name} best (trial {chosen.number})",
        samples=False,
        extra={
            "trial": chosen.number,
            "params": params,
            "epochs": result.trained if result.trained is not None else params["epochs"],
            "chosen_because": plan.why,
            "views": len(plan.views),
            "warm_start": plan.start is not None,  # from its trial's weights (sweep.search.kept)
            **val_metrics(chosen),
        },
    )
    metrics.update(gain_metrics(evaluation, base_eval if base_eval is not None or not plan.base_won else evaluation))
    if members_run is not None:
        metrics.update(single_metrics(members_run, dataset, out))
    metrics.update(figures(result.model, dataset.x_train))
    if "deploy_error" in metrics:
        display.log(f"No TFLite figures for this model: {metrics['deploy_error']}")
    write_json(out / "metrics.json", metrics)
    write_json(
        out / "params.json",
        {
            "dataset": data.dataset,
            "trial": chosen.number,
            "params": params,
            "class_names": dataset.class_names,
            "input_shape": list(dataset.input_shape),
        },
    )
    plots.plot_study(study, data.folder / "plots")
    export_model(result.model, data.folder / "export", "keras")
    if members_run is not None:
        export_model(members_run[0].model, data.folder / "export" / ensemble.SINGLE_FOLDER, "keras")
    update_summary(
        data.folder.parent / "leaderboard.csv",
        {
            "dataset": data.name,
            "study": study.study_name,
            "finished_trials": finished_count(study),
            "best_trial": chosen.number,
            "best_val_accuracy": chosen.values[0],
            "baseline_val_accuracy": base.values[0] if base is not None and base.values else None,
            "test_accuracy": metrics["test_accuracy"],
            "baseline_test_accuracy": metrics["baseline_test_accuracy"],
            "test_gain": metrics["test_gain"],
            "updated": _now(),
        },
    )
    return metrics


def answer(
    study: optuna.Study, dataset: Dataset, data: DataConfig, display: Display, limit: TimeLimit | None
) -> tuple[FrozenTrial, str]:
    """The trial to retrain and why (:func:`sweep.search.rescore.choose`): on the validation split, or
    where it is small and the time limit has room, on cross-validated finalists."""
    trials = study.get_trials(deepcopy=False)
    candidates = finalists(trials)
    base = baseline_trial(study)
    if needs_cross_validation(dataset):
        kept, folds_kept = not baseline_taken(study), not folds_taken(study)
        after = limit.after_search_seconds(trials, True, kept, folds_kept) if limit else 0.0
        if limit is None or cross_validation_fits(after, limit.left()):
            chosen = cross_validated_choice(study, candidates, dataset, data, display, limit)
            if chosen is not None:
                return chosen
        else:
            display.log(
                f"No time left to cross-validate the finalists ({duration(after)} needed, "
                f"{duration(max(limit.left(), 0))} left): choosing on the validation split"
            )
    best = best_trial(study)
    assert best is not None
    ranked = [best, *(t for t in candidates if t.number != best.number)]
    # The starting points, for the rule where no trial is clearly better than the baseline.
    seen = {t.number for t in ranked}
    ranked += [t for t in starting_points(trials) if t.number not in seen]
    shared = (recorded_explore_images(study) or len(dataset.y_train)) < len(dataset.y_train)
    where = f"validation ({len(dataset.y_val)} images)"
    return choose(ranked, base, validation_correct(ranked), where, shared, small=needs_cross_validation(dataset))


def cross_validated_choice(
    study: optuna.Study,
    candidates: list[FrozenTrial],
    dataset: Dataset,
    data: DataConfig,
    display: Display,
    limit: TimeLimit | None,
) -> tuple[FrozenTrial, str] | None:
    """The answer chosen on the finalists cross-validated (:func:`choose`): all of them, or,
    where the time limit stops the folds early to keep the retrains' time, the baseline and
    the best that were; None where fewer than two were."""
    display.log(
        f"The validation split holds {len(dataset.y_val)} images, too few to choose "
        f"on: cross-validating trials {', '.join(str(t.number) for t in candidates)} "
        f"({FOLDS} folds of train + validation)"
    )
    until, seconds = None, {}
    if limit is not None:
        trials = study.get_trials(deepcopy=False)
        until = limit.ends_at - limit.retrains_seconds(
            trials, cross_validated=True, baseline_kept=not baseline_taken(study)
        )
        seconds = {t.number: limit.retrain_seconds(t) or 0.0 for t in candidates}
    correct = cross_validated(study, candidates, dataset, data.seed, display, until, seconds)
    done = [t for t in candidates if t.number in correct]
    if len(done) < len(candidates):
        missed = ", ".join(str(t.number) for t in candidates if t.number not in correct)
        if len(done) < 2:
            display.log(
                f"Cross-validation stopped to keep the retrains' time (trials {missed} left): "
                "choosing on the validation split"
            )
            return None
        display.log(f"Cross-validation stopped to keep the retrains' time: choosing without trials {missed}")
    images = len(dataset.y_train) + len(dataset.y_val)
    return choose(
        by_accuracy(done, correct), baseline_trial(study), correct, f"{FOLDS}-fold cross-validation ({images} images)"
    )


def _limits_of(record: dict[str, Any]) -> dict[str, Any]:
    """The deployment limits and objective a study was created with (:func:`recorded_settings`)."""
    return {"limits": record.get("limits") or {}, "objective": record.get("objective", "accuracy")}


def single_metrics(members: list[TrainResult], dataset: Dataset, out: Path) -> dict[str, Any]:
    """The first of ``members`` alone, on the image alone, saved beside the averaged model as
    ``single.keras``, and its test accuracy: what one model of the answer gives in one pass
    (figures only; nothing is chosen on them)."""
    from sweep.models.build import portable
    from sweep.models.train import evaluate

    shipped = portable(members[0].model)
    atomic_write(out / ensemble.SINGLE_FILE, shipped.save)
    alone = evaluate(shipped, dataset.x_test, dataset.y_test, dataset.class_names)
    return {
        "members": len(members),
        "single_test_accuracy": alone.accuracy,
        "single_param_count": shipped.count_params(),
        "member_epochs": [member.epochs for member in members],
    }


def single_words(metrics: dict[str, Any]) -> str:
    """The averaged answer against its first model alone on the image alone, in words."""
    from sweep.reporting.report import averaged_words

    alone = ("one model alone" if metrics["members"] > 1 else "the model") + (
        " on the image alone" if metrics.get("views", 1) > 1 else ""
    )
    return (
        f"It averages {averaged_words(metrics)}; {alone} ({metrics['single_param_count']:,} parameters, "
        f"`sweep export --single`) tests {metrics['single_test_accuracy']:.4f}.\n"
    )


def tenths(epochs: float) -> str:
    """A planned count of epochs for people: to a tenth under 10 (``2.7``), whole above (``234``)."""
    return f"{round(epochs, 1):g}" if epochs < 10 else f"{round(epochs)}"


def epochs_words(epochs: int, ran: int) -> str:
    """The answer's retrain epochs against its trial's, in words."""
    words = f"{epochs} epoch{'s' if epochs != 1 else ''}"
    if epochs == ran:
        return words
    return f"{words} ({'grown' if epochs > ran else 'shrunk'} from its trial's {ran} to the time left)"


def val_metrics(trial: FrozenTrial) -> dict[str, Any]:
    """A trial's validation score with its 95 % interval (where its image count is known)."""
    values: dict[str, Any] = {"val_accuracy": trial.values[0]}
    images = validation_images(trial)
    if images:
        values["val_accuracy_ci95"] = list(accuracy_interval(trial.values[0], images))
    return values


def gain_metrics(final: Evaluation, base: Evaluation | None) -> dict[str, Any]:
    """The baseline's test accuracy and the gain over it, each with its 95 % interval (the
    gain's is paired: both models on the same test images)."""
    if base is None:
        return {
            "baseline_test_accuracy": None,
            "baseline_test_accuracy_ci95": None,
            "test_gain": None,
            "test_gain_ci95": None,
        }
    gain, low, high = paired_difference(final.correct, base.correct)
    return {
        "baseline_test_accuracy": base.accuracy,
        "baseline_test_accuracy_ci95": list(wilson(int(base.correct.sum()), len(base.correct))),
        "test_gain": gain,
        "test_gain_ci95": [low, high],
    }


def _with_interval(metrics: dict[str, Any], key: str) -> str:
    return with_interval(metrics[key], *metrics[f"{key}_ci95"])


def baseline_words(metrics: dict[str, Any], is_baseline: bool) -> str:
    """The final model against the baseline in words: the gain with its interval, or why there
    is none (``is_baseline``: the answer is the baseline itself)."""
    if is_baseline:
        return BASELINE_ITSELF
    if metrics["test_gain"] is None:
        return "baseline not retrained"
    low, high = metrics["test_gain_ci95"]
    gain = with_interval(metrics["test_gain"], low, high, signed=True)
    return f"baseline retrained the same way: {metrics['baseline_test_accuracy']:.4f}, gain {gain}"


def _device_words(metrics: dict[str, Any]) -> str:
    """The final model's deployment figures in words."""
    if metrics.get("tflite_kb") is None:
        return "no TFLite figures"
    int8 = f", {metrics['int8_kb']:,.1f} KiB int8" if metrics.get("int8_kb") else ""
    return f"{metrics['tflite_kb']:,.1f} KiB as TFLite{int8}, {metrics['latency_ms']:.3f} ms per image in LiteRT"


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_retrain(data: DataConfig, settings: SweepConfig, trial: int | None = None) -> int:
    """``sweep retrain``: retrain the answer of an existing study (or ``trial``, a completed
    one the user picks), on the data split the study was created with."""
    study = load_study(data, settings)
    recorded = recorded_data(recorded_settings(study), data.data_dir, data.results)
    if recorded.dataset != data.dataset:
        raise UsageError(
            f"study {study.study_name!r} sweeps {recorded.dataset}, not {data.dataset}; "
            f"pass --dataset {recorded.dataset}, or another --study name"
        )
    data = recorded
    done = [t.number for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if trial is None and best_trial(study) is None:
        raise UsageError(
            f"study {study.study_name!r} has no completed trial within its deployment limits yet; run the sweep first"
            if done
            else f"study {study.study_name!r} has no completed trial yet; run the sweep first"
        )
    if trial is not None and trial not in done:
        raise UsageError(f"--trial {trial}: not a completed trial of {study.study_name!r}; completed: {done}")
    read_summary(ensure_writable(Path(data.results)) / "leaderboard.csv")  # written at the end
    ensure_writable(data.folder / "best")
    display = Display()
    with results_lock(data.folder, "retrain"):
        retrain_best(study, load_checked(data, display), data, display, pick=trial)
    from sweep.reporting.report import write_report

    display.log(f"Report: {write_report(study, data.folder)}")
    return 0
