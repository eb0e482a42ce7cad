"""The default strategy on every real dataset at hand, against KerasTuner (``BENCH=datasets``),
and how often the pruner stopped a trial that would have ranked in the top 3 (``pruning``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from bench.common import machine_info, sweep_command
from sweep.choice.leaderboard import write_csv
from sweep.files import write_json

# The real datasets this project has: MNIST (Keras's file), MNIST as the notebook's image folder
# (train/<class>/*.jpg), stratified MNIST subsets of 1,000 and 10,000 training images (the same
# 10,000 test images), and scikit-learn's digits.
DATASETS = ("mnist", "mnist-folder", "mnist-10k", "mnist-1k", "digits")
ENGINES_RACED = {"sweep": (), "kerastuner": ("--engine", "kerastuner", "--tuner", "hyperband")}


def bench_data(name: str, mnist: Path | None, folder: Path) -> tuple[str, str | None]:
    """The --dataset and --data-dir of benchmark dataset ``name``, writing its files under
    ``folder`` from Keras's ``mnist`` file the first time."""
    import numpy as np

    if name == "digits":
        return "digits", None
    if mnist is None:
        raise FileNotFoundError("needs Keras's mnist.npz: set SWEEP_DATA_DIR or pass --data-dir")
    if name == "mnist":
        return "mnist", str(mnist.parent)
    with np.load(mnist, allow_pickle=False) as arrays:
        data = {key: arrays[key] for key in arrays.files}
    if name == "mnist-folder":
        root = folder / "mnist-folder"
        if not (root / "test").is_dir():
            write_image_folder(data, root)
        return str(root), None
    target = folder / name / "mnist.npz"
    if not target.is_file():
        keep = np.sort(subset_split(data["y_train"], name)[0])
        target.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            target,
            x_train=data["x_train"][keep],
            y_train=data["y_train"][keep],
            x_test=data["x_test"],
            y_test=data["y_test"],
        )
    return "mnist", str(target.parent)


