"""End-to-end runs through the CLI on tiny data: baselines, the sweep, resume, failures,
pruning, Ctrl-C, retrain, export round trips, predict and the dashboard.

These train real (tiny) models, so they are marked slow; `make test` runs them too.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
from PIL import Image

from sweep.interface.cli import main
from tests.conftest import REPO
from tests.fixtures import FAST_SPACE, PruneAll, scaled_limit, write_cifar10, write_image_folder

pytestmark = pytest.mark.slow


# Tests that patch training code need the trials to run in this process.
IN_PROCESS = ("--workers", "1")
MEMBERS = 2  # SWEEP_MEMBERS of the averaged answer's test


def _space(tmp: Path, text: str = FAST_SPACE) -> str:
    path = tmp / "space.yaml"
    path.write_text(text)
    return str(path)


def _sweep(results: Path, space: str, *extra: str) -> int:
    return main(
        ["sweep", "--dataset", "digits", "--results", str(results), "--space", space, "--timeout", "600", *extra]
    )


def _reloads_and_predicts_the_same(folder: Path) -> None:
    """The saved model's predictions on the test set reproduce its recorded test accuracy."""
    import keras

    from sweep.data.registry import load_dataset

    metrics = json.loads((folder / "metrics.json").read_text())
    model = keras.saving.load_model(folder / "model.keras")
    dataset = load_dataset("digits", seed=metrics["seed"])
    predicted = model.predict(dataset.x_test, verbose=0).argmax(axis=1)
    assert np.mean(predicted == dataset.y_test) == pytest.approx(metrics["test_accuracy"], abs=1e-6)


# --- the four stages -------------------------------------------------------------------------


def test_baseline_on_digits_writes_every_file_and_reaches_90_percent(tmp_path: Path) -> None:
    assert main(["baseline", "--dataset", "digits", "--results", str(tmp_path)]) == 0
    out = tmp_path / "digits" / "baseline"
    for name in ("model.keras", "metrics.json", "samples.png", "history.png", "confusion_matrix.png"):
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.90
    for key in ("test_loss", "param_count", "epochs", "train_seconds", "seed", "versions", "data_source"):
        assert key in metrics
    assert set(metrics["per_class"]) == {str(d) for d in range(10)}
    assert {"precision", "recall", "f1-score"} <= set(metrics["per_class"]["3"])
    _reloads_and_predicts_the_same(out)


def test_baseline_on_an_image_folder(tmp_path: Path) -> None:
    folder = write_image_folder(
        tmp_path / "shapes", classes=("2", "10", "cat"), n_train=8, n_test=4, size=(20, 20), mode="RGB", ext="jpg"
    )
    assert main(["baseline", "--dataset", str(folder), "--results", str(tmp_path / "r"), "--epochs", "2"]) == 0
    from sweep.data.registry import results_name

    results = tmp_path / "r" / results_name(str(folder))
    metrics = json.loads((results / "baseline" / "metrics.json").read_text())
    assert metrics["class_names"] == ["2", "10", "cat"]
    assert metrics["epochs"] == 2
    # The folder is this dataset's: a built-in of the same base name could not write there.
    assert json.loads((results / "dataset.json").read_text())["dataset"] == str(folder)


def test_baseline_on_a_cifar10_fixture_through_the_real_loader(tmp_path: Path) -> None:
    write_cifar10(tmp_path / "data", n_per_batch=10)
    assert (
        main(
            [
                "baseline",
                "--dataset",
                "cifar10",
                "--data-dir",
                str(tmp_path / "data"),
                "--results",
                str(tmp_path / "r"),
                "--epochs",
                "1",
            ]
        )
        == 0
    )
    metrics = json.loads((tmp_path / "r" / "cifar10" / "baseline" / "metrics.json").read_text())
    assert metrics["param_count"] == 122_570
    assert metrics["class_names"][0] == "airplane"


# --- the sweep --------------------------------------------------------------------------------


