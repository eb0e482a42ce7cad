"""Tests for sweep.reporting.report: the self-contained report page, rendered from a study, and opened in a
real headless browser (Chromium, driven by Selenium) after a tiny sweep."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from sweep.interface.cli import main
from sweep.reporting.report import render
from sweep.search.study import SETTINGS_ATTR

RECORD = {
    "data": {"dataset": "digits", "seed": 0},
    "fingerprint": "abc123",
    "space": {"params": {"dense_units": {"type": "int", "low": 8, "high": 64}}},
    "space_source": "space.yaml",
    "sampler": "tpe",
    "pruner": "hyperband",
    "trials": 4,
    "time_limit": None,
}


def study_of(states: list[TrialState]) -> optuna.Study:
    """A study with the settings sweep records and one trial per state (trial 0 the baseline)."""
    study = optuna.create_study(direction="maximize")
    study.set_user_attr(SETTINGS_ATTR, RECORD)
    for number, state in enumerate(states):
        attrs: dict[str, Any] = {"params": {"dense_units": 8 * (number + 1), "epochs": 5}, "is_baseline": number == 0}
        if state == TrialState.FAIL:
            attrs["error"] = "ValueError: <script>alert(1)</script>"
        study.add_trial(
            create_trial(
                state=state,
                value=0.9 + number / 100 if state == TrialState.COMPLETE else None,
                params={"dense_units": 8 * (number + 1)},
                distributions={"dense_units": IntDistribution(8, 64)},
                user_attrs=attrs,
                intermediate_values={50: 0.8, 100: 0.9 + number / 100} if state == TrialState.COMPLETE else {},
            )
        )
    return study


def test_the_page_holds_every_trial_marks_the_baseline_and_escapes_what_it_shows(tmp_path: Path) -> None:
    page = render(study_of([TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL]), tmp_path)
    body = page.split('<tbody class="list">')[1].split("</tbody>")[0]
    assert body.count("<tr") == 4
    assert re.search(r'<tr class="baseline complete"><td class="rank">2</td><td class="trial">0</td>', body)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "<script>alert" not in page
    assert "4 trials</b> (2 complete, 1 pruned, 1 fail)" in page
    assert "No final model in" in page and "--dataset digits --seed 0" in page and "abc123" in page
    # Self-contained: no address the browser would fetch (images are data: URIs, scripts inline).
    assert not re.search(r'(src|href)="(?!data:)', page)
    assert 'src="data:image/png;base64,' in page  # the learning curves
    assert (tmp_path / "plots" / "learning_curves.png").is_file()


def wide_study(complete: int, params: int = 9) -> optuna.Study:
    """``complete`` trials over ``params`` integer parameters, the first of which decides."""
    study = optuna.create_study(direction="maximize")
    rng = np.random.default_rng(0)
    names = [f"p{k}" for k in range(params)]
    for _ in range(complete):
        values = {name: int(rng.integers(0, 10)) for name in names}
        study.add_trial(
            create_trial(
                value=0.9 + values["p0"] / 100 + rng.random() / 1000,
                params=values,
                distributions={name: IntDistribution(0, 9) for name in names},
            )
        )
    return study


def test_importances_and_parallel_coordinates_wait_for_enough_trials_and_show_the_top_parameters(
    tmp_path: Path,
) -> None:
    from sweep.reporting.plots import MIN_TRIALS_FOR_IMPORTANCE, PARALLEL_PARAMS, plot_study, ranked_importances

    (tmp_path / "param_importances.png").write_bytes(b"an older sweep's")
    few = plot_study(wide_study(MIN_TRIALS_FOR_IMPORTANCE - 1), tmp_path)
    assert [path.name for path in few] == ["optimization_history.png"]
    assert not (tmp_path / "param_importances.png").exists()  # no report shows a stale one
    enough = plot_study(wide_study(2 * MIN_TRIALS_FOR_IMPORTANCE), tmp_path)
    assert [path.name for path in enough] == [
        "optimization_history.png",
        "param_importances.png",
        "parallel_coordinate.png",
    ]
    # The parallel coordinates draw the most important parameters: the one that decides first.
    important = list(ranked_importances(wide_study(2 * MIN_TRIALS_FOR_IMPORTANCE)))[:PARALLEL_PARAMS]
    assert important[0] == "p0" and len(important) == PARALLEL_PARAMS < 9


def test_the_page_says_why_importances_are_left_out(tmp_path: Path) -> None:
    page = render(study_of([TrialState.COMPLETE] * 4), tmp_path)
    assert "Parameter importances and parallel coordinates are left out" in page
    assert "at least 10 completed trials" in page and "this study has 4" in page


def test_the_final_models_card_comes_from_the_files_the_retrain_wrote(tmp_path: Path) -> None:
    best = tmp_path / "best"
    best.mkdir()
    metrics = {
        "dataset": "digits",
        "class_names": ["zero", "one"],
        "train_images": 1293,
        "val_images": 144,
        "test_images": 360,
        "trial": 1,
        "test_accuracy": 0.99,
        "test_accuracy_ci95": [0.97, 0.997],
        "baseline_test_accuracy": 0.98,
        "baseline_test_accuracy_ci95": [0.96, 0.99],
        "test_gain": 0.01,
        "test_gain_ci95": [-0.001, 0.021],
        "chosen_because": "the best on validation",
        "params": {"dense_units": 16, "learning_rate": 0.0012345678},
        "per_class": {"zero": {"precision": 1.0, "recall": 0.98, "f1-score": 0.99, "support": 180}},
        "param_count": 12345,
        "tflite_kb": 50.0,
        "int8_kb": 14.5,
        "latency_ms": 0.0123,
        "versions": {"keras": "3.99"},
    }
    (best / "metrics.json").write_text(json.dumps(metrics))
    (best / "summary.txt").write_text('Model: "cnn"\n')
    page = render(study_of([TrialState.COMPLETE, TrialState.COMPLETE]), tmp_path)
    assert "1,293 training, 144 validation, 360 test images; 2 classes" in page
    assert "test accuracy 0.9900 (95 % interval 0.9700 to 0.9970)" in page
    assert "gain +0.0100 (95 % interval -0.0010 to +0.0210)" in page
    assert "learning_rate=0.001235" in page and "12,345 parameters" in page
    assert "50.0 KiB as TFLite (14.5 KiB int8), 0.012 ms per image" in page
    assert "<th>zero</th>" in page and "Model: &quot;cnn&quot;" in page and "keras 3.99" in page
    assert "views" not in page  # one model, one view: nothing alone to compare with
    (best / "metrics.json").write_text(json.dumps({**metrics, "views": 5, "members": 1, "single_test_accuracy": 0.985}))
    page = render(study_of([TrialState.COMPLETE, TrialState.COMPLETE]), tmp_path)
    assert "It averages 5 views of each image (test-time shifts); one model on the image alone" in page
    assert "tests 0.9850" in page
    # The answer is the baseline (trial 0): no gain over itself to show.
    (best / "metrics.json").write_text(json.dumps({**metrics, "trial": 0, "test_gain": 0.0, "test_gain_ci95": [0, 0]}))
    page = render(study_of([TrialState.COMPLETE, TrialState.COMPLETE]), tmp_path)
    assert "the baseline itself: no gain to measure" in page and "gain +0.0000" not in page


def chromium() -> Any:
    """A headless Chromium that logs the console and the network; skips where there is none."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (make install)")
    driver_path = shutil.which("chromedriver")
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if driver_path is None or browser is None:
        pytest.skip("no Chromium with chromedriver (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument("--window-size=1300,2000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    from selenium.webdriver.chrome.service import Service

    return webdriver.Chrome(options=options, service=Service(driver_path))


@pytest.mark.slow
def test_the_report_of_a_sweep_opens_in_a_browser_offline_and_sorts(finished_sweep: Path, tmp_path: Path) -> None:
    results = finished_sweep / "results"
    report = results / "digits" / "report.html"
    assert main(["report", "--dataset", "digits", "--results", str(results)]) == 0  # rewrites it
    driver = chromium()
    try:
        driver.get(report.as_uri())
        from selenium.webdriver.common.by import By

        def trial_column() -> list[int]:
            return [int(cell.text) for cell in driver.find_elements(By.CSS_SELECTOR, "tbody.list td.trial")]

        assert sorted(trial_column()) == [0, 1, 2]  # one row per trial
        header = driver.find_element(By.CSS_SELECTOR, 'th.sort[data-sort="trial"]')
        header.click()
        first = trial_column()
        header.click()
        assert first in ([0, 1, 2], [2, 1, 0]) and trial_column() == first[::-1]  # sorting reorders
        driver.find_element(By.CSS_SELECTOR, "input.search").send_keys("baseline")
        assert trial_column() == [0]  # the filter
        assert driver.save_screenshot(str(tmp_path / "report.png"))
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, errors
        requests = [
            json.loads(entry["message"])["message"]["params"]["request"]["url"]
            for entry in driver.get_log("performance")
            if '"Network.requestWillBeSent"' in entry["message"]
        ]
        assert requests and all(url.startswith(("file:", "data:")) for url in requests), requests
    finally:
        driver.quit()
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_an_accuracy_search_shows_its_latency_trade_off_once_trials_are_measured(tmp_path: Path) -> None:
    study = study_of([TrialState.COMPLETE, TrialState.COMPLETE])
    assert "Accuracy against latency" not in render(study, tmp_path)  # nothing measured yet
    measured = optuna.create_study(direction="maximize")
    measured.set_user_attr(SETTINGS_ATTR, RECORD)
    for trial in study.trials:
        trial.set_user_attr("latency_ms", 0.1 * (trial.number + 1))
        measured.add_trial(trial)
    page = render(measured, tmp_path)
    assert "Accuracy against latency (the search maximised accuracy)" in page
    assert (tmp_path / "plots" / "pareto_front.png").is_file()
