"""Accuracy against a deployment cost: ``OBJECTIVE=latency`` or ``OBJECTIVE=size``.

Optuna's pruners cannot stop trials of a multi-objective study, so the study stays what it is:
trials maximise validation accuracy, and the pruner compares their accuracy curves. Each trial
that completes is then measured (:mod:`sweep.deploy.deployment`), and a trial is Pareto-optimal when
no other feasible completed trial is at least as accurate and as cheap, and better in one. The
sampler aims at that front: multi-objective TPE over accuracy and cost
(:mod:`sweep.search.pareto_sampler`); and to spread the trials along the cost from the start, a Pareto
search also runs the portfolio's cheaper starting points (:data:`sweep.space.portfolio.LADDER`). The
answer in ``best/`` stays the most accurate feasible trial; ``sweep retrain --trial N``
(``make retrain TRIAL=N``) takes another.

No TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Iterable

from optuna.trial import FrozenTrial, TrialState

from sweep.choice.trials import feasible, record

OBJECTIVES = ("accuracy", "latency", "size")
# The trial attribute each cost objective reads, and how plots and summaries name it.
FIGURES = {"latency": "latency_ms", "size": "tflite_kb"}
LABELS = {"latency": "Latency per image at batch 1 in LiteRT (ms)", "size": "Float32 TFLite file (KiB)"}


def candidates(trials: Iterable[FrozenTrial], objective: str) -> list[FrozenTrial]:
    """The feasible completed trials that have the objective's cost measured."""
    figure = FIGURES[objective]
    return [
        t
        for t in trials
        if t.state == TrialState.COMPLETE and t.values and feasible(t) and record(t).get(figure) is not None
    ]


def front(trials: Iterable[FrozenTrial], objective: str) -> list[FrozenTrial]:
    """The Pareto-optimal trials (accuracy up, cost down), cheapest first; [] for ``accuracy``."""
    if objective not in FIGURES:
        return []
    figure = FIGURES[objective]
    points = candidates(trials, objective)

    def dominated(trial: FrozenTrial) -> bool:
        value, cost = trial.values[0], record(trial)[figure]
        return any(
            o.values[0] >= value and record(o)[figure] <= cost and (o.values[0] > value or record(o)[figure] < cost)
            for o in points
        )

    return sorted((t for t in points if not dominated(t)), key=lambda t: (record(t)[figure], t.number))


def summary_line(trials: list[FrozenTrial], objective: str) -> str | None:
    """The front in one line for the search summary (None for ``accuracy``)."""
    if objective not in FIGURES:
        return None
    optimal = front(trials, objective)
    if not optimal:
        return f"Pareto front (accuracy against {objective}): no completed trial measured yet."
    figure = FIGURES[objective]
    unit = "ms" if objective == "latency" else "KiB"
    points = ", ".join(f"{t.number} ({t.values[0]:.4f}, {record(t)[figure]:.4g} {unit})" for t in optimal)
    return f"Pareto front (accuracy against {objective}), cheapest first: trials {points}."
