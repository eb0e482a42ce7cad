"""The command line's grammar: every command, flag and its check, with no side effects.

Building the parser imports nothing heavy, so ``--help`` and every bad-argument error answer at
once; :mod:`sweep.interface.cli` turns the parsed flags into settings and runs the command.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from sweep import __version__
from sweep.choice.pareto import OBJECTIVES
from sweep.commands.export import FILE_NAMES
from sweep.data.image_folders import COLOR_MODES
from sweep.settings import ENGINES, PRUNERS, SAMPLERS, STORAGE_VARIABLE, TUNERS, SweepConfig

# Seconds of a timeout or time limit: about three years (leave the flag out for none).
MAX_SECONDS = 10**8
# Seeds reach NumPy and TensorFlow (below 2**32) offset by trial and worker numbers.
MAX_SEED = 2**31 - 1
DATA_FLAG_FIELDS = ("data_dir", "val_fraction", "seed", "color_mode", "image_size")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (exit 2), not usage plus message.

    Abbreviated flags are off: ``--epoch 3`` should be an error, not a silent ``--epochs``.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"sweep: {message} (see: {self.prog} --help)\n")


def _number(
    kind: type[int] | type[float],
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> Callable[[str], float]:
    """An argparse type: a number of ``kind`` within [low, high] (open ends where asked)."""

    def parse(text: str) -> float:
        try:
            value: float = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not math.isfinite(value):  # nan passes every comparison below
            raise argparse.ArgumentTypeError(f"{text} is not a finite number")
        if "_" in text:  # Python reads 1_0 as 10; a person who typed it meant something else
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}")
        if low is not None and (value <= low if low_open else value < low):
            raise argparse.ArgumentTypeError(f"{text} is too small (must be {'>' if low_open else '≥'} {low})")
        if high is not None and (value >= high if high_open else value > high):
            raise argparse.ArgumentTypeError(f"{text} is too large (must be {'<' if high_open else '≤'} {high})")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def _image_size(text: str) -> tuple[int, int]:
    """``28`` or ``32x48`` (height × width)."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        sizes = [int(part) for part in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 28 or 32x48") from None
    if len(sizes) not in (1, 2) or min(sizes) < 4 or max(sizes) > 1024:
        raise argparse.ArgumentTypeError(f"{text!r} must be one or two sides between 4 and 1024")
    return (sizes[0], sizes[-1])


def _data_flags(
    parser: argparse.ArgumentParser, *, files: bool = False, split: bool = False, dataset_required: bool = True
) -> None:
    """--dataset and --results; ``files``: --data-dir, for commands that load the data;
    ``split``: how to split and shape it, for commands that make a split (a study records its
    own, which ``retrain`` reads)."""
    group = parser.add_argument_group("data")
    group.add_argument(
        "--dataset",
        required=dataset_required,
        help="mnist, fashion_mnist, cifar10, digits, or a folder with train/ and test/",
    )
    group.add_argument("--results", default="results", help="results root folder (default results/)")
    if files:
        group.add_argument(
            "--data-dir",
            help="folder with Keras's dataset files (else $SWEEP_DATA_DIR, then ~/.keras/datasets, then a download)",
        )
    if not split:
        return
    group.add_argument(
        "--val-fraction",
        type=_number(float, 0, 1, True, True),
        default=0.1,
        help="share of the training set held out for validation (default 0.1)",
    )
    group.add_argument("--seed", type=_number(int, 0, MAX_SEED), default=0, help="random seed (default 0)")
    group.add_argument(
        "--color-mode",
        choices=COLOR_MODES,
        default="auto",
        help="image folders: force grayscale or RGB (default: detect)",
    )
    group.add_argument(
        "--image-size", type=_image_size, help="image folders: resize to this, e.g. 28 or 32x48 (default: first image)"
    )


def _study_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", help="Optuna storage URL (default: SQLite file results/<dataset>/study.db)")
    parser.add_argument("--study", help="study name (default: the dataset's name)")


