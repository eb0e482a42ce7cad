"""Benchmarks, run by ``make bench`` (never by the tests): measured side by side, on this machine.

``python -m bench strategies`` runs the same sweep once per sampler/pruner pair, each in
its own process with the same wall-clock budget, seed, data split and search space, and writes
``results/bench/strategies/strategies.csv`` (one row per pair) and ``strategies.png`` (best
validation accuracy over time).

``python -m bench workers`` runs the same fixed trials (the MNIST baseline, one epoch at
batch 128) with 1 worker × all cores and with 2 workers × half the cores each, and reports
trials per hour and the per-trial overhead (the time spent outside Keras's ``fit``):
``results/bench/workers/workers.csv``.

``python -m bench throughput`` measures seconds per 60k-image MNIST epoch of the baseline
CNN: the notebook's plain ``fit`` against the sweep's trial path, and the compute floor
(:mod:`bench.speed`): ``results/bench/throughput/throughput.csv`` and ``throughput.png``.

``python -m bench datasets`` runs the bare default sweep, and KerasTuner Hyperband with the
same time limit, on every real dataset at hand (MNIST, MNIST as an image folder of JPEGs, MNIST
subsets of 1,000 and 10,000 training images, scikit-learn's digits) and tabulates time, trials,
the baseline's and the final model's test accuracy, the gain with its interval, and where the
final model came from: ``results/bench/datasets/datasets.csv`` and ``datasets.md``.

``python -m bench pruning --results DIR`` reruns in full a sample of the pruned trials of
a finished sweep and says how many would have ranked in the top 3: how often the pruner stops a
good slow starter (``results/bench/pruning/pruning.csv``).

``python -m bench pareto --dataset mnist-1k`` runs the same ``OBJECTIVE=latency`` sweep with the
shipped Pareto sampler and with accuracy-only TPE, side by side, for each of ``--seeds``, and
compares their fronts: ``results/bench/pareto/pareto.csv`` (:mod:`bench.pareto`).

``--slowest`` (``make bench SLOWEST=1``) emulates the slowest machine kind (2-core AVX2, float32):
every child computes in float32, and the time limit is scaled by r, this machine's trial-path
time over that kind's (:func:`bench.speed.slowest_time_limit`); results go to ``<bench>/slowest/``.

``python -m bench hostile`` runs hundreds of bad command lines, each in a fresh folder, and
counts hangs, tracebacks, leaked passwords, files written and messages of more than one line
(:mod:`bench.hostile`): ``results/bench/hostile/hostile.csv``.

``python -m bench ensemble`` trains the portfolio's small CNN for ``--budget`` seconds as one
model on every core and as two averaged models side by side, for each of ``--seeds``, and
compares them on the validation split (:mod:`bench.ensemble`): ``results/bench/ensemble/``.

``python -m bench portfolio`` trains each candidate starting point once per dataset and seed and
scores it on labelled images it did not train on, never a test set (:mod:`bench.portfolio`):
``results/bench/portfolio/portfolio.csv`` and ``portfolio.md``.

``python -m bench views`` trains the shipped starting points once per dataset and seed and
scores each model alone and over its test-time views, on labelled images it did not train on
(:mod:`bench.views`): ``results/bench/views/views.csv`` and ``views.md``.

``python -m bench reuse`` trains the shipped starting points per dataset and seed as an
answer's trial and its retrain, from scratch and from the trial's weights, and scores the
retrain alone, averaged with the trial's model and warm-started, on labelled images none
trained on (:mod:`bench.reuse`): ``results/bench/reuse/``.

``python -m bench share`` runs the bare sweep once per answer's share of the time limit
(``--shares``), dataset and seed, and scores each final model on MNIST training images the
sweep never saw, never a test set (:mod:`bench.share`): ``results/bench/share/share.csv`` and
``share.md``.

``python -m bench memory`` runs one sweep of ``--trials`` trials and records the summed
resident memory of its whole process tree (driver and workers) at the end of every trial:
``results/bench/memory/rss.csv`` and ``rss.png``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bench.datasets import DATASETS, ENGINES_RACED, datasets, pruning
from bench.ensemble import ensemble
from bench.hostile import hostile
from bench.pareto import pareto
from bench.portfolio import DATASETS as PORTFOLIO_SETS
from bench.portfolio import portfolio
from bench.resources import memory, throughput, workers_throughput
from bench.reuse import DATASETS as REUSE_SETS
from bench.reuse import reuse
from bench.share import DATASETS as SHARE_SETS
from bench.share import share
from bench.strategies import strategies
from bench.views import DATASETS as VIEWS_SETS
from bench.views import views


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "benchmark",
        choices=(
            "datasets",
            "pruning",
            "strategies",
            "workers",
            "memory",
            "throughput",
            "pareto",
            "hostile",
            "ensemble",
            "portfolio",
            "share",
            "views",
            "reuse",
        ),
    )
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument(
        "--datasets",
        help=f"datasets, portfolio, views: which ones (default {','.join(DATASETS)}; "
        f"portfolio: {','.join(PORTFOLIO_SETS)}; views: {','.join(VIEWS_SETS)}; reuse: {','.join(REUSE_SETS)})",
    )
    parser.add_argument(
        "--engines", default=",".join(ENGINES_RACED), help="datasets: sweep, kerastuner or both (default)"
    )
    parser.add_argument(
        "--time-limit", type=float, default=1140.0, help="datasets, share: each sweep's --time-limit (default 1140)"
    )
    parser.add_argument(
        "--data-dir", help="datasets, pruning: folder with Keras's dataset files (default $SWEEP_DATA_DIR)"
    )
    parser.add_argument("--results", help="pruning: the results root of a finished sweep")
    parser.add_argument("--study", help="pruning: its study name (default: the dataset's)")
    parser.add_argument("--sample", type=int, default=8, help="pruning: pruned trials rerun in full")
    parser.add_argument(
        "--budget", type=float, help="strategies: seconds each (default 600); ensemble: seconds a run (default 90)"
    )
    parser.add_argument("--trials", type=int, default=40, help="memory, workers, pareto: trials to run")
    parser.add_argument("--workers", type=int, default=1, help="memory: worker processes")
    parser.add_argument(
        "--one-thread",
        action="store_true",
        help="ensemble: the one model on one thread too, as on the slowest kind, where a second thread gains nothing",
    )
    parser.add_argument("--shares", default="0.35,0.5,0.65", help="share: the answer's shares of the limit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--seeds", default="0,1", help="pareto, ensemble, portfolio, views, reuse: the seeds (default 0,1)"
    )
    parser.add_argument(
        "--slowest",
        action="store_true",
        help="emulate the slowest machine kind: float32, and the time limit scaled by this machine's speed over it",
    )
    parser.add_argument("--out", default="results/bench")
    args = parser.parse_args(argv)
    out = Path(args.out) / args.benchmark / ("one-thread" if args.one_thread else "")
    if args.data_dir:  # for every child too: --slowest's speed measurement reads MNIST through it
        os.environ["SWEEP_DATA_DIR"] = args.data_dir
    if args.slowest:
        from bench.speed import slowest_time_limit

        args.time_limit, ratio = slowest_time_limit(args.time_limit)
        out = out / "slowest"
        print(
            f"Emulating the slowest machine kind: this machine's trial path takes {ratio:.2f} of its time "
            f"(float32), so --time-limit {args.time_limit:.0f}",
            flush=True,
        )
    if args.benchmark == "datasets":
        table = datasets(
            (args.datasets or ",".join(DATASETS)).split(","),
            args.engines.split(","),
            args.time_limit,
            args.seed,
            args.data_dir,
            out,
        )
    elif args.benchmark == "pruning":
        if not args.results:
            raise SystemExit("pruning needs --results: the results root of a finished sweep")
        table = pruning(
            Path(args.results),
            args.study or Path(args.dataset.rstrip("/")).name,
            args.sample,
            args.seed,
            args.data_dir,
            out,
        )
    elif args.benchmark == "strategies":
        table = strategies(args.dataset, args.budget or 600.0, args.seed, out)
    elif args.benchmark == "ensemble":
        seeds = [int(seed) for seed in args.seeds.split(",")]
        table = ensemble(args.dataset, seeds, args.budget or 90.0, out, args.one_thread)
    elif args.benchmark == "portfolio":
        seeds = [int(seed) for seed in args.seeds.split(",")]
        table = portfolio((args.datasets or ",".join(PORTFOLIO_SETS)).split(","), seeds, args.data_dir, out)
    elif args.benchmark == "views":
        seeds = [int(seed) for seed in args.seeds.split(",")]
        table = views((args.datasets or ",".join(VIEWS_SETS)).split(","), seeds, args.data_dir, out)
    elif args.benchmark == "reuse":
        seeds = [int(seed) for seed in args.seeds.split(",")]
        table = reuse((args.datasets or ",".join(REUSE_SETS)).split(","), seeds, args.data_dir, out)
    elif args.benchmark == "share":
        seeds = [int(seed) for seed in args.seeds.split(",")]
        shares = [float(value) for value in args.shares.split(",")]
        names = (args.datasets or ",".join(SHARE_SETS)).split(",")
        table = share(names, shares, seeds, args.time_limit, args.data_dir, out)
    elif args.benchmark == "pareto":
        seeds = [int(seed) for seed in args.seeds.split(",")]
        table = pareto(args.dataset, args.trials, seeds, args.data_dir, out)
    elif args.benchmark == "throughput":
        table = throughput(out)
    elif args.benchmark == "hostile":
        table = hostile(out)
    elif args.benchmark == "workers":
        table = workers_throughput(args.dataset, args.trials, args.seed, out)
    else:
        table = memory(args.dataset, args.trials, args.workers, args.seed, out)
        if len(table) >= 40:
            rss = table["rss_mb"]
            print(
                f"RSS growth from the end of trial 5 to the end of trial 40: "
                f"{rss.iloc[39] - rss.iloc[4]:+.0f} MB (highest after trial 5: "
                f"{rss.iloc[4:40].max() - rss.iloc[4]:+.0f} MB)"
            )
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
