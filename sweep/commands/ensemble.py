"""An answer of several models trained side by side, one process per core, averaged.

``SWEEP_MEMBERS=2`` retrains the answer as two copies with seeds ``seed`` and ``seed + 1``,
each on one core in its own process, and the final model averages their class probabilities.
Each member plans its epochs from its own speed before the same deadline
(:func:`sweep.models.train.fit_within`), so the pair ends when one model alone would have.

It is for a machine where one process cannot use its second core. On the slowest kind here
(2-core AVX2) the trial path trained 63.2 s per 60k images in one process with two threads and
67 s in each of two processes side by side: there a second model costs nothing. On a 2-core
AVX512-BF16 machine one process trained the portfolio's small CNN 1.4 times faster on two
threads than each of two did on one, and two averaged models did not beat one model trained
longer, on 51,000 images not trained on (``make bench BENCH=ensemble``, docs/benchmarks.md).
So, unless SWEEP_MEMBERS is set, the machine decides: a sweep compares the baseline's speed in
one process on every core, measured when its study was created, with the baseline trial's on
one core. Without a time limit it averages a model a core only where the first is not clearly
faster (:func:`members_for`). Under one it compares epochs: a model a core where each trains
almost as many as one model on every core would, both up to the most the answer may train
(:func:`side_by_side_pays`, :func:`sweep.commands.retrain.members_in_time`): where the second
thread gains little, or where each reaches that most and one model could not use the time.

A sweep with deployment limits or a Pareto objective keeps one model, since the limits are one
model's; so does a GPU. The first member alone is saved as well (``best/single.keras``,
``export/single/model.keras``; ``sweep export --single`` for other formats).

``python -m sweep.commands.ensemble JOB INDEX`` trains member INDEX of a job file; it prints one JSON
line per epoch and writes the member's model and history beside the job.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from sweep.progress import Display

if TYPE_CHECKING:
    from sweep.models.train import TrainResult

ONE_MODEL_BECAUSE = "a GPU, deployment limits, a Pareto objective, or fewer cores than models"
SINGLE_FILE = "single.keras"  # the first member alone, beside the averaged best/model.keras
SINGLE_FOLDER = "single"  # its exports: export/single/


# Unless SWEEP_MEMBERS says otherwise, the answer is one model where one process on every core
# trains at least this much faster than one single-thread process beside another; under it the
# other cores would idle through the answer's retrain, so each trains a model of its own at no
# cost in epochs. Measured: 1.06 on the slowest kind (2-core AVX2), 1.4-1.6 on a 2-core
# AVX512-BF16 machine (docs/benchmarks.md); the threshold lies between, set from those timings.
ONE_MODEL_THREADS_GAIN = 1.25
AUTO_MEMBERS = 2  # at most, where the machine decides


def members_for(
    asked: int | None,
    cores: int,
    gpus: int,
    limits: Mapping[str, Any],
    objective: str,
    threads_gain: float | None = None,
) -> int:
    """How many models the answer averages: the ``asked`` (SWEEP_MEMBERS; None: one a core, up
    to AUTO_MEMBERS, where ``threads_gain`` (:func:`threads_gain`) is under ONE_MODEL_THREADS_GAIN,
    else one) where the CPU has a core for each, and no GPU, deployment limit or Pareto
    objective asks for one model."""
    if asked is None:
        cheap = threads_gain is not None and threads_gain < ONE_MODEL_THREADS_GAIN
        asked = min(cores, AUTO_MEMBERS) if cheap else 1
    if gpus or asked > cores or objective != "accuracy" or any(limits.values()):
        return 1
    return asked


def side_by_side_possible(workers: int, limits: Mapping[str, Any], objective: str) -> bool:
    """Whether the answer may train as models side by side (:func:`members_for`, unless
    SWEEP_MEMBERS=1), each as fast as a trial was: trials ran one a core (``workers`` at
    least the cores). The time limit then keeps time for them (:class:`sweep.search.budget.TimeLimit`)."""
    from sweep.machine.backend import usable_cpus
    from sweep.machine.devices import find_gpus
    from sweep.machine.environment import Environment

    cores, asked = usable_cpus(), Environment.read().members
    wanted = min(cores, AUTO_MEMBERS) if asked is None else asked
    return workers >= cores and members_for(wanted, cores, len(find_gpus()), limits, objective) > 1


def side_by_side_pays(each: float, alone: float) -> bool:
    """Whether models side by side, ``each`` epochs each, are worth it against one model of
    ``alone`` epochs in the same time: where ``each`` is within ONE_MODEL_THREADS_GAIN of
    ``alone``. The threshold that compares the machine's speeds, applied to the epochs the
    retrain trains, a fraction of the last one included (it may stop at a step): counted in
    whole epochs, at the slowest kind's emulated speed two models of 1 epoch each (1.75 as
    trained) tied one of 1 (2.7) and were chosen (MNIST), where on validation images two
    averaged models had not beaten one trained 1.4 times longer (``make bench BENCH=ensemble``).
    Never where each would train less than one epoch: there a second model is what the first
    still needs (at that speed two models of `double`, 0.57 epochs each, scored 0.9900 on held-out
    images, where `small`'s answers reached 0.9958)."""
    return each >= 1 and each * ONE_MODEL_THREADS_GAIN >= alone


# A copy of the answer trains in the time left only where its estimate, times this, fits: the
# copies re-plan to the deadline anyway, but one cut to a few epochs would only add noise.
LEFTOVER_MARGIN = 1.3


def copies_in_time_left(one_seconds: float | None, left: float, members: int) -> int:
    """How many more models of the answer's recipe to train side by side, one a core, in the
    ``left`` seconds that its retrain did not need (the baseline, retrained by a worker during
    the search, is the answer): ``members`` (:func:`members_for`) where one copy, about
    ``one_seconds`` on one core, fits with LEFTOVER_MARGIN; else none. Averaged with it, the
    copies use time that would go unused (at equal epochs two averaged models beat one on every
    seed measured, docs/benchmarks.md)."""
    if not one_seconds or members < 2 or one_seconds * LEFTOVER_MARGIN > left:
        return 0
    return members


def threads_gain(calibrated: float | None, trial_rate: float | None, workers: int, cores: int) -> float | None:
    """How much faster one process on every core trained the baseline (``calibrated``, images
    a second, measured when the study was created) than the baseline trial did on one core
    beside the other workers (``trial_rate``); None where either is unknown, or the trials did
    not run one a core (fewer ``workers`` than ``cores``)."""
    if not calibrated or not trial_rate or workers < cores:
        return None
    return calibrated / trial_rate


def fit_members(
    params: dict[str, Any],
    model: str | None,
    x: np.ndarray,
    y: np.ndarray,
    shape: tuple[tuple[int, int, int], int],
    seed: int,
    display: Display,
    label: str,
    until: float | None = None,
    most: int | None = None,
    members: int = 2,
    threads: int = 1,
    start: Path | None = None,
) -> list[TrainResult]:
    """Train ``members`` models of ``params`` (``model``: the user's function, None: sweep's CNN)
    on ``x``/``y`` side by side, one process of ``threads`` threads each (``shape``: the input
    shape and the number of classes); the first from ``start``'s weights where given, the others
    from a new initialization, so that they differ. The rest as :func:`sweep.models.train.fit_within`."""
    from sweep.models.build import load_saved
    from sweep.models.train import TrainResult

    with tempfile.TemporaryDirectory(prefix="sweep-members-") as folder:
        job = Path(folder) / "job.json"
        np.save(Path(folder) / "x.npy", x)
        np.save(Path(folder) / "y.npy", y)
        job.write_text(
            json.dumps(
                {
                    "params": params,
                    "model": model,
                    "shape": shape,
                    "seed": seed,
                    "until": until,
                    "most": most,
                    "start": str(start) if start is not None else None,
                }
            )
        )
        description = f"retrain {label} epochs" + (f" ({members} models side by side)" if members > 1 else "")
        _run_members(job, display, description, int(params["epochs"]), members, threads)
        results = []
        for index in range(members):
            record = json.loads((Path(folder) / f"member_{index}.json").read_text())
            results.append(
                TrainResult(
                    load_saved(Path(folder) / f"member_{index}.keras"),
                    record["history"],
                    record["seconds"],
                    record.get("trained"),
                )
            )
    return results


def _run_members(job: Path, display: Display, description: str, epochs: int, members: int, threads: int) -> None:
    """Start the members, advance one progress task with their epochs, and wait for them all;
    a member that fails raises RuntimeError with the end of its error output."""
    environment = {**os.environ, "SWEEP_THREADS": str(threads)}
    children, errors = [], []
    lines: queue.Queue[tuple[int, str | None]] = queue.Queue()
    try:
        for index in range(members):
            errors.append(open(job.parent / f"member_{index}.err", "w+"))  # noqa: SIM115 (closed below)
            child = subprocess.Popen(
                [sys.executable, "-m", "sweep.commands.ensemble", str(job), str(index)],
                stdout=subprocess.PIPE,
                stderr=errors[-1],
                text=True,
                env=environment,
            )
            children.append(child)
            assert child.stdout is not None
            threading.Thread(target=_forward, args=(index, child.stdout, lines), daemon=True).start()
        running, totals = members, [epochs] * members
        with display.session(), display.task(description, epochs * members) as task:
            while running:
                index, line = lines.get()
                if line is None:
                    running -= 1
                    continue
                step = json.loads(line)
                if step["total"] != totals[index]:  # the member re-planned its epochs
                    totals[index] = step["total"]
                    task.resize(sum(totals))
                task.advance(f"model {index + 1}: {step['info']}")
        for index, child in enumerate(children):
            if child.wait() != 0:
                errors[index].seek(0)
                tail = errors[index].read().strip().splitlines()[-1:] or ["no error output"]
                raise RuntimeError(f"model {index + 1} of the answer failed (exit {child.returncode}): {tail[0]}")
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
        for error in errors:
            error.close()


def _forward(index: int, stream: IO[str], lines: queue.Queue[tuple[int, str | None]]) -> None:
    """Put a member's progress lines on ``lines``, then None when its output ends."""
    for line in stream:
        if line.startswith("{"):
            lines.put((index, line))
    lines.put((index, None))


def _member(job_path: Path, index: int) -> None:
    """Train member ``index`` of the job at ``job_path`` and save it beside the job."""
    from sweep.machine.backend import load_keras

    load_keras()
    from sweep.models.build import portable
    from sweep.models.train import fit_within
    from sweep.models.user_models import plan

    job = json.loads(job_path.read_text())
    folder = job_path.parent
    arch = plan(job["params"], job["model"])
    (height, width, channels), classes = job["shape"]

    class Lines:
        """The member's progress (:class:`sweep.progress.Steps`): one JSON line per epoch on
        stdout, with the epochs it now plans in all, for the parent's progress bar."""

        total = arch.epochs

        def advance(self, info: str = "", steps: int = 1) -> None:
            print(json.dumps({"info": " ".join(info.split()[:2]), "total": self.total}), flush=True)

        def resize(self, total: int) -> None:
            self.total = total

    x, y = np.load(folder / "x.npy"), np.load(folder / "y.npy")
    result = fit_within(
        arch,
        x,
        y,
        (height, width, channels),
        classes,
        job["seed"] + index,
        Lines(),
        until=job["until"],
        most=job["most"],
        start=Path(job["start"]) if job.get("start") and index == 0 else None,
    )
    portable(result.model).save(folder / f"member_{index}.keras")
    (folder / f"member_{index}.json").write_text(
        json.dumps({"history": result.history, "seconds": result.fit_seconds, "trained": result.trained})
    )


if __name__ == "__main__":
    _member(Path(sys.argv[1]), int(sys.argv[2]))
