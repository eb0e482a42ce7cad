"""The small commands: ``spaces``, ``leaderboard``, ``report``, ``predict`` and ``dashboard``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sweep.data.registry import BUILTIN, builtin_input_shape, check_exists, results_name
from sweep.errors import UsageError
from sweep.files import ensure_writable, read_json
from sweep.settings import DataConfig, SweepConfig
from sweep.space.spaces import load_space, shipped_spaces

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def spaces(check: str | None, dataset: str | None) -> int:
    """List the shipped search spaces, or validate one file (against a dataset's image size)."""
    if check is None:
        for path in shipped_spaces():
            space = load_space(path)
            print(f"{path.stem:14} {len(space.distributions):2} parameters  {space.description}")
            print(f"{'':14} {', '.join(space.distributions)}")
        print("Check a file with: python -m sweep spaces --check FILE [--dataset NAME]")
        return 0
    if dataset is not None:
        check_exists(dataset)  # a mistyped name is refused, not passed over with an OK
    space = load_space(check)
    # A file named after a built-in dataset is checked against that dataset's images.
    name = dataset or (Path(check).stem if Path(check).stem in BUILTIN else None)
    shape = builtin_input_shape(name) if name else None
    if name and shape is not None:
        space.check_fits(space.baseline_for(name, shape), shape)
    fits = f", fits {name}'s {shape[0]}×{shape[1]} images" if shape else ""
    first = f", {len(space.first_trials)} first trial(s)" if space.first_trials else ""
    print(f"OK: {check}: {len(space.distributions)} parameters ({', '.join(space.distributions)}){first}{fits}")
    return 0


def leaderboard(data: DataConfig, settings: SweepConfig, top: int) -> int:
    """Print the top rows of a sweep's leaderboard.

    With ``--storage``, the table is rebuilt from the study itself (so any machine that can
    reach the database can read it) and written to results/<dataset>/leaderboard.csv there.
    """
    import pandas as pd

    path = data.folder / "leaderboard.csv"
    if settings.storage:
        from sweep.choice.leaderboard import trials_frame, write_csv
        from sweep.search.study import load_study_at, recorded_settings, study_name

        study = load_study_at(settings.storage, study_name(data, settings))
        record = recorded_settings(study)
        frame = trials_frame(
            study.get_trials(deepcopy=False), list(record["space"]["params"]), record.get("objective", "accuracy")
        )
        write_csv(frame, ensure_writable(data.folder) / "leaderboard.csv")
    elif path.is_file():
        from sweep.choice.leaderboard import read_table

        frame = read_table(path, ["rank", "trial", "state"], "leaderboard")
    else:
        raise UsageError(f"{path} not found: run `make sweep DATASET={data.dataset}` first")
    shown = frame.drop(columns=["started", "finished", "error"], errors="ignore").head(top)
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(as_text(shown).to_string(index=False))
    states = frame["state"].value_counts().to_dict()
    print(
        f"\n{len(frame)} trials ({', '.join(f'{n} {s}' for s, n in states.items())}); "
        f"top {len(shown)} shown. Full table: {path}"
    )
    return 0


def report(data: DataConfig, settings: SweepConfig) -> int:
    """``sweep report``: write the report page of an existing study (any storage) and say where."""
    from sweep.reporting.report import write_report
    from sweep.search.study import load_study

    path = write_report(load_study(data, settings), ensure_writable(data.folder))
    print(f"Report: {path} (open it in a browser; it needs no network)")
    return 0


def predict(model_path: str | None, dataset: str | None, results: str, images: list[str]) -> int:
    """Print the predicted class name and probability of each image file."""
    if model_path is None:
        if dataset is None:
            raise UsageError("predict needs --dataset NAME (its best model) or --model PATH")
        model_path = str(Path(results) / results_name(dataset) / "best" / "model.keras")
    model_file = Path(model_path)
    if not model_file.is_file():
        raise UsageError(f"model {model_file} not found: run the sweep first, or pass --model PATH")
    missing = [image for image in images if not Path(image).is_file()]
    if missing:
        raise UsageError(f"image file(s) not found: {', '.join(missing)}")
    info = model_file.with_name("params.json")
    if not info.is_file():
        info = model_file.with_name("metrics.json")
    recorded = read_json(info, "") if info.is_file() else None
    class_names = recorded.get("class_names") if isinstance(recorded, dict) else None
    if class_names is not None and not (
        isinstance(class_names, list) and all(isinstance(name, str) for name in class_names)
    ):
        raise UsageError(f"{info}: class_names is not a list of names; run the sweep again, or remove {info}")

    import numpy as np

    from sweep.models.build import load_saved, probabilities  # first: it loads TensorFlow quietly

    model = load_saved(model_file)
    height, width, channels = model.input_shape[1:]
    batch = np.stack([_load_image(Path(p), (height, width), channels) for p in images])
    for path, probs in zip(images, probabilities(model, batch)):
        index = int(probs.argmax())
        name = class_names[index] if class_names else str(index)
        print(f"{path}: {name} ({probs[index]:.1%})")
    print(f"Predicted {len(images)} image(s) with {model_file}")
    return 0


def _load_image(path: Path, size: tuple[int, int], channels: int) -> np.ndarray:
    """One image file as the model expects it: resized, grayscale or RGB, scaled to [0, 1]."""
    from sweep.machine.backend import load_keras

    keras = load_keras()

    try:
        image = keras.utils.load_img(path, color_mode="grayscale" if channels == 1 else "rgb", target_size=size)
    except Exception as error:  # PIL raises several types for broken files
        raise UsageError(f"cannot read image {path} ({error})") from None
    pixels: np.ndarray = keras.utils.img_to_array(image, dtype="float32") / 255.0
    return pixels


def dashboard(data: DataConfig, settings: SweepConfig, host: str, port: int) -> int:
    """Serve optuna-dashboard on the study until Ctrl-C."""
    from optuna_dashboard import run_server

    from sweep.search.masking import redact
    from sweep.search.study import load_study, storage_url

    study = load_study(data, settings)  # one clear line if there is no study yet
    check_address(host, port)
    print(
        f"Serving optuna-dashboard for study {study.study_name!r} ({redact(storage_url(data, settings))}) "
        f"on http://{host}:{port}/ — Ctrl-C to stop",
        flush=True,
    )
    run_server(storage_url(data, settings), host=host, port=port)
    return 0


def check_address(host: str, port: int) -> None:
    """Refuse an address this machine cannot serve on (unknown host, someone else's address,
    a port in use) before the banner says it serves there."""
    import socket

    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as error:
        raise UsageError(f"--host {host}: cannot resolve it ({error}); pass 127.0.0.1 or this machine's name") from None
    try:
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as error:
        raise UsageError(
            f"cannot serve on {host}:{port} ({error.strerror or error}): pick another --port, "
            "or a --host of this machine"
        ) from None


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A table's cells as people read them: floats to 4 significant digits, blanks blank
    (not NaN or <NA>)."""
    import pandas as pd

    def cell(value: object) -> str:
        if pd.isna(value):
            return ""
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    return frame.map(cell)
