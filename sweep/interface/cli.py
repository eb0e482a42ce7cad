"""``python -m sweep <command>``: flags to settings, dispatch and error handling.

Each command's module is imported only when it runs, so ``--help``, ``spaces`` and every
bad-argument error answer at once, without TensorFlow.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import traceback
from collections.abc import Sequence

from sweep.deploy.constraints import Limits
from sweep.errors import UsageError
from sweep.files import FoldersMade, check_results_root
from sweep.interface.arguments import DATA_FLAG_FIELDS, build_parser
from sweep.machine.backend import usable_cpus
from sweep.machine.environment import Environment
from sweep.search.masking import redact
from sweep.settings import STORAGE_VARIABLE, DataConfig, SweepConfig


def data_config(args: argparse.Namespace) -> DataConfig:
    """The data settings of a parsed command line (DataConfig's defaults for flags the command
    does not take)."""
    given = {name: getattr(args, name) for name in DATA_FLAG_FIELDS if hasattr(args, name)}
    check_results_root(args.results)
    return DataConfig(dataset=args.dataset, results=args.results, **given)


def _run(args: argparse.Namespace) -> int:
    """Dispatch to the command's module (imported here, so parsing stays light)."""
    if args.command == "spaces":
        from sweep.commands.tools import spaces

        return spaces(args.check, args.dataset)
    if args.command == "worker":
        args.storage = args.storage or Environment.read().storage
    if args.command == "worker" and not args.storage:
        raise UsageError(f"sweep worker needs the study's storage: --storage URL, or the URL in ${STORAGE_VARIABLE}")
    if args.command == "worker":
        from sweep.search.pool import WorkerSpec, run_recycled_worker, run_worker

        spec = WorkerSpec(
            args.study,
            args.index,
            trials=args.trials,
            timeout=args.timeout,
            max_trials=args.max_trials,
            results=args.results,
            data_dir=args.data_dir,
            ends_at=args.ends_at,
        )
        return (
            run_recycled_worker(args.storage, spec, args.recycle)
            if args.max_trials is None
            else run_worker(args.storage, spec)
        )
    if args.command == "predict":
        from sweep.commands.tools import predict

        return predict(args.model, args.dataset, args.results, args.images)
    data = data_config(args)
    if args.command == "leaderboard":
        from sweep.commands.tools import leaderboard

        return leaderboard(data, SweepConfig(storage=args.storage, study=args.study), args.top)
    if args.command == "baseline":
        from sweep.commands.baseline import run_baseline

        return run_baseline(data, epochs=args.epochs)
    if args.command == "export":
        from sweep.commands.export import run_export

        return run_export(data, args.format, single=args.single)
    settings = SweepConfig(storage=args.storage, study=args.study)
    if args.command == "dashboard":
        from sweep.commands.tools import dashboard

        return dashboard(data, settings, args.host, args.port)
    if args.command == "report":
        from sweep.commands.tools import report

        return report(data, settings)
    if args.command == "retrain":
        from sweep.commands.retrain import run_retrain

        return run_retrain(data, settings, args.trial)
    from sweep.commands.sweep import run_sweep

    return run_sweep(data, sweep_settings(args), retrain=not args.no_retrain)


# The flags of one engine, which the other does not take.
ENGINE_FLAGS = {"optuna": ("sampler", "pruner", "workers", "recycle"), "kerastuner": ("tuner",)}


def sweep_settings(args: argparse.Namespace) -> SweepConfig:
    """The search settings of ``sweep``'s flags; flags of the other engine are refused."""
    foreign = [
        name
        for engine, names in ENGINE_FLAGS.items()
        if engine != args.engine
        for name in names
        if getattr(args, name) is not None
    ]
    if foreign:
        flags = ", ".join(f"--{name}" for name in foreign)
        raise UsageError(
            f"{flags} do(es) not apply to --engine {args.engine}; drop {flags}, or "
            f"use --engine {'kerastuner' if args.engine == 'optuna' else 'optuna'}"
        )
    cores = usable_cpus()
    if args.workers is not None and args.workers > cores:
        raise UsageError(
            f"--workers {args.workers}: this process may use {cores} core(s), and "
            f"workers beyond one a core only share them; use at most {cores}"
        )
    limits = Limits(args.max_params, args.max_size_kb, args.max_latency_ms)
    if (limits or args.objective != "accuracy") and args.engine == "kerastuner":
        raise UsageError(
            "deployment limits (--max-params, --max-size-kb, --max-latency-ms) and --objective need --engine optuna"
        )
    given = {name: getattr(args, name) for name in ENGINE_FLAGS[args.engine] if getattr(args, name) is not None}
    if args.engine == "kerastuner":
        given["workers"] = 1  # KerasTuner searches in the command's own process
    return SweepConfig(
        trials=args.trials,
        timeout=args.timeout,
        time_limit=args.time_limit or None,
        storage=args.storage,
        study=args.study,
        space=args.space,
        model=args.model,
        engine=args.engine,
        limits=limits,
        objective=args.objective,
        **given,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns the exit code (2 for bad input, 130 for Ctrl-C)."""
    args = build_parser().parse_args(argv)
    if args.debug:
        os.environ["SWEEP_DEBUG"] = "1"  # sweep.machine.backend then shows TensorFlow's start-up log
    made = FoldersMade()
    try:
        Environment.read()  # a bad variable is one line now, not a failed trial later
        code = _run(args)
        sys.stdout.flush()  # a reader that left (`| head`) shows here, not at exit
        return code
    except BrokenPipeError:
        # Python would try to flush again at exit, and complain: send the rest nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except UsageError as error:
        made.remove_empty()
        if args.debug:
            traceback.print_exc()
        # Whatever the message quotes, the storage URL's password never reaches the terminal.
        storage = getattr(args, "storage", None)
        print(f"sweep: {redact(str(error), storage, os.environ.get(STORAGE_VARIABLE))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sweep: interrupted", file=sys.stderr)
        return 130
    except OSError as error:
        # What the file system can refuse mid-run: a full or read-only disk, a file turned
        # into a folder, permissions taken away.
        if error.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EISDIR, errno.EACCES, errno.EPERM):
            raise
        if args.debug:
            traceback.print_exc()
        # The run started and could not finish: exit 1, and say what is safe.
        print(
            f"sweep: could not write {error.filename or 'a result'}: {error.strerror}. Finished trials are "
            "kept in the study, and every file written before is whole (files are replaced atomically); "
            "fix that (free some space, say) and run the same command again to resume",
            file=sys.stderr,
        )
        return 1
