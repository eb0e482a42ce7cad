"""The pure parts of ``make bench``: the benchmark datasets and their table, the floor, where
the workers' time went.

The benchmarks themselves train for minutes and time things, so they are never run by tests.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from optuna.trial import FrozenTrial, TrialState

from bench.datasets import bench_data, markdown_table
from bench.floor import best_rate, dtype_of, floor_candidates, layer_macs
from bench.resources import time_use
from bench.speed import floor_seconds


def test_benchmark_subsets_and_image_folder_are_real_mnist_files(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (3000, 28, 28), dtype=np.uint8),
        "y_train": np.arange(3000) % 10,
        "x_test": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "y_test": np.arange(20) % 10,
    }
    mnist = tmp_path / "keras" / "mnist.npz"
    mnist.parent.mkdir()
    np.savez(mnist, **arrays)
    assert bench_data("mnist", mnist, tmp_path / "data") == ("mnist", str(mnist.parent))
    dataset, folder = bench_data("mnist-1k", mnist, tmp_path / "data")
    with np.load(Path(folder) / "mnist.npz") as subset:
        assert dataset == "mnist" and len(subset["y_train"]) == 1000
        assert np.bincount(subset["y_train"]).tolist() == [100] * 10  # stratified
        assert len(subset["y_test"]) == 20  # the whole test set
    root, none = bench_data("mnist-folder", mnist, tmp_path / "data")
    assert none is None and len(list(Path(root, "train", "7").glob("*.jpg"))) == 300
    with Image.open(next(Path(root, "test", "0").glob("*.jpg"))) as image:
        assert image.size == (28, 28) and image.mode == "L"
    assert bench_data("digits", None, tmp_path) == ("digits", None)
    with pytest.raises(FileNotFoundError, match="mnist.npz"):
        bench_data("mnist-10k", None, tmp_path)


def test_the_datasets_table_reads_as_the_readme_shows_it() -> None:
    table = pd.DataFrame(
        [
            {
                "dataset": "digits",
                "engine": "sweep",
                "minutes": 18.9,
                "trials": 40,
                "complete": 12,
                "pruned": 28,
                "baseline_test": 0.9806,
                "final_test": 0.9944,
                "gain": 0.0139,
                "gain_low": 0.0011,
                "gain_high": 0.0267,
                "final_from": "portfolio: vgg",
                "final_trial": 2,
            },
            {
                "dataset": "digits",
                "engine": "kerastuner",
                "minutes": 12.0,
                "trials": 30,
                "complete": 30,
                "pruned": 0,
                "baseline_test": None,
                "final_test": 0.97,
                "gain": None,
                "gain_low": None,
                "gain_high": None,
                "final_from": "sampler",
                "final_trial": 7,
            },
        ]
    )
    lines = markdown_table(table).splitlines()
    assert lines[2] == (
        "| digits | sweep | 18.9 | 40 (12 + 28) | 0.9806 | 0.9944 | "
        "+0.0139 (+0.0011 to +0.0267) | portfolio: vgg (trial 2) |"
    )
    assert "| — | 0.9700 | — |" in lines[3]


@pytest.mark.parametrize(
    ("cores", "bfloat16", "expected"),
    [
        (1, False, [("tensorflow", "float32", 1, 1), ("numpy", "float32", 1, 1)]),
        (
            2,
            True,
            [
                ("tensorflow", "float32", 1, 2),
                ("tensorflow", "float32", 2, 1),
                ("numpy", "float32", 1, 2),
                ("numpy", "float32", 2, 1),
                ("tensorflow", "bfloat16", 1, 2),  # NumPy has no bfloat16 product
                ("tensorflow", "bfloat16", 2, 1),
            ],
        ),
    ],
)
def test_the_floor_tries_every_library_precision_and_layout(
    cores: int, bfloat16: bool, expected: list[tuple[str, str, int, int]]
) -> None:
    assert floor_candidates(cores, bfloat16) == expected


def test_the_floor_of_a_precision_is_its_fastest_candidate() -> None:
    rows = [
        {"library": "tensorflow", "dtype": "float32", "gflops": 110.0},
        {"library": "numpy", "dtype": "float32", "gflops": 197.0},
        {"library": "tensorflow", "dtype": "bfloat16", "gflops": 404.0},
    ]
    assert best_rate(rows, "float32") == rows[1]
    assert best_rate(rows, "bfloat16") == rows[2]
    assert best_rate(rows[:2], "bfloat16") is None
    assert (dtype_of("mixed_bfloat16"), dtype_of("float32")) == ("bfloat16", "float32")


@pytest.mark.parametrize(
    ("kernel", "output", "macs"),
    [
        ((3, 3, 1, 32), (None, 26, 26, 32), 26 * 26 * 9 * 32),  # the MNIST notebook's first conv
        ((3, 3, 32, 64), (None, 11, 11, 64), 11 * 11 * 9 * 32 * 64),
        ((1600, 128), (None, 128), 1600 * 128),  # a dense layer: one position
    ],
)
def test_a_layers_multiply_adds_are_its_weights_times_its_output_positions(
    kernel: tuple[int, ...], output: tuple[int | None, ...], macs: int
) -> None:
    assert layer_macs(kernel, output) == macs


def test_floor_seconds_is_flops_over_rate() -> None:
    # The figures: 15.4 MFLOP per image at 159 GFLOP/s is about 5.8 s per 60k images.
    assert floor_seconds(15.4e6, 159.0) == pytest.approx(5.81, abs=0.01)
    assert floor_seconds(1e9, 1.0, images=3) == pytest.approx(3.0)


def _timed_trial(number: int, start: float, end: float, fit: float) -> FrozenTrial:
    zero = datetime(2026, 1, 1)
    return FrozenTrial(
        number=number,
        state=TrialState.COMPLETE,
        value=0.99,
        values=None,
        datetime_start=zero + timedelta(seconds=start),
        datetime_complete=zero + timedelta(seconds=end),
        params={},
        distributions={},
        user_attrs={"fit_seconds": fit},
        system_attrs={},
        intermediate_values={},
        trial_id=number,
    )


def test_time_use_splits_worker_time_into_fit_around_it_and_between_trials() -> None:
    # Two workers over 0-20 s. Worker A: trial 0 in 0-9 s (8 s of fit), a 2 s restart, trial 2
    # in 11-20 s (7 s). Worker B: trial 1 in 1-18 s (15 s), then idle until 20 s.
    trials = [_timed_trial(0, 0, 9, 8.0), _timed_trial(1, 1, 18, 15.0), _timed_trial(2, 11, 20, 7.0)]
    use = time_use(trials, workers=2)
    assert use == {
        "trials": 3,
        "trial_span_s": 20.0,
        "trials_per_hour": 540.0,
        "fit_s": 10.0,
        "in_trial_s": 1.67,
        "between_trials_s": 1.67,
    }
    # Every worker-second of the span is counted once: in fit, around it, or between trials.
    assert 3 * (use["fit_s"] + use["in_trial_s"] + use["between_trials_s"]) == pytest.approx(2 * 20, abs=0.05)
    with pytest.raises(ValueError, match="at least one"):
        time_use([], workers=2)


def test_the_pareto_bench_scores_a_front_by_the_area_it_dominates() -> None:
    from optuna.trial import create_trial

    from bench.pareto import ACCURACY_FLOOR, hypervolume

    def point(value: float, latency: float) -> FrozenTrial:
        return create_trial(value=value, user_attrs={"latency_ms": latency})

    front = [point(0.95, 0.01), point(0.99, 0.1)]  # cheapest first
    # log10 from 0.01 to 0.1 at 0.05 above the floor, then from 0.1 to 1 at 0.09.
    assert hypervolume(front, 1.0) == pytest.approx((0.95 - ACCURACY_FLOOR) + (0.99 - ACCURACY_FLOOR))
    assert hypervolume(front[1:], 1.0) < hypervolume(front, 1.0)  # a cheaper point adds area


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_the_pareto_benchs_tpe_arm_samples_as_an_accuracy_only_search(monkeypatch: pytest.MonkeyPatch) -> None:
    import sweep.interface.cli
    from bench.pareto import run_arm
    from sweep.search import study
    from sweep.search.pareto_sampler import ParetoSampler
    from sweep.space.spaces import load_space

    space = load_space("search_spaces/mnist.yaml")
    samplers = []
    # The arm edits the registry of its own process (a child of the benchmark): a copy here.
    monkeypatch.setattr(study, "PARETO_SAMPLERS", dict(study.PARETO_SAMPLERS))

    def main(args: list[str]) -> int:  # the arm's sampler, as the sweep would make it
        samplers.append(study.make_sampler("tpe", space, 0, "latency"))
        return 0

    monkeypatch.setattr(sweep.interface.cli, "main", main)
    assert run_arm("pareto", ["sweep"]) == 0 and run_arm("tpe", ["sweep"]) == 0
    assert isinstance(samplers[0], ParetoSampler) and not isinstance(samplers[1], ParetoSampler)


def test_the_hostile_run_has_over_250_distinct_cases() -> None:
    from bench.hostile import SECRET, cases

    made = cases()
    assert len(made) >= 250 and len({name for name, *_ in made}) == len(made)
    assert sum(SECRET in " ".join(argv) for _, argv, _, _ in made) >= 12  # passwords in every form


def _portfolio_table(accuracy: dict[str, tuple[float, float]], seconds: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"dataset": dataset, "candidate": name, "seed": 0, "val_accuracy": acc, "fit_seconds": seconds[name]}
            for name, pair in accuracy.items()
            for dataset, acc in zip(("digits", "rgb-10k"), pair)
        ]
    )


def test_the_portfolio_rule_takes_a_cheap_first_point_then_the_one_that_adds_most() -> None:
    from bench.portfolio import choose

    table = _portfolio_table(
        {
            "baseline": (0.999, 0.999),  # never a candidate
            "small": (0.990, 0.900),
            "wide": (0.995, 0.950),  # best on average, but too dear to go first
            "gap": (0.996, 0.880),  # adds to small on digits only
            "rgb": (0.980, 0.960),  # worse than wide on average, but adds more to small
        },
        {"baseline": 1, "small": 100, "wide": 126, "gap": 90, "rgb": 300},
    )
    assert choose(table) == ("small", "rgb")
    # Within TIE of the best, the cheaper wins.
    cheaper = table.assign(fit_seconds=table["fit_seconds"].where(table["candidate"] != "wide", 125))
    assert choose(cheaper)[0] == "wide"
    small = table[table["candidate"] == "small"]
    tied = pd.concat(
        [table, small.assign(candidate="near", val_accuracy=small["val_accuracy"] - 0.0005, fit_seconds=10)]
    )
    assert choose(tied)[0] == "near"
    assert choose(pd.concat([tied, tied.assign(seed=1, val_accuracy=tied["val_accuracy"] - 0.002)]))[0] == "near"


def test_rgb_digits_are_colour_photos_whose_digit_stands_out() -> None:
    import numpy as np

    from bench.portfolio import rgb_digits

    x = np.zeros((50, 28, 28), dtype=np.uint8)
    x[:, 10:18, 12:16] = 255  # a bar where the ink is
    images = rgb_digits(x, np.random.default_rng(0))
    assert images.shape == (50, 32, 32, 3) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    ink, paper = images[:, 13:19, 15:17].mean(axis=(1, 2)), images[:, :4].mean(axis=(1, 2))
    assert (np.linalg.norm(ink - paper, axis=1) > 0.25).all()
    assert len({tuple(np.round(p, 1)) for p in paper}) > 25  # backgrounds differ image to image


def test_the_portfolio_bench_scores_on_images_it_did_not_train_on_and_never_a_test_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from bench.portfolio import FOLDS, splits

    rng = np.random.default_rng(0)
    x_test = np.full((20, 28, 28), 7, dtype=np.uint8)  # a test image is all 7s: none may appear
    np.savez(
        tmp_path / "mnist.npz",
        x_train=rng.integers(8, 256, (3000, 28, 28), dtype=np.uint8),
        y_train=np.arange(3000) % 10,
        x_test=x_test,
        y_test=np.arange(20) % 10,
    )
    monkeypatch.setattr("bench.portfolio.RGB_IMAGES", 1000)  # of the 3,000 training images here
    for name, trained, scored in (("mnist-1k", 1000, 2000), ("rgb-10k", 1000, 1000)):
        (split,) = splits(name, 0, str(tmp_path))
        assert (len(split.y_train), len(split.y_score)) == (trained, scored)
        seen = {image.tobytes() for image in split.x_train}
        assert not any(image.tobytes() in seen for image in split.x_score)
        if name == "mnist-1k":
            assert split.x_train.min() >= 8 / 255 - 1e-6  # not a test image
    folds = list(splits("digits", 0, None))
    assert len(folds) == FOLDS and sum(len(f.y_score) for f in folds) == 1437  # 1,797 less the 360 tested on


def test_the_share_bench_scores_on_held_out_training_images_never_mnists_test_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    from bench.share import held_out_data, sweep_arguments
    from sweep.data.registry import load_dataset

    rng = np.random.default_rng(0)
    x_train = rng.integers(8, 256, (3000, 28, 28), dtype=np.uint8)
    x_train[:, 0, 0] = np.arange(3000) % 256  # each image told apart by its first pixels
    x_train[:, 0, 1] = np.arange(3000) // 256
    np.savez(
        tmp_path / "mnist.npz",
        x_train=x_train,
        y_train=np.arange(3000) % 10,
        x_test=np.full((20, 28, 28), 7, dtype=np.uint8),  # a test image is all 7s: none may appear
        y_test=np.arange(20) % 10,
    )
    monkeypatch.setattr("bench.share.SCORED", 500)
    monkeypatch.setattr("bench.share.RGB_IMAGES", 1000)
    mnist = held_out_data("mnist-1k", str(tmp_path), tmp_path / "out")
    with np.load(mnist) as data:
        assert (len(data["y_train"]), len(data["y_test"])) == (1000, 500)
        seen = {image.tobytes() for image in data["x_train"]}
        assert not any(image.tobytes() in seen for image in data["x_test"])
        assert data["x_test"][:, 1:].min() >= 8 and np.bincount(data["y_test"]).tolist() == [50] * 10  # stratified
    assert held_out_data("mnist-1k", None, tmp_path / "out") == mnist  # written once, then kept
    assert sweep_arguments(mnist) == ("mnist", ["--data-dir", str(mnist.parent)])
    rgb = held_out_data("rgb-10k", str(tmp_path), tmp_path / "out")
    assert sweep_arguments(rgb) == (str(rgb), [])
    loaded = load_dataset(str(rgb))  # the sweep's own loader: a user's colour photos
    assert loaded.input_shape == (32, 32, 3) and len(loaded.y_test) == 500
    assert len(loaded.y_train) + len(loaded.y_val) == 1000


def test_the_share_rule_takes_the_best_mean_and_the_smallest_share_within_a_tie() -> None:
    from bench.share import TIE, choose

    def table(scores: dict[float, tuple[float, float]]) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {"dataset": name, "share": share, "seed": 0, "held_out": score}
                for share, pair in scores.items()
                for name, score in zip(("mnist-50k", "mnist-10k"), pair)
            ]
        )

    assert choose(table({0.35: (0.990, 0.990), 0.5: (0.994, 0.990), 0.65: (0.993, 0.990)})) == 0.5
    assert choose(table({0.35: (0.990, 0.990), 0.5: (0.990 + TIE, 0.990 + TIE / 2)})) == 0.35  # within the tie
    assert choose(table({0.35: (0.990, 0.990), 0.5: (0.9930, 0.990), 0.65: (0.9936, 0.990)})) == 0.5


def test_the_share_bench_reads_the_sweeps_time_line_and_names_runs_without_a_dot() -> None:
    from bench.share import run_name, time_line

    log = "Search ended\nTime: 3.4 min of the 4.0 min limit: search 2.3 min; 33 s of it unused.\nReport: x\n"
    assert time_line(log) == "Time: 3.4 min of the 4.0 min limit: search 2.3 min; 33 s of it unused."
    assert time_line("no summary") == ""
    assert Path(run_name("mnist-10k", 0.35, 1) + ".json").stem == "mnist-10k-share35-seed1"


def test_the_reuse_benchs_trial_leaves_out_a_tenth_of_the_retrains_images_in_every_class() -> None:
    import numpy as np

    from bench.portfolio import Split
    from bench.reuse import HELD_OUT, trial_split

    labels = np.repeat(np.arange(4), [400, 300, 200, 100])
    split = Split(np.arange(1000)[:, None], labels, np.zeros((5, 1)), np.zeros(5, dtype=int))
    trial = trial_split(split, seed=0)
    assert len(trial.y_train) == round((1 - HELD_OUT) * 1000)
    assert np.bincount(trial.y_train).tolist() == [360, 270, 180, 90]
    assert set(trial.x_train[:, 0].tolist()) < set(range(1000))  # the retrain's images, fewer of them
    assert trial.x_score is split.x_score  # scored on the same images as the retrain


def test_the_reuse_benchs_slow_trial_trains_on_an_eighth_of_the_images_in_every_class() -> None:
    import numpy as np

    from bench.portfolio import Split
    from bench.reuse import SLOW_SHARE, SPLITS, trial_split

    labels = np.repeat(np.arange(2), [800, 400])
    split = Split(np.arange(1200)[:, None], labels, np.zeros((5, 1)), np.zeros(5, dtype=int))
    trial = trial_split(split, seed=0, share=1 / SLOW_SHARE)
    assert np.bincount(trial.y_train).tolist() == [100, 50]
    assert SPLITS["mnist-slow"] == SPLITS["mnist-50k"]  # the same images as the fast machine's row
