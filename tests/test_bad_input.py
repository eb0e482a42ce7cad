"""Every kind of bad input, in one table: one line on stderr naming what is wrong, exit code 2,
no traceback, and nothing written that was not there before.

A new kind of bad input is one row: the command line, what to set up in a temporary folder
first, and a phrase the line must hold. ``{tmp}`` in the command line is that folder.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from bench.hostile import files_under
from sweep.interface.cli import main
from tests.conftest import run_cli
from tests.fixtures import write_cifar10, write_image_folder, write_mnist_npz

Setup = Callable[[Path], None]


def nothing(tmp: Path) -> None:
    """No files beyond the empty temporary folder."""


def image_folder(*, classes: tuple[str, ...] = ("a", "b"), drop: str | None = None) -> Setup:
    def setup(tmp: Path) -> None:
        write_image_folder(tmp / "imgs", classes=classes, n_train=4, n_test=2)
        if drop:
            for path in sorted((tmp / "imgs" / drop).rglob("*"), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            (tmp / "imgs" / drop).rmdir()

    return setup


def text_file(name: str, content: bytes) -> Setup:
    def setup(tmp: Path) -> None:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_bytes(content)

    return setup


def array_file(name: str, **changed: object) -> Setup:
    """A .npz dataset of random 8×8 images in three classes, with ``changed`` arrays."""

    def setup(tmp: Path) -> None:
        rng = np.random.default_rng(0)
        arrays = {
            "x_train": rng.integers(0, 256, (20, 8, 8), np.uint8), "y_train": np.arange(20) % 3,
            "x_test": rng.integers(0, 256, (6, 8, 8), np.uint8), "y_test": np.arange(6) % 3, **changed,
        }  # fmt: skip
        np.savez(tmp / name, **arrays)

    return setup


def huge_header(tmp: Path) -> None:
    """A .npz whose members' headers declare 80 TB of float64 and hold nothing."""
    import io
    import zipfile

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**13,)})
    with zipfile.ZipFile(tmp / "huge.npz", "w") as archive:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            archive.writestr(f"{key}.npy", header.getvalue())


def one_npy(tmp: Path) -> None:
    """A single .npy array renamed .npz."""
    np.save(tmp / "one.npy", np.zeros(3))
    (tmp / "one.npy").rename(tmp / "one.npz")


def a_study(tmp: Path) -> None:
    """An empty study of digits in the default SQLite file."""
    import optuna

    (tmp / "r" / "digits").mkdir(parents=True)
    optuna.create_study(study_name="digits", storage=f"sqlite:///{tmp / 'r' / 'digits' / 'study.db'}")


_HELD: list[object] = []


def a_study_and_a_busy_port(tmp: Path) -> None:
    """That study, and port 8765 of 127.0.0.1 held by another socket for the test's length."""
    import socket

    a_study(tmp)
    held = socket.socket()
    held.bind(("127.0.0.1", 8765))
    held.listen()
    _HELD[:] = [held]


def mnist_results_of_other_data(tmp: Path) -> None:
    """results/mnist belongs to one MNIST file; the command brings another."""
    write_mnist_npz(tmp / "one", n_train=60)
    write_mnist_npz(tmp / "other", n_train=80)
    assert (
        main(
            [
                "baseline",
                "--dataset",
                "mnist",
                "--data-dir",
                str(tmp / "one"),
                "--results",
                str(tmp / "r"),
                "--epochs",
                "1",
            ]
        )
        == 0
    )


def planted_cifar(tmp: Path) -> None:
    """A CIFAR-10 batch that would run a shell command if unpickled naively."""
    folder = write_cifar10(tmp / "data")

    class Planted:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {tmp / 'PLANTED'}",))

    (folder / "data_batch_1").write_bytes(pickle.dumps({b"data": Planted(), b"labels": [0]}))


def missing_model_file(tmp: Path) -> None:
    """A space whose model function is in a file that does not exist."""
    (tmp / "s.yaml").write_text(f"model: {tmp}/none.py:build\nparams:\n  units: {{type: int, low: 8, high: 16}}\n")