def subset_split(labels: Any, name: str) -> tuple[Any, Any]:
    """The indices of MNIST subset ``name``'s training images (``mnist-1k``: 1,000 of
    ``labels``, stratified, seeded) and of the rest, unsorted: every benchmark's same images."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    size = int(name.removeprefix("mnist-").removesuffix("k")) * 1000
    keep, rest = train_test_split(np.arange(len(labels)), train_size=size, stratify=labels, random_state=0)
    return keep, rest


def write_image_folder(data: dict[str, Any], root: Path) -> None:
    """MNIST as the notebook's image folder: <split>/<digit>/<n>.jpg, written beside, then
    renamed into place."""
    from PIL import Image

    staging = root.with_name(root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for split in ("train", "test"):
        for index, (pixels, label) in enumerate(zip(data[f"x_{split}"], data[f"y_{split}"])):
            path = staging / split / str(label) / f"{index:05d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path, quality=95)
    staging.rename(root)


def race(
    name: str, engine: str, dataset: str, data_dir: str | None, time_limit: float, seed: int, out: Path
) -> dict[str, object]:
    """One bare sweep (or KerasTuner's) on one dataset; its row of the datasets table."""
    folder = out / name / engine
    shutil.rmtree(folder, ignore_errors=True)
    command = sweep_command(
        dataset, folder, seed, "--time-limit", str(time_limit), *ENGINES_RACED[engine], retrain=True
    )
    if data_dir is not None:
        command += ["--data-dir", data_dir]
    started = time.monotonic()
    with open(out / name / f"{engine}.log", "w") as log:
        subprocess.run(command, check=True, stdout=log, stderr=subprocess.STDOUT)
    wall = time.monotonic() - started
    results = next(path for path in folder.iterdir() if path.is_dir())  # results/<dataset name>/
    metrics = json.loads((results / "best" / "metrics.json").read_text())
    board = pd.read_csv(results / "leaderboard.csv")
    states = board["state"].value_counts().to_dict()
    winner = board.loc[board["trial"] == metrics["trial"], "origin"]
    low, high = metrics["test_gain_ci95"] or (None, None)
    return {
        "dataset": name,
        "engine": engine,
        "minutes": round(wall / 60, 1),
        "trials": len(board),
        "complete": states.get("complete", 0),
        "pruned": states.get("pruned", 0),
        "baseline_test": metrics["baseline_test_accuracy"],
        "final_test": metrics["test_accuracy"],
        "gain": metrics["test_gain"],
        "gain_low": low,
        "gain_high": high,
        "final_from": winner.iloc[0] if len(winner) else "?",
        "final_trial": metrics["trial"],
    }


def datasets(
    names: list[str], engines: list[str], time_limit: float, seed: int, data_dir: str | None, out: Path
) -> pd.DataFrame:
    """The bare default sweep and KerasTuner Hyperband, each with the same time limit, on every
    benchmark dataset: ``datasets.csv`` and a Markdown table ``datasets.md``."""
    from sweep.data.keras_files import resolve_data_dir

    out.mkdir(parents=True, exist_ok=True)
    chosen = resolve_data_dir(data_dir)
    mnist = chosen / "mnist.npz" if chosen is not None and (chosen / "mnist.npz").is_file() else None
    rows = []
    for name in names:
        try:
            dataset, folder = bench_data(name, mnist, out / "data")
        except FileNotFoundError as error:
            print(f"{name}: skipped ({error})", flush=True)
            continue
        (out / name).mkdir(exist_ok=True)
        for engine in engines:
            rows.append(race(name, engine, dataset, folder, time_limit, seed, out))
            row = rows[-1]
            print(
                f"{name} {engine}: {row['minutes']} min, {row['trials']} trials, baseline "
                f"{row['baseline_test']}, final {row['final_test']:.4f} ({row['final_from']})",
                flush=True,
            )
            table = pd.DataFrame(rows)
            write_csv(table, out / "datasets.csv")  # after every run: a long bench keeps its rows
    (out / "datasets.md").write_text(markdown_table(table) + "\n")
    write_json(out / "machine.json", machine_info())
    return table


def markdown_table(table: pd.DataFrame) -> str:
    """The datasets table as the README shows it."""
    lines = [
        "| Dataset | Engine | Minutes | Trials (complete + pruned) | Baseline test | Final test "
        "| Gain (95 % interval) | Final model from |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        gain = "—" if pd.isna(row.gain) else f"{row.gain:+.4f} ({row.gain_low:+.4f} to {row.gain_high:+.4f})"
        base = "—" if pd.isna(row.baseline_test) else f"{row.baseline_test:.4f}"
        lines.append(
            f"| {row.dataset} | {row.engine} | {row.minutes} | {row.trials} "
            f"({row.complete} + {row.pruned}) | {base} | {row.final_test:.4f} | {gain} "
            f"| {row.final_from} (trial {row.final_trial}) |"
        )
    return "\n".join(lines)


def pruning(results: Path, study_name: str, sample: int, seed: int, data_dir: str | None, out: Path) -> pd.DataFrame:
    """How often the pruner stopped a trial that would have ranked in the top 3: ``sample`` of a
    finished sweep's pruned trials (``results``: its results root) run again in full, on the
    study's own split and on the share of its training images that its trials explored on
    (:mod:`sweep.search.fidelity`), and ranked among its completed trials (``pruning.csv``)."""
    import random

    from sweep.choice.trials import over_limits, stopped_by
    from sweep.models.params import baseline_params
    from sweep.progress import Display
    from sweep.search.fidelity import exploring
    from sweep.search.objective import Objective
    from sweep.search.study import load_study_at, recorded_data, recorded_explore_images, recorded_settings
    from sweep.settings import load_checked
    from sweep.space.spaces import parse_space

    out.mkdir(parents=True, exist_ok=True)
    folder = next(path for path in results.iterdir() if (path / "study.db").is_file())
    study = load_study_at(f"sqlite:///{(folder / 'study.db').resolve()}", study_name)
    record = recorded_settings(study)
    data = recorded_data(record, data_dir, str(results))
    display = Display()
    dataset = load_checked(data, display)
    space = parse_space(record["space"], record["space_source"]).for_data(len(dataset.x_train))  # as the sweep
    dataset = exploring(dataset, recorded_explore_images(study) or len(dataset.y_train), data.seed)
    completed = sorted((t.values[0] for t in study.trials if t.state == TrialState.COMPLETE), reverse=True)
    third = completed[min(2, len(completed) - 1)]
    # The pruner's: not those a deadline, the answer's share or a deployment limit stopped.
    pruned = [t for t in study.trials if t.state == TrialState.PRUNED and not stopped_by(t) and not over_limits(t)]
    chosen = random.Random(seed).sample(pruned, min(sample, len(pruned)))
    # NopPruner: every trial runs in full (create_study would bring a MedianPruner).
    replay = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    baseline = baseline_params(data.kind, dataset.input_shape)
    rows = []
    for trial in chosen:
        replay.enqueue_trial(trial.params)
        run = replay.ask()
        value = Objective(dataset, space, baseline, data.seed, display)(run)
        replay.tell(run, value)
        stopped_at = max(trial.intermediate_values) if trial.intermediate_values else 0
        rows.append(
            {
                "trial": trial.number,
                "pruned_at_percent": stopped_at,
                "score_when_pruned": trial.intermediate_values.get(stopped_at),
                "full_score": value,
                "third_best_complete": third,
                "top3": value >= third,  # ties count: on small validation splits many reach 1.0
                "above_third": value > third,
            }
        )
        print(
            f"trial {trial.number}: pruned at {stopped_at} %, in full {value:.4f} "
            f"({'top 3' if value >= third else 'not top 3'}; third best {third:.4f})",
            flush=True,
        )
    table = pd.DataFrame(rows)
    write_csv(table, out / "pruning.csv")
    if len(table):
        print(
            f"{int(table['top3'].sum())} of {len(table)} pruned trials would have ranked in the "
            f"top 3 ({table['top3'].mean():.0%}), {int(table['above_third'].sum())} above the "
            "third best (ties aside)",
            flush=True,
        )
    write_json(out / "machine.json", machine_info())
    return table
