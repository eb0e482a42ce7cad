"""A hostile user's run (``make bench BENCH=hostile``): hundreds of bad command lines, each in a
fresh folder and its own process, and what each one did.

Every case must end in one line on stderr (exit 2 for bad input, 1 where a run could not
finish), with no traceback, no password shown and nothing written in its folder. The table
(``hostile.csv``) has a row per case; the summary counts the cases that broke a rule. Cases are
built from a few dozen bad values crossed with the flags that take them, bad files in every
format the tool reads, bad storage URLs and bad environment variables. None trains a model:
every one is refused before that.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

SECRET = "s3cretPW"
# Each case's limit: a refusal takes a second or two; anything near this is a hang.
CASE_SECONDS = 60

NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1e309", "18446744073709551616", "²", "", "x", "1_0", "0x10"]
NUMERIC_FLAGS = ["--trials", "--timeout", "--time-limit", "--seed", "--val-fraction", "--workers", "--max-params"]
STORAGES = [
    f"postgresql://u:{SECRET}@127.0.0.1:1/db",
    f"postgresql://u:{SECRET}/x@127.0.0.1:1/db",
    f"postgresql://u@127.0.0.1:1/db?password={SECRET}",
    f"postgresql://u:{SECRET}@127.0.0.1:abc/db",
    f"postgresql://u:{SECRET}@[::1/db",
    "nosuchdb://host/db",
    "study.db",
    "sqlite:////no/such/folder/study.db",
]
YAML_FILES: dict[str, bytes] = {
    "empty.yaml": b"",
    "list.yaml": b"- 1\n- 2\n",
    "laughs.yaml": b"a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nparams: {}\n",
    "deep.yaml": b"params: " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "tag.yaml": b"params: !!python/object/apply:os.system [touch PLANTED]\n",
    "latin1.yaml": "description: é\n".encode("latin-1"),
    "bad-type.yaml": b"params:\n  dropout: {type: floaty, low: 0, high: 1}\n",
    "inverted.yaml": b"params:\n  dropout: {type: float, low: 0.5, high: 0.1}\n",
    "unknown.yaml": b"params:\n  nosuch: {type: int, low: 1, high: 2}\n",
    "huge-choice.yaml": b"params:\n  dense_units: {type: categorical, choices: [" + b"1," * 10000 + b"1]}\n",
}


def _arrays(**changed: object) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        rng = np.random.default_rng(0)
        arrays = {
            "x_train": rng.integers(0, 256, (20, 8, 8), np.uint8),
            "y_train": np.arange(20) % 3,
            "x_test": rng.integers(0, 256, (6, 8, 8), np.uint8),
            "y_test": np.arange(6) % 3,
            **changed,
        }
        np.savez(path, **arrays)  # type: ignore[arg-type]

    return write


def _bytes(content: bytes) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        path.write_bytes(content)

    return write


ARRAY_FILES: dict[str, Callable[[Path], None]] = {
    "empty.npz": _bytes(b""),
    "text.npz": _bytes(b"hello"),
    "one-class.npz": _arrays(y_train=np.zeros(20, np.int64)),
    "negative.npz": _arrays(y_train=-np.ones(20, np.int64)),
    "trillion.npz": _arrays(y_train=np.array([10**12] + [0, 1] * 9 + [2], np.int64)),
    "inf.npz": _arrays(y_train=np.array([np.inf] + [0.0, 1.0] * 9 + [2.0])),
    "fractional.npz": _arrays(y_train=np.full(20, 0.5)),
    "wrong-count.npz": _arrays(y_train=np.arange(7) % 3),
    "one-hot.npz": _arrays(y_train=np.eye(3)[np.arange(20) % 3]),
    "big-pixels.npz": _arrays(x_train=np.full((20, 8, 8), 300, np.int64)),
    "nan-pixels.npz": _arrays(x_train=np.full((20, 8, 8), np.nan)),
    "shapes.npz": _arrays(x_test=np.zeros((6, 9, 9), np.uint8)),
    "objects.npz": _bytes(b"PK\x05\x06" + b"\x00" * 18),
}


def cases() -> list[tuple[str, list[str], dict[str, str], Callable[[Path], None] | None]]:
    """(name, argv, environment, setup) of every case; ``{tmp}`` in argv is the case's folder."""
    made: list[tuple[str, list[str], dict[str, str], Callable[[Path], None] | None]] = []
    # A value that turns out valid (--seed 0) runs one short trial instead of a whole sweep.
    base = ["sweep", "--dataset", "digits", "--results", "{tmp}/r", "--trials", "1", "--no-retrain"]
    for flag, value in itertools.product(NUMERIC_FLAGS, NUMBERS):
        made.append((f"{flag} {value!r}", [*base, flag, value], {}, None))
    for flag, value in itertools.product(("--seed", "--val-fraction", "--epochs"), NUMBERS):
        made.append((f"baseline {flag} {value!r}", ["baseline", "--dataset", "digits", "--results", "{tmp}/r", flag,
                                                     value], {}, None))  # fmt: skip
    for value in NUMBERS:
        made.append((f"leaderboard --top {value!r}", ["leaderboard", "--dataset", "digits", "--results", "{tmp}/r",
                                                       "--top", value], {}, None))  # fmt: skip
    for command, value in itertools.product(("sweep", "baseline"), ("0", "0x0", "-1", "99999", "ax", "8x", "1e9")):
        made.append((f"{command} --image-size {value}", [command, "--dataset", "digits", "--results", "{tmp}/r",
                                                          "--image-size", value], {}, None))  # fmt: skip
    for command, storage in itertools.product(("sweep", "leaderboard", "report", "retrain"), STORAGES):
        made.append((f"{command} storage {storage}", [command, "--dataset", "digits", "--results", "{tmp}/r",
                                                           "--storage", storage], {}, None))  # fmt: skip
    for name, content in YAML_FILES.items():
        write = _bytes(content)
        made.append((f"space {name}", [*base, "--space", f"{{tmp}}/{name}"], {}, _at(name, write)))
        made.append((f"spaces --check {name}", ["spaces", "--check", f"{{tmp}}/{name}"], {}, _at(name, write)))
    for name, write in ARRAY_FILES.items():
        for command in ("sweep", "baseline"):
            made.append((f"{command} {name}", [command, "--dataset", f"{{tmp}}/{name}", "--results", "{tmp}/r"], {},
                         _at(name, write)))  # fmt: skip
    for variable, value in itertools.product(
        ("SWEEP_THREADS", "SWEEP_HEARTBEAT_SECONDS", "SWEEP_PRECISION"), ("0", "-1", "²", "100000", "x", "1e3")
    ):
        made.append((f"{variable}={value}", base, {variable: value}, None))
    for name in ("mnsit", "/", "{tmp}/none", "{tmp}/none.npz", "cifar", ""):
        made.append((f"dataset {name!r}", ["sweep", "--dataset", name, "--results", "{tmp}/r"], {}, None))
    for results in ("/", "{tmp}/file", "{tmp}/loop"):
        made.append((f"results {results}", ["sweep", "--dataset", "digits", "--results", results], {}, _links))
    for model in ("build", "no_such_module:build", "{tmp}/none.py:build", "os:system", "evil pkg:build"):
        made.append((f"model {model}", [*base, "--model", model], {}, None))
    made.append(("spaces unknown dataset", ["spaces", "--check", "{tmp}/ok.yaml", "--dataset", "nosuch"], {},
                 _at("ok.yaml", _bytes(b"params:\n  dropout: {type: float, low: 0, high: 0.5}\n"))))  # fmt: skip
    made.append(("mnist of other arrays", ["sweep", "--dataset", "mnist", "--data-dir", "{tmp}", "--results",
                                           "{tmp}/r"], {}, _at("mnist.npz", _arrays())))  # fmt: skip
    made.append(("empty study", ["report", "--dataset", "digits", "--results", "{tmp}/r"], {},
                 _at("r/digits/study.db", _bytes(b""))))  # fmt: skip
    made.append(("garbage model", ["predict", "--model", "{tmp}/m.keras", "{tmp}/m.keras"], {},
                 _at("m.keras", _bytes(b"junk"))))  # fmt: skip
    return made