def case(
    name: str, argv: str, setup: Setup, says: str, *, slow: bool = False, env: dict[str, str] | None = None
) -> object:
    """One row: ``argv`` after ``setup`` (with the variables ``env`` set), and a phrase
    ``says`` of its one line."""
    return pytest.param(argv, setup, says, env or {}, id=name, marks=[pytest.mark.slow] if slow else [])


BOMB = b"""description: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
params:
  dropout: {type: float, low: 0.0, high: 0.5}
"""


CASES = [
    case("mistyped-dataset", "sweep --dataset mnsit --results {tmp}/r", nothing, "unknown dataset 'mnsit'"),
    case(
        "folder-without-test",
        "sweep --dataset {tmp}/imgs --results {tmp}/r",
        image_folder(drop="test"),
        "has no test/ subfolder",
    ),
    case(
        "one-class-folder",
        "baseline --dataset {tmp}/imgs --results {tmp}/r",
        image_folder(classes=("only",)),
        "a classifier needs at least two",
    ),
    case("missing-array-file", "sweep --dataset {tmp}/scans.npz --results {tmp}/r", nothing, "no array file"),
    case(
        "array-file-of-one-class",
        "baseline --dataset {tmp}/one.npz --results {tmp}/r",
        array_file("one.npz", y_train=np.zeros(20, np.int64)),
        "y_train holds one class",
    ),
    case("root-as-dataset", "sweep --dataset / --results {tmp}/r", nothing, "has no train/ subfolder"),
    case(
        "space-check-of-an-unknown-dataset",
        "spaces --check {tmp}/s.yaml --dataset nosuch",
        text_file("s.yaml", b"params:\n  dropout: {type: float, low: 0.0, high: 0.5}\n"),
        "unknown dataset 'nosuch'",
    ),
    case(
        "builtin-name-for-other-arrays",
        "sweep --dataset mnist --data-dir {tmp}/data --results {tmp}/r",
        lambda tmp: array_file("data/mnist.npz")((tmp / "data").mkdir() or tmp),
        "holds images of 8×8×1, not mnist's 28×28×1",
    ),
    case(
        "dashboard-on-someone-elses-address",
        "dashboard --dataset digits --results {tmp}/r --host 8.8.8.8",
        a_study,
        "cannot serve on 8.8.8.8:8080",
    ),
    case(
        "dashboard-on-a-busy-port",
        "dashboard --dataset digits --results {tmp}/r --port 8765",
        a_study_and_a_busy_port,
        "cannot serve on 127.0.0.1:8765",
    ),
    case("root-as-results", "baseline --dataset digits --results /", nothing, "--results /"),
    case("results-a-file", "sweep --dataset digits --results {tmp}/f", text_file("f", b""), "a file, not a folder"),
    case(
        "results-through-a-symlink-loop",
        "sweep --dataset digits --results {tmp}/loop",
        lambda tmp: (tmp / "loop").symlink_to(tmp / "loop"),
        "cannot resolve it",
    ),
    case(
        "missing-space",
        "sweep --dataset digits --results {tmp}/r --space {tmp}/none.yaml",
        nothing,
        "search-space file not found",
    ),
    case(
        "malformed-space",
        "sweep --dataset digits --results {tmp}/r --space {tmp}/s.yaml",
        text_file("s.yaml", b"params: [\n"),
        "not valid YAML",
    ),
    case(
        "space-not-utf8",
        "sweep --dataset digits --results {tmp}/r --space {tmp}/s.yaml",
        text_file("s.yaml", "params:\n  dropout: {type: float, low: 0.0, high: 0.5} # é\n".encode("latin-1")),
        "not a text file in UTF-8",
    ),
    case(
        "model-without-space",
        "sweep --dataset digits --results {tmp}/r --model tests.test_user_models:small_cnn",
        nothing,
        "needs its own search space",
    ),
    case(
        "model-not-module-function",
        "sweep --dataset digits --results {tmp}/r --space {tmp}/s.yaml --model build",
        text_file("s.yaml", b"params:\n  units: {type: int, low: 8, high: 16}\n"),
        "expected module:function",
    ),
    case(
        "model-module-missing",
        "sweep --dataset digits --results {tmp}/r --space {tmp}/s.yaml --model no_such_module:build",
        text_file("s.yaml", b"params:\n  units: {type: int, low: 8, high: 16}\n"),
        "no module 'no_such_module' here",
    ),
    case(
        "model-file-missing",
        "sweep --dataset digits --results {tmp}/r --space {tmp}/s.yaml",
        missing_model_file,
        "none.py not found",
    ),
    case("report-without-study", "report --dataset digits --results {tmp}/r", nothing, "no study for digits yet"),
    case(
        "report-of-unreadable-study",
        "report --dataset digits --results {tmp}/r",
        text_file("r/digits/study.db", b"not a database"),
        "cannot open it as an Optuna study database",
    ),
    case(
        "report-of-an-empty-study-file",
        "report --dataset digits --results {tmp}/r",
        text_file("r/digits/study.db", b""),
        "is an empty file, not a study",
    ),
    case("unreachable-limit", "sweep --dataset digits --results {tmp}/r --max-params 100", nothing, "no model in the"),
    case(
        "limits-with-kerastuner",
        "sweep --dataset digits --results {tmp}/r --engine kerastuner --max-latency-ms 1",
        nothing,
        "deployment limits (--max-params, --max-size-kb, --max-latency-ms) and --objective need --engine optuna",
    ),
    case("storage-not-a-url", "sweep --dataset digits --results {tmp}/r --storage study.db", nothing, "is not a URL"),
    case(
        "memory-storage-for-workers",
        "sweep --dataset digits --results {tmp}/r --storage sqlite:// --workers 2",
        nothing,
        "worker processes cannot reach it",
    ),
    case(
        "password-never-shown",
        "leaderboard --dataset digits --results {tmp}/r --storage postgresql://me:s3cret@127.0.0.1:1/none",
        nothing,
        "postgresql://me:***@127.0.0.1:1/none",
    ),
    case(
        "password-with-a-slash-never-shown",
        "leaderboard --dataset digits --results {tmp}/r --storage postgresql://me:s3cret/x@127.0.0.1:1/none",
        nothing,
        "postgresql://me:***@127.0.0.1:1/none",
    ),
    case(
        "password-as-a-query-never-shown",
        "sweep --dataset digits --results {tmp}/r --storage postgresql://me@127.0.0.1:1/none?password=s3cret",
        nothing,
        "password=***",
    ),
    case(
        "malformed-summary-csv",
        "sweep --dataset digits --results {tmp}/r --trials 1",
        text_file("r/leaderboard.csv", b'"unclosed\n'),
        "is not a readable summary leaderboard",
    ),
    case(
        "summary-csv-of-something-else",
        "sweep --dataset digits --results {tmp}/r --trials 1",
        text_file("r/leaderboard.csv", b"a,b\n1,2\n"),
        "has no dataset column",
    ),
    case(
        "malformed-leaderboard",
        "leaderboard --dataset digits --results {tmp}/r",
        text_file("r/digits/leaderboard.csv", b"\xff\xfe\x00garbage"),
        "is not a readable leaderboard",
    ),
    case(
        "bad-environment",
        "sweep --dataset digits --results {tmp}/r",
        nothing,
        "SWEEP_THREADS='two'",
        env={"SWEEP_THREADS": "two"},
    ),
    case(
        "threads-in-superscript-digits",
        "sweep --dataset digits --results {tmp}/r",
        nothing,
        "SWEEP_THREADS='²'",
        env={"SWEEP_THREADS": "²"},
    ),
    case(
        "threads-beyond-the-cores",
        "sweep --dataset digits --results {tmp}/r",
        nothing,
        "SWEEP_THREADS=100000 is more than",
        env={"SWEEP_THREADS": "100000"},
    ),
    case(
        "members-zero",
        "retrain --dataset digits --results {tmp}/r",
        nothing,
        "SWEEP_MEMBERS='0' is not a positive whole number",
        env={"SWEEP_MEMBERS": "0"},
    ),
    case(
        "members-beyond-the-cores",
        "sweep --dataset digits --results {tmp}/r",
        nothing,
        "SWEEP_MEMBERS=512 is more than",
        env={"SWEEP_MEMBERS": "512"},
    ),
    case(
        "views-beyond-five",
        "sweep --dataset digits --results {tmp}/r",
        nothing,
        "SWEEP_VIEWS=6 is more than 5",
        env={"SWEEP_VIEWS": "6"},
    ),
    case(
        "heartbeat-of-ages",
        "sweep --dataset digits --results {tmp}/r",
        nothing,
        "SWEEP_HEARTBEAT_SECONDS=1000000000000 is more than",
        env={"SWEEP_HEARTBEAT_SECONDS": "1000000000000"},
    ),
    case("timeout-nan", "sweep --dataset digits --results {tmp}/r --timeout nan", nothing, "nan is not a finite"),
    case("time-limit-nan", "sweep --dataset digits --results {tmp}/r --time-limit nan", nothing, "nan is not a finite"),
    case(
        "val-fraction-nan",
        "sweep --dataset digits --results {tmp}/r --val-fraction nan",
        nothing,
        "nan is not a finite",
    ),
    case(
        "number-with-underscores",
        "sweep --dataset digits --results {tmp}/r --trials 1_0",
        nothing,
        "'1_0' is not an integer",
    ),
    case(
        "time-limit-of-ages",
        "sweep --dataset digits --results {tmp}/r --time-limit 18446744073709551616",
        nothing,
        "is too large",
    ),
    case(
        "seed-beyond-numpy",
        "sweep --dataset digits --results {tmp}/r --seed 18446744073709551616",
        nothing,
        "is too large",
    ),
    case(
        "space-of-billion-laughs",
        "sweep --dataset digits --results {tmp}/r --space {tmp}/s.yaml",
        text_file("s.yaml", BOMB),
        "aliases (*name) are not allowed",
    ),
    case(
        "space-nested-to-exhaustion",
        "spaces --check {tmp}/s.yaml",
        text_file("s.yaml", b"params: " + b"[" * 20_000 + b"]" * 20_000 + b"\n"),
        "nested deeper than",
    ),
    case(
        "space-with-a-key-twice",  # PyYAML would keep the second silently
        "spaces --check {tmp}/s.yaml",
        text_file(
            "s.yaml",
            b"params:\n  dropout: {type: float, low: 0.1, high: 0.2}\n  dropout: {type: int, low: 1, high: 2}\n",
        ),
        "'dropout' is given twice in one mapping",
    ),
    case("space-without-end", "spaces --check /dev/zero", nothing, "too large for a search-space file"),
    case(
        "array-file-empty",
        "sweep --dataset {tmp}/empty.npz --results {tmp}/r",
        text_file("empty.npz", b""),
        "cannot read",
    ),
    case("array-file-of-one-npy", "sweep --dataset {tmp}/one.npz --results {tmp}/r", one_npy, "holds one array"),
    case(
        "array-file-declaring-terabytes",
        "sweep --dataset {tmp}/huge.npz --results {tmp}/r",
        huge_header,
        "larger than this machine's memory",
    ),
    case(
        "array-label-infinite",
        "sweep --dataset {tmp}/inf.npz --results {tmp}/r",
        array_file("inf.npz", y_train=np.array([np.inf] + [k % 3 for k in range(19)], np.float64)),
        "values that are not numbers",
    ),
    case(
        "array-label-of-a-trillion",
        "sweep --dataset {tmp}/big.npz --results {tmp}/r",
        array_file("big.npz", y_train=np.array([10**12] + [k % 3 for k in range(19)], np.int64)),
        "labels go up to 1000000000000",
    ),
    case(
        "workers-for-kerastuner",
        "sweep --dataset digits --results {tmp}/r --engine kerastuner --workers 2",
        nothing,
        "--workers do(es) not apply to --engine kerastuner",
    ),
    case(
        "tuner-for-optuna",
        "sweep --dataset digits --results {tmp}/r --tuner bayesian",
        nothing,
        "--tuner do(es) not apply to --engine optuna",
    ),
    case(
        "more-workers-than-cores",
        "sweep --dataset digits --results {tmp}/r --workers 1024",
        nothing,
        "--workers 1024: this process may use",
    ),
    case("worker-without-storage", "worker --study s", nothing, "--storage URL, or the URL in $SWEEP_STORAGE"),
    case(
        "other-data-in-a-results-folder",
        "baseline --dataset mnist --data-dir {tmp}/other --results {tmp}/r",
        mnist_results_of_other_data,
        "holds the results of other data",
    ),
    case(
        "planted-cifar-pickle",
        "baseline --dataset cifar10 --data-dir {tmp}/data --results {tmp}/r",
        planted_cifar,
        "which a CIFAR-10 batch never holds",
    ),
    case(
        "unknown-dataset-before-any-model-code",
        "sweep --dataset nosuch --results {tmp}/r --space {tmp}/s.yaml --model no_such_module:build",
        text_file("s.yaml", b"params:\n  units: {type: int, low: 8, high: 16}\n"),
        "unknown dataset 'nosuch'",
    ),
    case(
        "results-marker-not-utf8",
        "baseline --dataset digits --results {tmp}/r",
        text_file("r/digits/dataset.json", b"\xff\xfe{}"),
        "dataset.json is unreadable",
    ),
    case(
        "predict-with-odd-class-names",
        "predict --model {tmp}/m.keras {tmp}/m.keras",
        lambda tmp: (text_file("m.keras", b"PK")(tmp), text_file("params.json", b'{"class_names": 5}')(tmp)),
        "class_names is not a list of names",
    ),
    case("unknown-dataset-of-the-baseline", "baseline --dataset imagenet --results {tmp}/r", nothing, "imagenet"),
    case(
        "mnist-missing-from-the-data-folder",
        "baseline --dataset mnist --data-dir {tmp} --results {tmp}/r",
        nothing,
        "mnist.npz",
    ),
    case(
        "results-under-a-file",
        "baseline --dataset digits --results {tmp}/file.txt/results",
        text_file("file.txt", b"not a folder"),
        "cannot write results",
    ),
    case("storage-nonsense", "sweep --dataset digits --results {tmp}/r --storage nonsense", nothing, "nonsense"),
    case("grid-over-a-continuous-space", "sweep --dataset digits --results {tmp}/r --sampler grid", nothing, "grid"),
    case("retrain-before-any-sweep", "retrain --dataset digits --results {tmp}", nothing, "make sweep"),
    case("export-before-any-sweep", "export --dataset digits --results {tmp}", nothing, "not found"),
    case(
        "predict-with-a-non-model",
        "predict --model {tmp}/m.keras {tmp}/m.keras",
        text_file("m.keras", b"not a zip"),
        "is not a Keras model (not a .keras archive)",
        slow=True,
    ),
    case(
        "export-of-a-broken-model",
        "export --dataset digits --results {tmp}/r",
        text_file("r/digits/best/model.keras", b"PK\x03\x04broken"),
        "is not a Keras model",
        slow=True,
    ),
]


@pytest.mark.parametrize(("argv", "setup", "says", "env"), CASES)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    argv: str,
    setup: Setup,
    says: str,
    env: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    setup(tmp_path)
    before = files_under(tmp_path)
    capsys.readouterr()
    try:
        code = main(argv.format(tmp=tmp_path).split())
    except SystemExit as exited:  # argparse's own refusals (sweep.interface.arguments): one line too
        code = exited.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sweep: "), err
    assert says in err and "Traceback" not in err
    assert "s3cret" not in err
    assert files_under(tmp_path) == before  # nothing written, nothing replaced
    assert not (tmp_path / "PLANTED").exists()


def test_the_command_line_process_prints_the_one_line_too(tmp_path: Path) -> None:
    # The rows above call main(); the installed command's process must behave the same.
    result = run_cli("baseline", "--dataset", "imagenet", "--results", str(tmp_path / "r"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sweep: ") and "imagenet" in lines[0], result.stderr
