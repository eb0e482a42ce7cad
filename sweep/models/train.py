"""Stages three and four of the notebooks: train a CNN, then evaluate it.

Imports TensorFlow: load this module lazily, only in commands that train.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

from sweep.data.registry import Dataset
from sweep.machine.backend import apply_precision, load_keras
from sweep.models.build import STEPS_PER_EXECUTION, build_model, load_saved, probabilities, schedule
from sweep.models.params import Training, epochs_in_time, steps_per_epoch, stop_step
from sweep.models.user_models import Plan, plan
from sweep.progress import Display, Steps

load_keras()  # TensorFlow and Keras, quietly, with threads and precision set up
import keras  # noqa: E402  (loaded above)
import tensorflow as tf  # noqa: E402


@dataclass
class TrainResult:
    """A trained model and how training went."""

    model: keras.Model
    history: dict[str, list[float]]
    fit_seconds: float
    trained: float | None = None  # the epochs, where the last one stopped at a step (EpochPlan's ``partial``)

    @property
    def epochs_run(self) -> int:
        return len(self.history["loss"])

    @property
    def epochs(self) -> float:
        """The epochs trained: a fraction where the run stopped inside its last."""
        return self.trained if self.trained is not None else float(self.epochs_run)


@dataclass
class Evaluation:
    """Test-set results: loss, accuracy, per-class report, confusion matrix, which images the
    model got right (for paired comparisons, :mod:`sweep.choice.stats`), its predictions and their
    probabilities."""

    loss: float
    accuracy: float
    report: dict[str, dict[str, float]]
    confusion: np.ndarray = field(repr=False)
    correct: np.ndarray = field(repr=False)
    predicted: np.ndarray = field(repr=False)
    confidence: np.ndarray = field(repr=False)


def make_batches(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    num_classes: int,
    shuffle_seed: int | None = None,
) -> tf.data.Dataset:
    """A batched, prefetched tf.data pipeline over in-memory arrays (shuffled when seeded),
    with one-hot labels for the models' categorical loss.

    It shuffles indices and gathers whole batches: the same seeded order without a second copy
    of the training set in a shuffle buffer. tf.data's autotuning is off: each epoch's new
    iterator waited for the autotuner's thread, at times for seconds with every core idle.
    (Measurements: docs/performance.md, "The training path's settings".)
    """
    images, labels = tf.constant(x), tf.constant(y)
    order = tf.data.Dataset.range(len(x))
    if shuffle_seed is not None:
        order = order.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    options = tf.data.Options()
    options.autotune.enabled = False
    return (
        order.batch(batch_size)
        .map(lambda i: (tf.gather(images, i), tf.one_hot(tf.gather(labels, i), num_classes)))
        .prefetch(2)
        .with_options(options)
    )


class EpochLog(keras.callbacks.Callback):
    """Records the history, advances a progress task, and fails the run when the loss is NaN."""

    def __init__(self, task: Steps | None) -> None:
        super().__init__()
        self.task = task
        self.history: dict[str, list[float]] = {}
        self.seconds = 0.0  # the whole fit, set by train()
        # Up to the end of the last whole epoch: a run cut inside an epoch spent more.
        self.epochs_seconds = 0.0
        # Of those, validating after each epoch (the retrain has no validation to time).
        self.validation_seconds = 0.0
        self.last_validation_seconds = 0.0  # the last epoch's
        self.started = time.perf_counter()
        self._validating = 0.0

    @property
    def best_epoch(self) -> int:
        """1-based epoch with the highest validation accuracy (the last one without validation)."""
        scores = self.history.get("val_accuracy")
        return int(np.argmax(scores)) + 1 if scores else len(self.history.get("loss", []))

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        self.started = time.perf_counter()

    def on_test_begin(self, logs: dict[str, float] | None = None) -> None:
        self._validating = time.perf_counter()

    def on_test_end(self, logs: dict[str, float] | None = None) -> None:
        self.last_validation_seconds = time.perf_counter() - self._validating

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.epochs_seconds = time.perf_counter() - self.started
        self.validation_seconds += self.last_validation_seconds
        logs = logs or {}
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))
        if not np.isfinite(logs.get("loss", 0.0)):
            # Keras would carry on with NaN weights; a failed trial is the honest record.
            raise FloatingPointError(f"loss became {logs.get('loss')} in epoch {epoch + 1}")
        if self.task is not None:
            shown = ("loss", "accuracy", "val_loss", "val_accuracy")
            self.task.advance(" ".join(f"{k} {logs[k]:.4f}" for k in shown if k in logs))


class EpochEnd(keras.callbacks.Callback):
    """Calls ``hook(epoch, logs)`` at the end of every epoch (0-based epoch, Keras's logs)."""

    def __init__(self, hook: Callable[[int, dict[str, float] | None], None]) -> None:
        super().__init__()
        self.hook = hook

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.hook(epoch, logs)


class DeadlinePassed(Exception):
    """Raised by :class:`Deadline` when batches end after the deadline."""


class Deadline(keras.callbacks.Callback):
    """Stops training soon after the deadline, unless in the last epoch (the run is all but
    complete then). The epochs before are kept. Keras calls the batch hook once per
    :data:`sweep.models.build.STEPS_PER_EXECUTION` batches, so the stop comes within that many.

    ``deadline()`` returns a :func:`time.monotonic` value, or None for no deadline. It is asked
    at the start of each epoch and every few seconds, not after every batch: it may read the
    study's storage (see :class:`sweep.search.budget.TimeLimit`). Raising (instead of Keras's
    ``stop_training``) lets the caller tell a trial cut short from one that finished.
    """

    ASK_EVERY_SECONDS = 5.0

    def __init__(self, deadline: Callable[[], float | None]) -> None:
        super().__init__()
        self.deadline = deadline
        self.epoch = 0
        self.ends: float | None = None
        self.asked_at = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.epoch = epoch
        self._ask(time.monotonic())

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if self.epoch + 1 >= self.params["epochs"]:
            return
        now = time.monotonic()
        if now - self.asked_at > self.ASK_EVERY_SECONDS:
            self._ask(now)
        if self.ends is not None and now > self.ends:
            raise DeadlinePassed(f"the deadline passed during epoch {self.epoch + 1}")

    def _ask(self, now: float) -> None:
        self.ends, self.asked_at = self.deadline(), now


# A run's epochs are planned from the second one's time on: the first one also traces the
# model's graph (seconds, where a small dataset's epoch takes a fraction of one; a shorter last
# batch traces again). Asked after it, two models of 248 epochs each on digits (496 in all)
# had shrunk to 28 in all, then grown back, their learning rate decayed and raised again...
PLAN_AFTER = 2
# ...unless the first one took this long: then tracing hardly counts.
LONG_EPOCH_SECONDS = 30.0


class EpochPlan(keras.callbacks.Callback):
    """Lets ``plan(epochs_done, epoch_seconds)`` shorten a run while it trains, or lengthen it
    up to ``most`` epochs (the ``epochs`` that ``fit`` was given; default: no lengthening).

    After each epoch from the second on (the first too where it was long: ``PLAN_AFTER``),
    ``plan`` gets the epochs done and how long the last one took (validation included), and
    returns how many epochs the run should have in all; it may raise to stop the run. A
    shorter run ends early, a longer one goes on, and its learning-rate schedule
    (:class:`WarmupCosine`) is stretched over the new length, so it still decays to 0 in its
    last step. A progress ``task`` counting epochs gets the new total.

    A ``partial`` run (one no epoch's score decides anything of: the retrain) takes the plan's
    fraction of an epoch too, and stops inside its last epoch at that step
    (:func:`sweep.models.params.stop_step`): at the slowest kind's speed one epoch of MNIST is
    a tenth of the time limit, and whole epochs left a retrain's last 20-30 s unused. It is
    asked once inside its first epoch as well, once EARLY_CALLS of Keras's calls past the first
    (which traces the graph) are timed: its own speed, where the first plan had its trial's
    (20-45 % slow at the slowest kind's emulated speed), sets its length while its learning
    rate still warms up. Grown only at the epoch's end, its schedule had decayed to 0 and rose
    again.
    """

    EARLY_CALLS = 2

    def __init__(
        self,
        plan: Callable[[float, float], float],
        epochs: int,
        steps_per_epoch: int,
        most: int | None = None,
        task: Steps | None = None,
        partial: bool = False,
    ) -> None:
        super().__init__()
        self.plan, self.epochs, self.steps_per_epoch, self.task = plan, epochs, steps_per_epoch, task
        self.partial, self.every = partial, STEPS_PER_EXECUTION if partial else steps_per_epoch
        self.steps = epochs * steps_per_epoch  # where the run stops
        self.most = max(most or epochs, epochs)
        self.began = time.perf_counter()
        self.calls: list[tuple[float, int]] = []  # (time, steps done) after each of the first calls

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.began = time.perf_counter()

    def replan(self, epochs: float) -> None:
        """The run's new length: its schedule stretched over it, its progress resized."""
        steps = stop_step(epochs, self.steps_per_epoch, self.every)
        if steps == self.steps:
            return
        self.steps, self.epochs = steps, math.ceil(steps / self.steps_per_epoch)
        rate = schedule(self.model)
        if rate is not None:
            rate.total_steps.assign(float(steps))
        if self.task is not None:
            self.task.resize(self.epochs)

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        if not self.partial:  # whole epochs: planned at their ends
            return
        done = int(self.model.optimizer.iterations)
        if len(self.calls) <= self.EARLY_CALLS:
            self.calls.append((time.perf_counter(), done))
            (began, first), (now, last) = self.calls[0], self.calls[-1]
            if len(self.calls) > self.EARLY_CALLS and last < self.steps_per_epoch:  # in the first epoch
                epoch_seconds = (now - began) / (last - first) * self.steps_per_epoch
                epochs = last / self.steps_per_epoch
                self.replan(min(max(self.plan(epochs, epoch_seconds), epochs), self.most))
        # A stop inside an epoch; at an epoch's end the plan is asked first (it may go on).
        inside = self.steps % self.steps_per_epoch
        if inside and done >= self.steps:
            self.model.stop_training = True  # Keras stops after this call's batches

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        done, seconds = epoch + 1, time.perf_counter() - self.began
        if self.model.stop_training:  # inside this epoch, where the plan said
            return
        # A partial run planned to end here is asked too, or it could not grow: tracing then
        # only makes it plan shorter.
        if done >= PLAN_AFTER or seconds >= LONG_EPOCH_SECONDS or (self.partial and done >= self.epochs):
            self.replan(min(max(self.plan(done, seconds), done), self.most))
        if done >= self.epochs:
            self.model.stop_training = True


def new_model(
    arch: Plan,
    input_shape: tuple[int, int, int],
    num_classes: int,
    seed: int,
    train_images: int,
) -> keras.Model:
    """Seed every generator (Python, NumPy, TensorFlow), then build the compiled model for
    training on ``train_images`` images (its learning-rate schedule counts their steps), in
    the machine's precision whatever ``clear_session`` calls came before."""
    apply_precision()
    keras.utils.set_random_seed(seed)
    return build_model(arch, input_shape, num_classes, train_images)


def train(
    model: keras.Model,
    arch: Training,
    x_train: np.ndarray,
    y_train: np.ndarray,
    *,
    seed: int,
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    epochs: int | None = None,
    initial_epoch: int = 0,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    task: Steps | None = None,
    log: EpochLog | None = None,
) -> TrainResult:
    """Fit ``model`` with ``arch``'s batch size and epochs (``epochs`` overrides them).

    Pass your own ``log`` to keep the history of a fit that raises (pruned or failed).
    ``initial_epoch`` resumes a model trained before (KerasTuner's Hyperband does).
    """
    report = log or EpochLog(task)
    classes = model.output_shape[-1]
    val_batches = None
    if validation is not None:
        val_batches = make_batches(*validation, batch_size=max(arch.batch_size, 256), num_classes=classes)
    started, steps = time.perf_counter(), int(model.optimizer.iterations)
    try:
        model.fit(
            make_batches(x_train, y_train, arch.batch_size, classes, shuffle_seed=seed),
            validation_data=val_batches,
            epochs=epochs or arch.epochs,
            initial_epoch=initial_epoch,
            shuffle=False,  # the pipeline shuffles, seeded
            callbacks=[report, *callbacks],
            verbose=0,
        )
    finally:
        report.seconds = time.perf_counter() - started
    steps = int(model.optimizer.iterations) - steps
    each = steps_per_epoch(len(x_train), arch.batch_size)
    # Stopped inside its last epoch (EpochPlan's ``partial``): how far, in epochs.
    trained = round(initial_epoch + steps / each, 2) if steps % each else None
    return TrainResult(model, report.history, report.seconds, trained)


def fit_within(
    arch: Plan,
    x: np.ndarray,
    y: np.ndarray,
    input_shape: tuple[int, int, int],
    num_classes: int,
    seed: int,
    task: Steps | None = None,
    until: float | None = None,
    most: int | None = None,
    start: Path | None = None,
) -> TrainResult:
    """A new model of ``arch`` trained on all of ``x`` (no validation: the epochs are fixed).
    ``until``: a :func:`time.time` by which training ends; a run too slow for it trains fewer
    epochs, one faster than planned more, up to ``most``, its schedule stretched over them; its
    last epoch may stop at a step (:class:`EpochPlan`'s ``partial``; the result's ``epochs``
    say how many). ``start``: a saved model of ``arch`` whose weights it starts from
    (:mod:`sweep.search.kept`), with a fresh optimizer and schedule; None: a new initialization."""

    built = new_model(arch, input_shape, num_classes, seed, len(x))
    if start is not None:
        built.set_weights(load_saved(start).get_weights())
    planned: list[keras.callbacks.Callback] = []
    steps = steps_per_epoch(len(x), arch.batch_size)
    if until is not None:
        most = max(most or arch.epochs, arch.epochs)

        def fit_in_time(done: float, epoch_seconds: float) -> float:
            return epochs_in_time(most, done, epoch_seconds, until - time.time())

        planned.append(EpochPlan(fit_in_time, arch.epochs, steps, most, task, partial=True))
    return train(built, arch, x, y, seed=seed, task=task, callbacks=planned, epochs=most)


def fit_full(
    params: dict[str, Any],
    model: str | None,
    dataset: Dataset,
    seed: int,
    display: Display,
    label: str,
    until: float | None = None,
    most: int | None = None,
    start: Path | None = None,
) -> TrainResult:
    """Train on train + validation (:func:`fit_within`), from scratch or from ``start``'s
    weights; ``model``: the user's function (module:function), None for sweep's CNN."""
    arch = plan(params, model)
    x, y = full_split(dataset)
    with display.session(), display.task(f"retrain {label} epochs", arch.epochs) as task:
        return fit_within(arch, x, y, dataset.input_shape, dataset.num_classes, seed, task, until, most, start)


def full_split(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Train + validation: what the answer and the baseline retrain on."""
    return np.concatenate([dataset.x_train, dataset.x_val]), np.concatenate([dataset.y_train, dataset.y_val])


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray, class_names: Sequence[str]) -> Evaluation:
    """Loss and accuracy on a held-out set, with scikit-learn's per-class report. The loss is
    plain cross-entropy (no label smoothing), so ``model`` need not be compiled: the saved
    float32 copy (:func:`sweep.models.build.portable`) is what gets evaluated."""
    probs = probabilities(model, x)
    loss = float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1.0))))
    predicted = probs.argmax(axis=1)
    labels = list(range(len(class_names)))
    report = classification_report(
        y,
        predicted,
        labels=labels,
        target_names=list(class_names),
        output_dict=True,
        zero_division=0,
    )
    correct = predicted == y
    matrix = confusion_matrix(y, predicted, labels=labels)
    return Evaluation(float(loss), float(correct.mean()), report, matrix, correct, predicted, probs.max(axis=1))


# Images a pass is timed on (:func:`pass_seconds`), after a call that traces its graph, in
# whole batches of Keras's predict (PREDICT_BATCH): a shorter last batch traces the graph again,
# which made a pass timed on 900 images 60 % too slow.
PASS_SAMPLE = 1024
PREDICT_BATCH = 32


def pass_seconds(
    arch: Plan,
    input_shape: tuple[int, int, int],
    num_classes: int,
    images: np.ndarray,
    members: int = 1,
    shifts: Sequence[tuple[int, int]] = ((0, 0),),
) -> tuple[float, float]:
    """Seconds per image of a pass through the float32 copy of one model of ``arch``, as
    :func:`evaluate` tests what is saved, and through ``members`` of them averaged over the
    views ``shifts`` (:func:`sweep.models.build.with_views`): timed on up to PASS_SAMPLE of
    ``images``. The weights are untrained: a pass costs what the model's shape does. Where a
    model trains in bfloat16 these passes cost more than its training's epochs say (float32
    ran at a fifth of bfloat16's rate on an AMX machine)."""
    from sweep.models.build import average_of, portable, with_views

    sample = images[: max(min(len(images), PASS_SAMPLE) // PREDICT_BATCH, 1) * PREDICT_BATCH]

    def seconds(model: keras.Model, batch: np.ndarray) -> float:
        started = time.perf_counter()
        probabilities(model, batch)
        return time.perf_counter() - started

    def timed(model: keras.Model) -> float:
        """Seconds per image past a call's own cost (its data pipeline: a tenth of a second,
        a third of a small model's pass over 1,024 images), which a pass over the test set
        pays once. Each call is the faster of two, as another job on the machine only slows
        one; where noise still hides the cost per image (a tiny sample), the whole call's
        rate stands in, an upper bound."""
        first = sample[:PREDICT_BATCH]
        seconds(model, first)  # traces the graph
        whole = min(seconds(model, sample) for _ in range(2))
        if len(sample) == len(first):
            return whole / len(first)
        past = whole - min(seconds(model, first) for _ in range(2))
        return past / (len(sample) - len(first)) if past > 0 else whole / len(sample)

    one = portable(build_model(arch, input_shape, num_classes, len(images)))
    alone = timed(one)
    averaged = members > 1 or len(shifts) > 1
    answer = timed(with_views(average_of([one] * members) if members > 1 else one, shifts)) if averaged else alone
    release()
    return alone, answer


def correct(model: keras.Model, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which of the images ``x`` the model classifies as ``y``."""
    right: np.ndarray = probabilities(model, x).argmax(axis=1) == y
    return right


def release() -> None:
    """Free what Keras keeps between models (graphs, layer-name counters) after a trial.

    Without it, every model a long sweep builds stays reachable and memory grows trial
    after trial (KerasTuner #395, Optuna #1178). About 10-15 MB per trial stays even so;
    worker processes are replaced every few trials (``--recycle``) for that.
    """
    import gc

    keras.backend.clear_session()
    gc.collect()


def library_versions() -> dict[str, str]:
    """Versions that decide whether a result can be reproduced."""
    import platform

    import optuna
    import sklearn

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "optuna": optuna.__version__,
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "precision": keras.mixed_precision.global_policy().name,
    }


def images_per_second(
    arch: Plan, input_shape: tuple[int, int, int], x: np.ndarray, y: np.ndarray, num_classes: int, images: int
) -> float:
    """How many training images a second this process trains ``arch`` on (validation left out):
    a first short fit traces the graph; then ``images`` more images take the difference between
    two timed fits, so what every fit costs besides its batches (a fresh input pipeline, about
    0.15 s here, a third of a 2,048-image fit on a fast machine) is left out."""
    model = new_model(arch, input_shape, num_classes, 0, len(x))
    warm = min(len(x), 4 * arch.batch_size)
    train(model, arch, x[:warm], y[:warm], seed=0, epochs=1)
    short = train(model, arch, x[:warm], y[:warm], seed=0, epochs=1).fit_seconds
    timed = min(len(x), warm + images)
    long = train(model, arch, x[:timed], y[:timed], seed=0, epochs=1).fit_seconds
    release()
    return (timed - warm) / max(long - short, 1e-9)