def _at(name: str, write: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(tmp: Path) -> None:
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        write(tmp / name)

    return setup


def _links(tmp: Path) -> None:
    (tmp / "file").write_text("")
    (tmp / "loop").symlink_to(tmp / "loop")


def files_under(root: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every folder (None) under ``root``: an empty folder left behind
    counts as written too."""
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
        for p in sorted(root.rglob("*"))
        if p.is_file() or (p.is_dir() and not p.is_symlink())
    }


def run_case(
    name: str, argv: list[str], env: dict[str, str], setup: Callable[[Path], None] | None
) -> dict[str, object]:
    """Run one case in a fresh folder; what it broke, if anything."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if setup is not None:
            setup(tmp)
        before = files_under(tmp)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "sweep", *(arg.replace("{tmp}", folder) for arg in argv)],
                capture_output=True, text=True, timeout=CASE_SECONDS, cwd=tmp,
                env={**os.environ, **env, "SWEEP_DATA_DIR": ""},
            )  # fmt: skip
            code, err, hang = done.returncode, done.stderr, False
        except subprocess.TimeoutExpired:
            code, err, hang = None, "", True
        lines = [line for line in err.splitlines() if line.strip()]
        return {
            "case": name,
            "exit": code,
            "hang": hang,
            "traceback": "Traceback" in err,
            "leak": SECRET in err,
            "lines": len(lines),
            "written": files_under(tmp) != before or (tmp / "PLANTED").exists(),
            "message": lines[-1][:160] if lines else "",
        }


def hostile(out: Path) -> pd.DataFrame:
    """Run every case; write ``hostile.csv`` and print what broke the rules."""
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, argv, env, setup in cases():
        rows.append(run_case(name, argv, env, setup))
        row = rows[-1]
        bad = broken(row)
        print(f"{'BAD ' if bad else 'ok  '}{name}: exit {row['exit']}: {row['message']}", flush=True)
    table = pd.DataFrame(rows)
    table.to_csv(out / "hostile.csv", index=False)
    refused = table[table["exit"] != 0]
    broke = table[[broken(row) for row in rows]]
    print(
        f"{len(table)} cases, {len(refused)} refused ({len(table) - len(refused)} valid after all, run): "
        f"{int(table['hang'].sum())} hangs, {int(table['traceback'].sum())} tracebacks, "
        f"{int(table['leak'].sum())} leaks, {int(refused['written'].sum())} refusals wrote files, "
        f"{int((refused['lines'] != 1).sum())} refusals not one line; {len(broke)} broke a rule"
    )
    return broke


def broken(row: dict[str, object]) -> bool:
    """Whether a case broke a rule: a hang, a traceback or a password shown anywhere; a refusal
    (exit other than 0) that wrote something or said more or less than one line."""
    refused = row["exit"] != 0
    return bool(row["hang"] or row["traceback"] or row["leak"] or (refused and (row["written"] or row["lines"] != 1)))
