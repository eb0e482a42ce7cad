"""The notebooks in examples/ run from top to bottom and show what they say they show."""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.conftest import REPO

NOTEBOOK = REPO / "examples" / "digits_sweep.ipynb"


@pytest.mark.slow
def test_the_digits_notebook_runs_a_sweep_and_evaluates_its_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nbclient = pytest.importorskip("nbclient", reason="make installs nbclient with the test extra")
    import nbformat

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("SWEEP_EXAMPLE_SECONDS", "75")  # the notebook's time limit, shortened
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    text = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    assert "1437 training and 360 test images of 8×8 pixels" in text
    final = re.search(r"test accuracy (\d\.\d+) \(95 % interval", text)
    loaded = re.search(r"Accuracy of the loaded model on the test images: (\d\.\d+)", text)
    assert final and loaded and float(final.group(1)) >= 0.9 and final.group(1) == loaded.group(1)
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) >= 3  # samples, learning curves, confusion matrix
    assert "<table" in "".join(output.get("data", {}).get("text/html", "") for output in outputs)  # leaderboard
    (saved,) = (tmp_path / "results").glob("digits-notebook-*/export/model.keras")
    assert str(saved.relative_to(tmp_path)) in text


def test_the_notebook_reports_a_baseline_the_time_limit_left_unretrained(capsys: pytest.CaptureFixture[str]) -> None:
    """Under a short limit the baseline's retrain may be skipped (its metrics are None); the
    notebook's summary cell says so instead of failing."""
    nbformat = pytest.importorskip("nbformat", reason="make installs nbformat with the test extra")
    (cell,) = [c for c in nbformat.read(NOTEBOOK, as_version=4).cells if "test_accuracy_ci95" in c.source]
    metrics = {
        "trial": 3,
        "test_accuracy": 0.95,
        "test_accuracy_ci95": [0.92, 0.97],
        "baseline_test_accuracy": None,
        "chosen_because": "validation",
    }
    exec(cell.source, {"result": SimpleNamespace(metrics=metrics, best_params={"epochs": 5})})
    assert "test accuracy 0.9500 (95 % interval 0.9200 to 0.9700); baseline retrained the same way: not retrained" in (
        capsys.readouterr().out
    )