def test_sweep_writes_ranked_leaderboard_with_baseline_as_trial_0(finished_sweep: Path) -> None:
    board = pd.read_csv(finished_sweep / "results" / "digits" / "leaderboard.csv")
    assert len(board) == 3
    assert list(board["rank"]) == [1, 2, 3]
    for column in (
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
        "filters_1",
        "dense_units",
        "learning_rate",
        "epochs",
        "param_count",
        "fit_seconds",
        "started",
        "finished",
    ):
        assert column in board.columns, column
    baseline = board[board["trial"] == 0].iloc[0]
    assert baseline["origin"] == "baseline" and baseline["filters_1"] == 32  # its own value
    assert baseline["val_low"] < baseline["val_accuracy"] < baseline["val_high"]
    first = board[board["trial"] == 1].iloc[0]  # run in full, never pruned
    assert first["origin"] == "first trial"
    assert (first["filters_1"], first["epochs_run"], first["state"]) == (8, 2, "complete")
    assert (board["origin"] == "first trial").sum() == 1
    complete = board[board["state"] == "complete"]
    assert list(complete["val_accuracy"]) == sorted(complete["val_accuracy"], reverse=True)
    order = {"complete": 0, "pruned": 1, "fail": 2}
    assert list(board["state"].map(order)) == sorted(board["state"].map(order))


def test_sweep_retrains_the_best_and_writes_best_files(finished_sweep: Path) -> None:
    results = finished_sweep / "results"
    best = results / "digits" / "best"
    for name in ("model.keras", "params.json", "metrics.json", "confusion_matrix.png", "history.png"):
        assert (best / name).stat().st_size > 0, name
    metrics = json.loads((best / "metrics.json").read_text())
    for key in (
        "test_accuracy",
        "test_accuracy_ci95",
        "test_loss",
        "per_class",
        "baseline_test_accuracy",
        "baseline_test_accuracy_ci95",
        "test_gain",
        "test_gain_ci95",
        "val_accuracy",
        "val_accuracy_ci95",
        "chosen_because",
        "param_count",
        "seed",
        "versions",
    ):
        assert key in metrics, key
    assert metrics["test_gain"] == pytest.approx(metrics["test_accuracy"] - metrics["baseline_test_accuracy"])
    low, high = metrics["test_gain_ci95"]
    assert low <= metrics["test_gain"] <= high
    low, high = metrics["test_accuracy_ci95"]
    assert low < metrics["test_accuracy"] <= high
    _reloads_and_predicts_the_same(best)
    assert (results / "digits" / "plots" / "optimization_history.png").is_file()
    assert (results / "digits" / "export" / "model.keras").is_file()
    summary = pd.read_csv(results / "leaderboard.csv")
    assert list(summary["dataset"]) == ["digits"]
    assert summary["test_accuracy"].iloc[0] == pytest.approx(metrics["test_accuracy"])


def test_sweep_with_the_shipped_mnist_space_on_a_tiny_mnist_file(tmp_path: Path) -> None:
    # The shipped space names filters_3, which the two-block MNIST baseline does not have.
    from tests.fixtures import write_mnist_npz

    write_mnist_npz(tmp_path / "data", n_train=100, n_test=20)
    assert (
        main(
            [
                "sweep",
                "--dataset",
                "mnist",
                "--data-dir",
                str(tmp_path / "data"),
                "--results",
                str(tmp_path / "r"),
                "--trials",
                "2",
                "--no-retrain",
            ]
        )
        == 0
    )
    board = pd.read_csv(tmp_path / "r" / "mnist" / "leaderboard.csv")
    assert board["state"].isin(["complete", "pruned"]).sum() == 2
    assert board.loc[board["origin"] == "baseline", "filters_1"].iloc[0] == 32