def program_name(argv0: str) -> str:
    """How the user called the tool, for help and error messages: ``sweep`` (the console script)
    or ``python -m sweep``."""
    name = Path(argv0).name
    return "python -m sweep" if name in ("__main__.py", "-m", "") else name


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, one sub-parser per command."""
    parser = _Parser(
        prog=program_name(sys.argv[0]), description="Hyperparameter search for Keras image classifiers, on Optuna."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    # --debug after the command too (`sweep sweep --debug`); SUPPRESS keeps the main default.
    debug = _Parser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks of errors")

    def command(name: str, help: str) -> argparse.ArgumentParser:  # noqa: A002 (argparse's name)
        return commands.add_parser(name, help=help, parents=[debug])

    baseline = command("baseline", help="train and evaluate the dataset's baseline CNN")
    _data_flags(baseline, files=True, split=True)
    baseline.add_argument("--epochs", type=_number(int, 1, 1000), help="override the baseline's number of epochs")

    sweep = command("sweep", help="search around the baseline, retrain the best, export")
    _data_flags(sweep, files=True, split=True)
    _study_flags(sweep)
    defaults = SweepConfig()
    sweep.add_argument("--space", help="search-space YAML (default search_spaces/<dataset>.yaml)")
    for flag, kind, meaning in (
        ("--max-params", int, "parameters"),
        ("--max-size-kb", float, "KiB of the float32 TFLite file"),
        ("--max-latency-ms", float, "ms per image at batch 1 in LiteRT on this CPU"),
    ):
        sweep.add_argument(
            flag, type=_number(kind, 0, low_open=True), help=f"deployment limit: at most this many {meaning}"
        )
    sweep.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="accuracy",
        help="accuracy alone (default), or a Pareto front of accuracy against latency or size",
    )
    sweep.add_argument(
        "--model",
        metavar="MODULE:FUNCTION",
        help="your own model: build(params, input_shape, num_classes) -> keras.Model, swept over --space",
    )
    sweep.add_argument(
        "--trials",
        type=_number(int, 1, 100000),
        default=defaults.trials,
        help="stop once the study holds this many finished trials (default: no cap; the time limit ends the search)",
    )
    sweep.add_argument(
        "--timeout",
        type=_number(float, 0, MAX_SECONDS, low_open=True),
        default=defaults.timeout,
        help="search time in seconds: no trial starts after it, and running trials "
        "stop (the baseline and starting points finish; with --engine "
        "kerastuner, running trials finish) (default: none)",
    )
    sweep.add_argument(
        "--time-limit",
        type=_number(float, 0, MAX_SECONDS),
        default=defaults.time_limit,
        help="the whole command, search + retrains + export, ends within about "
        "this many seconds: the search uses what the retrains do not need "
        f"(default {defaults.time_limit:.0f}; 0: no limit)",
    )
    # The engine's own flags default to None: a flag given for the other engine is an error.
    sweep.add_argument("--sampler", choices=SAMPLERS, help=f"default {defaults.sampler}")
    sweep.add_argument("--pruner", choices=PRUNERS, help=f"default {defaults.pruner}")
    sweep.add_argument(
        "--workers",
        type=_number(int, 1, 1024),
        help="worker processes on this machine, at most one a core (default: "
        f"{defaults.workers} here; 1 trains in this process)",
    )
    sweep.add_argument(
        "--recycle",
        type=_number(int, 1),
        help=f"replace a worker process after this many trials (default {defaults.recycle}), so memory stays flat",
    )
    sweep.add_argument(
        "--engine",
        choices=ENGINES,
        default=defaults.engine,
        help="who proposes trials: optuna (default) or kerastuner, on the same space, data and training loop",
    )
    sweep.add_argument(
        "--tuner", choices=TUNERS, help=f"--engine kerastuner: KerasTuner's tuner (default {defaults.tuner})"
    )
    sweep.add_argument("--no-retrain", action="store_true", help="only search; run `retrain` later")

    worker = command("worker", help="join a study by storage URL and name, run trials")
    worker.add_argument(
        "--storage",
        help=f"the study's Optuna storage URL (default ${STORAGE_VARIABLE}, which "
        "keeps a password off the command line)",
    )
    worker.add_argument("--study", required=True, help="the study's name")
    worker.add_argument(
        "--trials", type=_number(int, 1, 100000), help="finished trials the study should hold (default: as recorded)"
    )
    worker.add_argument(
        "--timeout",
        type=_number(float, 0, MAX_SECONDS, low_open=True),
        help="search time in seconds: no trial starts after it, and running trials stop",
    )
    # The end of the driver's --time-limit, for the workers it starts (a time.time() value).
    worker.add_argument("--ends-at", type=_number(float, 0), help=argparse.SUPPRESS)
    worker.add_argument(
        "--recycle",
        type=_number(int, 1),
        default=defaults.recycle,
        help="run trials in a child process replaced after this many trials "
        f"(default {defaults.recycle}), so memory stays flat",
    )
    worker.add_argument(
        "--max-trials",
        type=_number(int, 1),
        help="run in this process and leave after this many trials (exit code 75); the driver's workers use it",
    )
    worker.add_argument("--data-dir", help="where this machine keeps the dataset files")
    worker.add_argument("--results", help="results root on this machine (default: as recorded)")
    worker.add_argument(
        "--index", type=_number(int, 0), default=0, help="this worker's number (seeds its sampler differently)"
    )

    retrain = command("retrain", help="retrain the best trial on train+validation, test it")
    _data_flags(retrain, files=True)
    _study_flags(retrain)
    retrain.add_argument(
        "--trial", type=_number(int, 0), help="retrain this completed trial instead (one of a Pareto front, say)"
    )

    export = command("export", help="write the best model in another format")
    _data_flags(export, files=True)  # tflite-int8 calibrates on training images
    export.add_argument("--format", choices=tuple(FILE_NAMES), default="keras")
    export.add_argument(
        "--single", action="store_true", help="export one model of an answer that averages several (best/single.keras)"
    )

    board = command("leaderboard", help="print the top trials of a dataset's sweep")
    _data_flags(board)
    board.add_argument(
        "--storage", help="read the study from this storage (any machine) instead of results/<dataset>/leaderboard.csv"
    )
    board.add_argument("--study", help="study name (default: the dataset's name)")
    board.add_argument("--top", type=_number(int, 1), default=10, help="rows to show (default 10)")

    spaces = command("spaces", help="list the search spaces, or check one file")
    spaces.add_argument("--check", metavar="FILE", help="validate this search-space file")
    spaces.add_argument("--dataset", help="check that the space fits this dataset's images")

    predict = command("predict", help="classify image files with the best model")
    _data_flags(predict, dataset_required=False)
    predict.add_argument("--model", help="a .keras model (default results/<dataset>/best/model.keras)")
    predict.add_argument("images", nargs="+", metavar="IMAGE")

    report = command("report", help="write results/<dataset>/report.html: one page about the sweep")
    _data_flags(report)
    _study_flags(report)

    dashboard = command("dashboard", help="serve optuna-dashboard on the study")
    _data_flags(dashboard)
    _study_flags(dashboard)
    dashboard.add_argument("--host", default="127.0.0.1")
    dashboard.add_argument("--port", type=_number(int, 1, 65535), default=8080)
    return parser


def command_flags(parser: argparse.ArgumentParser, command: str) -> dict[str, str]:
    """keyword → flag (``time_limit`` → ``--time-limit``) of one command of ``parser``.

    argparse has no public way to list a parser's options; its ``_actions`` have been stable
    since Python 3.2.
    """
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        action.dest: action.option_strings[-1] for action in commands.choices[command]._actions if action.option_strings
    }
