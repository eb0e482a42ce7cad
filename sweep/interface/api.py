"""The Python API: ``sweep.run(...)`` does what ``sweep sweep`` does and returns a :class:`SweepResult`.

One set of settings: keyword arguments are the command line's flags (``time_limit=600`` is
``--time-limit 600``) and go through the same parser, so they have the same defaults and the same
checks. NumPy arrays are checked, then written to ``<results>/data/<name>.npz``, a dataset like
any other ``.npz`` file: worker processes, ``sweep retrain`` and ``sweep export`` read the same data.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweep.data.array_files import check_arrays, save_array_file
from sweep.errors import UsageError
from sweep.files import read_json

if TYPE_CHECKING:
    import keras
    import numpy as np
    import optuna
    import pandas as pd

    from sweep.settings import DataConfig, SweepConfig

Arrays = tuple["np.ndarray", "np.ndarray"]


class SweepFailed(Exception):
    """The sweep ran but found no model: every trial failed, or every worker exited with an error."""


def run(
    data: str | Path | Arrays,
    test: Arrays | None = None,
    *,
    class_names: Sequence[str] | None = None,
    name: str = "arrays",
    **settings: Any,
) -> SweepResult:
    """Search, choose, retrain, test and export, as ``sweep sweep`` does.

    ``data``: a built-in dataset's name (``"mnist"``), an image folder, a ``.npz`` file, or the
    training arrays ``(x_train, y_train)`` with ``test=(x_test, y_test)``, ``class_names`` and a
    ``name`` for them. ``settings``: the flags of ``sweep sweep --help`` as keywords
    (``time_limit=600``, ``trials=10``, ``workers=1``, ``retrain=False``, ``results="runs"``);
    ``model`` may be the function itself (``model=build, space="my_space.yaml"``).
    Bad arrays or settings raise :class:`~sweep.errors.UsageError` before anything trains.
    """
    from sweep.commands.sweep import run_sweep
    from sweep.machine.environment import Environment

    results = str(settings.get("results", "results"))
    if callable(settings.get("model")):
        in_process = settings.get("engine") == "kerastuner"  # one process already
        settings = {**settings, **_model_settings(settings["model"], None if in_process else settings.get("workers"))}
        if in_process:
            settings.pop("workers", None)
    dataset, write = _dataset(data, test, class_names, name, results)
    args = parse_settings(dataset, settings)
    data_config, sweep_config = _configs(args)
    Environment.read()
    write()  # the arrays' file, once every setting has been checked: a refusal writes nothing
    code = run_sweep(data_config, sweep_config, retrain=not args.no_retrain)
    if code == 1:
        raise SweepFailed(f"no trial completed; see the error column of {data_config.folder / 'leaderboard.csv'}")
    return SweepResult(data_config, sweep_config, interrupted=code == 130)


def _model_settings(function: Any, workers: int | None) -> dict[str, Any]:
    """``model=`` and ``workers=`` for a model function. One defined in a notebook or script
    trains in this process: worker processes could not import it."""
    from sweep.models.user_models import importable, reference_of

    reference = reference_of(function)
    if importable(reference):
        return {"model": reference}
    if workers not in (None, 1):
        raise UsageError(
            f"model {reference} is defined in a notebook or script, which worker processes cannot "
            f"import: move it into a module (mymodels.py) for workers={workers}, or leave workers out"
        )
    return {"model": reference, "workers": 1}


def parse_settings(dataset: str, settings: dict[str, Any]) -> argparse.Namespace:
    """``sweep sweep``'s parsed flags from keyword settings; an unknown keyword or a bad value is a
    UsageError that names it."""
    from sweep.interface.arguments import build_parser, command_flags

    parser = build_parser()
    flags = command_flags(parser, "sweep")
    argv = ["sweep", "--dataset", dataset]
    for key, value in settings.items():
        if key == "retrain":
            argv += [] if value else ["--no-retrain"]
        elif key not in flags or key in ("dataset", "no_retrain", "debug"):
            known = ", ".join(sorted({*flags} - {"dataset", "no_retrain", "debug"} | {"retrain"}))
            raise UsageError(f"unknown setting {key}={value!r}; the settings are: {known}")
        elif value is not None:
            text = "x".join(map(str, value)) if isinstance(value, tuple | list) else str(value)
            argv += [flags[key], text]
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors):
            return parser.parse_args(argv)
    except SystemExit:
        message = errors.getvalue().strip().removeprefix("sweep: ").split(" (see: ")[0]
        for key, flag in flags.items():
            message = message.replace(f"argument {flag}", f"setting {key}")
        raise UsageError(message) from None


def _configs(args: argparse.Namespace) -> tuple[DataConfig, SweepConfig]:
    from sweep.interface.cli import data_config, sweep_settings

    return data_config(args), sweep_settings(args)


def _dataset(
    data: str | Path | Arrays, test: Arrays | None, class_names: Sequence[str] | None, name: str, results: str
) -> tuple[str, Callable[[], object]]:
    """The --dataset of ``data`` (a name or path as given, or the array file for arrays), and
    what writes that file (nothing for a name or path), checked now and written later."""
    if isinstance(data, str | Path):
        if test is not None or class_names is not None:
            raise UsageError("test= and class_names= go with arrays; a named dataset or folder brings its own")
        return str(data), lambda: None
    if not isinstance(data, tuple) or len(data) != 2 or not isinstance(test, tuple) or len(test) != 2:
        raise UsageError("arrays go as run((x_train, y_train), test=(x_test, y_test)); got another shape of arguments")
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"name={name!r}: use letters, digits, '-' and '_' (it names the results folder)")
    (x_train, y_train), (x_test, y_test) = data, test
    names = check_arrays(x_train, y_train, x_test, y_test, class_names)
    path = Path(results) / "data" / f"{name}.npz"
    return str(path), lambda: write_arrays(path, x_train, y_train, x_test, y_test, names)


def write_arrays(
    path: Path, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, names: list[str]
) -> Path:
    """Write checked arrays to ``path``, or reuse the file there when it holds the same data; a
    file of other data under that name is never replaced (its results would stop matching)."""
    from sweep.data.array_files import load_array_file, normalized
    from sweep.data.registry import fingerprint

    if path.is_file():
        (old_x, old_y), (old_x_test, old_y_test), old_names, _ = load_array_file(str(path))
        (new_x, new_y), (new_x_test, new_y_test) = normalized(x_train, y_train, x_test, y_test)
        same = fingerprint(new_x, new_y, new_x_test, new_y_test) == fingerprint(old_x, old_y, old_x_test, old_y_test)
        if same and old_names == names:
            return path
        raise UsageError(
            f"{path} holds other arrays under the name {path.stem!r}; pass another name= "
            "(or delete that file and its results folder)"
        )
    return save_array_file(path, x_train, y_train, x_test, y_test, names)


@dataclass
class SweepResult:
    """What a sweep left in its results folder, read on demand."""

    data: DataConfig
    settings: SweepConfig
    interrupted: bool = False
    _model: keras.Model | None = field(default=None, repr=False)

    @property
    def folder(self) -> Path:
        """``results/<dataset>/``: the leaderboard, plots, ``best/`` and ``export/``."""
        return self.data.folder

    @property
    def leaderboard(self) -> pd.DataFrame:
        """Every trial, best first: the columns of ``leaderboard.csv``."""
        from sweep.choice.leaderboard import read_table

        return read_table(self.folder / "leaderboard.csv", ("trial", "state"), "leaderboard")

    @property
    def metrics(self) -> dict[str, Any] | None:
        """The final model's ``best/metrics.json`` (test accuracy and its interval, the gain over
        the baseline, …); None when the sweep did not retrain."""
        path = self.folder / "best" / "metrics.json"
        return dict(read_json(path, "the final model's metrics")) if path.is_file() else None

    @property
    def best_params(self) -> dict[str, Any]:
        """The parameters of the answer (the retrained model's), or of the best trial on validation."""
        if self.metrics is not None:
            return dict(self.metrics["params"])
        from sweep.choice.trials import final_params
        from sweep.search.study import best_trial

        best = best_trial(self.study)
        if best is None:
            raise UsageError(f"no completed trial within the limits in {self.folder}; see its leaderboard")
        return final_params(best)

    @property
    def study(self) -> optuna.Study:
        """The Optuna study, from its storage."""
        from sweep.search.study import load_study

        return load_study(self.data, self.settings)

    @property
    def model(self) -> keras.Model:
        """The retrained Keras model (``best/model.keras``)."""
        if self._model is None:
            path = self.folder / "best" / "model.keras"
            if not path.is_file():
                raise UsageError(f"{path} not found: the sweep did not retrain; run sweep.run(..., retrain=True)")
            from sweep.models.build import load_saved

            self._model = load_saved(path)
        return self._model

    def export(self, format: str = "keras") -> Path:  # noqa: A002 (the CLI's --format)
        """Write the final model to ``export/`` as ``keras``, ``h5``, ``savedmodel``, ``tflite`` or
        ``tflite-int8``."""
        from sweep.commands.export import FILE_NAMES, export_model
        from sweep.files import ensure_writable

        if format not in FILE_NAMES:
            raise UsageError(f"unknown format {format!r}; use one of {', '.join(FILE_NAMES)}")
        if format == "tflite-int8":  # calibrated on the training images, tested in LiteRT
            from sweep.commands.export import run_export

            run_export(self.data, format)
            return self.folder / "export" / FILE_NAMES[format]
        return export_model(self.model, ensure_writable(self.folder / "export"), format)

    def plot(self) -> list[Path]:
        """The plots the sweep saved (learning curves, confusion matrix, optimisation history),
        shown inline in Jupyter; returns their paths."""
        paths = sorted((self.folder / "best").glob("*.png")) + sorted((self.folder / "plots").glob("*.png"))
        if "ipykernel" in sys.modules:  # in Jupyter; a terminal gets the paths
            shown: Any = importlib.import_module("IPython.display")
            for path in paths:
                shown.display(shown.Image(filename=str(path)))
        return paths