def test_a_time_limit_ends_the_search_early_enough_to_retrain_the_best(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two workers and a 60 s limit (scaled to this machine's speed): the search stops long
    before 50 trials (the workers see the limit too), and the best trial is still retrained and
    exported."""
    space = _space(tmp_path, FAST_SPACE + "first_trials:\n  - {filters_1: 8, epochs: 2}\n")
    results = tmp_path / "results"
    limit = scaled_limit(60)
    assert _sweep(results, space, "--trials", "50", "--workers", "2", "--time-limit", str(limit)) == 0
    out = capsys.readouterr().out
    assert "Search ended with" in out and f"left of the time limit (--time-limit {limit}" in out
    logs = [log.read_text() for log in (results / "digits" / "workers").glob("worker-*.log")]
    assert any("stopping: deadline" in log for log in logs)
    board = pd.read_csv(results / "digits" / "leaderboard.csv")
    assert {0, 1} <= set(board["trial"])  # the baseline and the first trial ran
    metrics = json.loads((results / "digits" / "best" / "metrics.json").read_text())
    assert metrics["trial"] in set(board["trial"])
    assert (results / "digits" / "export" / "model.keras").is_file()
    # A worker retrained the baseline during the search (sweep.search.jobs), and the gain is against it.
    assert any("retraining the baseline on train + validation while the search runs" in log for log in logs)
    assert (results / "digits" / "baseline" / "retrained.keras").is_file()
    assert metrics["baseline_test_accuracy"] is not None
    assert "Time: " in out and "busy" in out


def test_trials_on_a_share_keep_the_best_models_and_the_retrain_starts_from_its_trials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trials that explore on a share of the images (as on a slow machine) keep the best
    models, and the answer's retrain starts from its trial's (sweep.search.kept). The answer
    is forced to a sampled trial: which trial wins is the rule's business, tested elsewhere."""
    import sweep.commands.retrain
    import sweep.commands.sweep
    from sweep.choice.trials import is_baseline
    from sweep.search.kept import FOLDER, KEPT

    share = 600
    monkeypatch.setattr(sweep.commands.sweep, "exploration_images", lambda *args: (share, None))

    def a_sampled_trial(study: optuna.Study, *args: object) -> tuple[optuna.trial.FrozenTrial, str]:
        done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE and not is_baseline(t)]
        return max(done, key=lambda t: (t.value, -t.number)), "the test's pick"

    monkeypatch.setattr(sweep.commands.retrain, "answer", a_sampled_trial)
    results = tmp_path / "results"
    limit = str(scaled_limit(120))
    assert _sweep(results, _space(tmp_path), "--trials", "5", "--time-limit", limit, *IN_PROCESS) == 0
    out = capsys.readouterr().out
    board = pd.read_csv(results / "digits" / "leaderboard.csv")
    assert set(board["train_images"]) == {share}
    kept = sorted((results / "digits" / FOLDER).glob("*.keras"))
    assert 1 <= len(kept) <= KEPT and not any(name.stem.endswith("trial_0") for name in kept)  # not the baseline's
    metrics = json.loads((results / "digits" / "best" / "metrics.json").read_text())
    assert metrics["warm_start"] is True
    assert f"from its trial's weights (trained on {share} images, kept from the search)" in out
    assert any(name.stem.endswith(f"trial_{metrics['trial']}") for name in kept)


def test_time_left_when_the_baseline_is_the_answer_trains_copies_averaged_with_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sampled trials that cannot learn (a learning rate of 1e-7; the baseline keeps its own):
    the baseline is the answer, a worker retrained it during the search, and the time kept for
    the answer trains copies of it side by side, averaged with it; the gain is against it alone."""
    from sweep.machine.backend import usable_cpus

    if usable_cpus() < 2:
        pytest.skip("copies train one a core: this machine has one")
    text = (
        "params:\n  learning_rate: {type: float, low: 1.0e-7, high: 2.0e-7}\n  epochs: {type: int, low: 2, high: 3}\n"
    )
    results = tmp_path / "results"
    limit = scaled_limit(180)  # the finalists are cross-validated first (144 validation images)
    assert _sweep(results, _space(tmp_path, text), "--trials", "3", "--workers", "2", "--time-limit", str(limit)) == 0
    assert "more copies of it train side by side in the time left" in capsys.readouterr().out
    metrics = json.loads((results / "digits" / "best" / "metrics.json").read_text())
    assert metrics["trial"] == 0 and metrics["members"] == 3  # the worker's model and two copies
    assert metrics["baseline_test_accuracy"] == metrics["single_test_accuracy"]  # the worker's model alone
    assert metrics["test_gain"] is not None and metrics["test_gain_ci95"] is not None
    assert "averaging 3 copies of it" in (results / "digits" / "report.html").read_text()


def test_running_again_resumes_and_trials_counts_the_total(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space = _space(tmp_path)
    assert _sweep(tmp_path / "r", space, "--trials", "3", "--no-retrain") == 0
    first = pd.read_csv(tmp_path / "r" / "digits" / "leaderboard.csv").sort_values("trial")
    assert _sweep(tmp_path / "r", space, "--trials", "5", "--no-retrain") == 0
    second = pd.read_csv(tmp_path / "r" / "digits" / "leaderboard.csv").sort_values("trial")
    assert second["state"].isin(["complete", "pruned"]).sum() == 5
    kept = ["trial", "state", "val_accuracy", "filters_1", "dense_units", "learning_rate", "started"]
    pd.testing.assert_frame_equal(first[kept].reset_index(drop=True), second[kept].head(3).reset_index(drop=True))
    assert (second["origin"] == "baseline").sum() == 1  # enqueued once, not per run
    # Once more with the same count: nothing to search, and no worker process is started.
    logs = tmp_path / "r" / "digits" / "workers"

    def log_sizes() -> dict[str, int]:  # no folder where one core means no worker processes
        return {log.name: log.stat().st_size for log in logs.glob("*.log")}

    sizes = log_sizes()
    capsys.readouterr()
    assert _sweep(tmp_path / "r", space, "--trials", "5", "--no-retrain") == 0
    out = capsys.readouterr().out
    assert "already holds 5 finished trials (--trials 5): nothing to search" in out
    assert "trials (study 'digits'; none run now)." in out  # not "in 0s": it searched nothing
    assert log_sizes() == sizes
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "r" / "digits" / "leaderboard.csv").sort_values("trial"), second
    )


def test_a_failing_trial_is_recorded_and_the_sweep_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sweep.models.train

    real = sweep.models.train.new_model

    def flaky(arch, input_shape, num_classes, seed, train_images):  # trial 1 of seed 0 breaks
        if seed == 1:
            raise RuntimeError("simulated out of memory")
        return real(arch, input_shape, num_classes, seed, train_images)

    monkeypatch.setattr(sweep.models.train, "new_model", flaky)
    assert _sweep(tmp_path, _space(tmp_path), "--trials", "3", "--no-retrain", *IN_PROCESS) == 0
    board = pd.read_csv(tmp_path / "digits" / "leaderboard.csv")
    assert board["state"].isin(["complete", "pruned"]).sum() == 3  # failures do not count
    failed = board[board["state"] == "fail"]
    assert list(failed["trial"]) == [1]
    assert "simulated out of memory" in failed["error"].iloc[0]
    assert board["state"].iloc[-1] == "fail"  # listed below the finished ones


def test_ctrl_c_leaves_valid_results_and_the_next_run_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sweep.models.train

    real = sweep.models.train.new_model

    def interrupted(arch, input_shape, num_classes, seed, train_images):
        if seed == 1:
            raise KeyboardInterrupt
        return real(arch, input_shape, num_classes, seed, train_images)

    monkeypatch.setattr(sweep.models.train, "new_model", interrupted)
    space = _space(tmp_path)
    assert _sweep(tmp_path, space, "--trials", "3", *IN_PROCESS) == 130
    board = pd.read_csv(tmp_path / "digits" / "leaderboard.csv")
    assert board.loc[board["trial"] == 0, "state"].iloc[0] == "complete"
    monkeypatch.setattr(sweep.models.train, "new_model", real)
    assert _sweep(tmp_path, space, "--trials", "3", "--no-retrain") == 0
    board = pd.read_csv(tmp_path / "digits" / "leaderboard.csv")
    assert board["state"].isin(["complete", "pruned"]).sum() == 3


def test_pruning_really_happens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A wrong metric name in the Keras callback only warns and never reports: then nothing
    # could be pruned. With a pruner that prunes at the first report, every sampled trial must
    # stop after one epoch, with that epoch's validation accuracy recorded; the baseline, which
    # is never pruned, reports every epoch and completes.
    from sweep.search.study import PRUNER_FACTORIES

    monkeypatch.setitem(PRUNER_FACTORIES, "hyperband", PruneAll)  # the default pruner's entry
    assert _sweep(tmp_path, _space(tmp_path), "--trials", "3", "--no-retrain", *IN_PROCESS) == 0
    study = optuna.load_study(study_name="digits", storage=f"sqlite:///{tmp_path / 'digits' / 'study.db'}")
    baseline, *sampled = study.trials
    assert baseline.state == optuna.trial.TrialState.COMPLETE
    # Reported at the share of their training done, in percent: 20 epochs, 5 % each.
    epochs = baseline.user_attrs["epochs_run"]
    assert list(baseline.intermediate_values) == [round(100 * e / epochs) for e in range(1, epochs + 1)]
    assert [t.state for t in sampled] == [optuna.trial.TrialState.PRUNED] * 2
    for trial in sampled:
        assert list(trial.intermediate_values) == [round(100 / trial.params["epochs"])]
        assert trial.user_attrs["epochs_run"] == 1


def test_hyperband_prunes_hopeless_trials(tmp_path: Path) -> None:
    # A learning rate of 1e-5 learns nothing in a few epochs, 3e-3 learns. Sampled trials are
    # pruned against each other (the baseline sets no bar), once enough have reached a rung.
    space = _space(
        tmp_path,
        FAST_SPACE.replace(
            "{type: float, low: 1.0e-3, high: 1.0e-2, log: true}", "{type: categorical, choices: [1.0e-5, 3.0e-3]}"
        ).replace("low: 2, high: 4", "low: 10, high: 10"),
    )
    assert _sweep(tmp_path, space, "--trials", "9", "--no-retrain", "--pruner", "hyperband") == 0
    board = pd.read_csv(tmp_path / "digits" / "leaderboard.csv")
    pruned = board[board["state"] == "pruned"]
    assert len(pruned) >= 1
    assert (pruned["epochs_run"] < 10).all()


# --- export, predict, dashboard, leaderboard --------------------------------------------------


@pytest.mark.parametrize("fmt", ["keras", "h5", "savedmodel", "tflite"])
def test_export_round_trip(finished_sweep: Path, fmt: str) -> None:
    import keras

    results = finished_sweep / "results"
    assert main(["export", "--dataset", "digits", "--results", str(results), "--format", fmt]) == 0
    export = results / "digits" / "export"
    # Saved models compute in float32 even where training used bfloat16 (sweep.machine.backend), in
    # plain Keras layers (no sweep classes: sweep.models.build.portable).
    model = keras.saving.load_model(results / "digits" / "best" / "model.keras")
    assert {layer.dtype_policy.name for layer in model.layers[1:]} == {"float32"}  # [0]: the input
    batch = np.random.default_rng(0).random((5, 8, 8, 1), dtype=np.float32)
    expected = model.predict(batch, verbose=0)
    if fmt in ("keras", "h5"):
        got = keras.saving.load_model(export / f"model.{fmt}").predict(batch, verbose=0)
    elif fmt == "savedmodel":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(export / "savedmodel"))  # keep it: serve needs its variables
        got = loaded.serve(batch).numpy()
    else:
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(export / "model.tflite"))
        interpreter.allocate_tensors()
        (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
        got = []
        for image in batch:  # the converted model has a fixed batch size of 1
            interpreter.set_tensor(inp["index"], image[None])
            interpreter.invoke()
            got.append(interpreter.get_tensor(out["index"])[0])
        got = np.stack(got)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_retrain_averages_two_models_side_by_side_and_keeps_one_alone(
    finished_sweep: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras

    from sweep.machine.backend import usable_cpus

    if usable_cpus() < MEMBERS:
        pytest.skip("one core: two models would take turns, so the answer is one (sweep.commands.ensemble)")
    monkeypatch.setenv("SWEEP_MEMBERS", str(MEMBERS))
    results = tmp_path / "results"
    shutil.copytree(finished_sweep / "results", results)  # the shared sweep's files stay as they are
    assert main(["retrain", "--dataset", "digits", "--results", str(results), "--trial", "1"]) == 0
    best = results / "digits" / "best"
    metrics = json.loads((best / "metrics.json").read_text())
    assert metrics["members"] == MEMBERS and metrics["member_epochs"] == [2, 2]  # trial 1: 2 epochs
    _reloads_and_predicts_the_same(best)  # the averaged model, as tested
    averaged = keras.saving.load_model(best / "model.keras")
    single = keras.saving.load_model(best / "single.keras")
    assert averaged.count_params() == MEMBERS * single.count_params() == MEMBERS * metrics["single_param_count"]
    batch = np.random.default_rng(0).random((5, 8, 8, 1), dtype=np.float32)
    members = [averaged.get_layer(f"member_{k + 1}").predict(batch, verbose=0) for k in range(MEMBERS)]
    assert averaged.predict(batch, verbose=0) == pytest.approx(np.mean(members, axis=0), abs=1e-6)
    assert single.predict(batch, verbose=0) == pytest.approx(members[0], abs=1e-6)  # member 1 alone
    exported = results / "digits" / "export" / "single" / "model.keras"
    assert keras.saving.load_model(exported).count_params() == single.count_params()
    assert main(["export", "--dataset", "digits", "--results", str(results), "--single", "--format", "tflite"]) == 0
    assert (results / "digits" / "export" / "single" / "model.tflite").stat().st_size > 0


def test_export_single_of_an_answer_of_one_model_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    best = tmp_path / "digits" / "best"
    best.mkdir(parents=True)
    (best / "model.keras").write_bytes(b"one model")
    assert main(["export", "--dataset", "digits", "--results", str(tmp_path), "--single"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "single.keras not found: the answer is one model already" in err[0]


def test_predict_prints_class_names(finished_sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sklearn.datasets import load_digits

    digits = load_digits()
    path = finished_sweep / "digit.png"
    Image.fromarray((digits.images[0] * 255 / 16).astype(np.uint8), mode="L").save(path)
    assert main(["predict", "--dataset", "digits", "--results", str(finished_sweep / "results"), str(path)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    # The same image through the saved model, by hand: the line names its class and probability.
    import keras

    from sweep.models.build import probabilities

    model = keras.saving.load_model(finished_sweep / "results" / "digits" / "best" / "model.keras")
    image = np.asarray(Image.open(path), dtype=np.float32)[None, :, :, None] / 255.0
    probs = probabilities(model, image)[0]
    assert line == f"{path}: {int(probs.argmax())} ({probs.max():.1%})"


def test_leaderboard_command_prints_the_top_rows(finished_sweep: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["leaderboard", "--dataset", "digits", "--results", str(finished_sweep / "results"), "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "val_accuracy" in out and "3 trials" in out


def test_dashboard_serves_the_study(finished_sweep: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sweep",
            "dashboard",
            "--dataset",
            "digits",
            "--results",
            str(finished_sweep / "results"),
            "--port",
            str(port),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, studies = time.monotonic() + 60, None
        while time.monotonic() < deadline and studies is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=2) as reply:
                    studies = json.loads(reply.read().decode())["study_summaries"]
            except OSError:
                assert server.poll() is None, server.stdout.read()
                time.sleep(0.5)
        # The dashboard's own API lists this sweep's study, with its trials.
        assert studies is not None and [s["study_name"] for s in studies] == ["digits"]
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_retrain_uses_the_split_the_study_was_created_with(finished_sweep: Path) -> None:
    results = finished_sweep / "results"
    assert main(["retrain", "--dataset", "digits", "--results", str(results)]) == 0
    assert json.loads((results / "digits" / "best" / "metrics.json").read_text())["seed"] == 1
    assert (
        main(
            [
                "retrain",
                "--dataset",
                "mnist",
                "--results",
                str(results),
                "--study",
                "digits",
                "--storage",
                f"sqlite:///{results / 'digits' / 'study.db'}",
            ]
        )
        == 2
    )


def test_a_bad_run_leaves_earlier_results_untouched(finished_sweep: Path) -> None:
    results = finished_sweep / "results"
    before = {p: p.read_bytes() for p in (results / "digits").glob("*.csv")}
    bad = _space(finished_sweep, "params:\n  dropout: {type: float, low: 0.9, high: 0.1}\n")
    assert main(["sweep", "--dataset", "digits", "--results", str(results), "--space", bad]) == 2
    assert {p: p.read_bytes() for p in (results / "digits").glob("*.csv")} == before
    assert not list((results / "digits").rglob(".*.tmp*"))  # no half-written temporaries


def test_a_portfolio_space_runs_its_starting_points_and_cross_validates_a_small_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # digits keep 144 validation images: too few to choose on, so the finalists are
    # cross-validated; the epochs of the space keep every run short.
    space = _space(
        tmp_path,
        "portfolio: true\nparams:\n"
        "  padding:       {type: categorical, choices: [same]}\n"
        "  batch_norm:    {type: categorical, choices: [false, true]}\n"
        "  dense_units:   {type: categorical, choices: [0, 128, 256]}\n"
        "  epochs:        {type: int, low: 2, high: 3}\n",
    )
    results = tmp_path / "results"
    assert _sweep(results, space, "--trials", "4", *IN_PROCESS) == 0
    out = capsys.readouterr().out
    board = pd.read_csv(results / "digits" / "leaderboard.csv")
    assert set(board["origin"]) >= {"baseline", "portfolio: small", "portfolio: double"}
    assert "144 images, too few to choose on: cross-validating trials" in out
    metrics = json.loads((results / "digits" / "best" / "metrics.json").read_text())
    assert "4-fold cross-validation (1437 images)" in metrics["chosen_because"]
    study = optuna.load_study(study_name="digits", storage=f"sqlite:///{results / 'digits' / 'study.db'}")
    assert len(study.user_attrs["cross_validation"]) == 3  # two finalists and the baseline
    # A second retrain reuses the folds' results instead of training them again.
    assert main(["retrain", "--dataset", "digits", "--results", str(results)]) == 0
    assert "cross-validate trial" not in capsys.readouterr().out


def test_an_answer_trained_on_shifts_predicts_over_views_and_keeps_the_model_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras

    from sweep.data.registry import load_dataset
    from sweep.models.views import SHIFTS
    from tests.fixtures import write_mnist_npz
    from tests.test_views import _moved

    write_mnist_npz(tmp_path / "data", n_train=120, n_test=30)
    space = _space(
        tmp_path,
        "params:\n"
        "  augment:       {type: categorical, choices: [0.1]}\n"  # shifts of up to 2.8 pixels
        "  filters_1:     {type: categorical, choices: [4]}\n"
        "  filters_2:     {type: categorical, choices: [4]}\n"
        "  dense_units:   {type: categorical, choices: [8]}\n"
        "  epochs:        {type: int, low: 1, high: 1}\n",
    )
    results = tmp_path / "results"
    data = ["--dataset", "mnist", "--data-dir", str(tmp_path / "data"), "--results", str(results)]
    assert main(["sweep", *data, "--space", space, "--trials", "2", *IN_PROCESS]) == 0
    # The answer is trial 1, trained on shifts; the baseline (trial 0) on none.
    assert main(["retrain", *data, "--trial", "1"]) == 0
    best = results / "mnist" / "best"
    metrics = json.loads((best / "metrics.json").read_text())
    assert metrics["views"] == len(SHIFTS) and metrics["members"] == 1
    viewed, alone = (keras.saving.load_model(best / name) for name in ("model.keras", "single.keras"))
    assert viewed.name == "views" and viewed.count_params() == alone.count_params()
    dataset = load_dataset("mnist", data_dir=str(tmp_path / "data"), seed=metrics["seed"])
    x = dataset.x_test
    expected = np.mean([alone.predict(_moved(x, *shift), verbose=0) for shift in SHIFTS], axis=0)
    assert viewed.predict(x, verbose=0) == pytest.approx(expected, abs=1e-5)
    assert np.mean(expected.argmax(axis=1) == dataset.y_test) == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    assert (results / "mnist" / "export" / "single" / "model.keras").is_file()
    assert metrics["tflite_kb"] is not None  # the model over views converts to TFLite
    # The baseline trained on no shifts, and SWEEP_VIEWS=1 asks for one view: the model alone.
    assert main(["retrain", *data, "--trial", "0"]) == 0
    assert json.loads((best / "metrics.json").read_text())["views"] == 1
    monkeypatch.setenv("SWEEP_VIEWS", "1")
    assert main(["retrain", *data, "--trial", "1"]) == 0
    assert json.loads((best / "metrics.json").read_text())["views"] == 1
    assert keras.saving.load_model(best / "model.keras").name != "views"
