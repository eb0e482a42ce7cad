"""The search itself: Optuna studies, what a trial does, workers and their processes, the time
limit, and the other engine (KerasTuner).

- ``study``: storage URLs, creating and loading studies, the sampler and pruner registries, and the
  settings a study records.
- ``engines``: the ``Engine`` interface (Optuna, KerasTuner) and the ``Search`` bundle it is handed.
- ``objective``: one trial: parameters from the sampler → a trained, scored model.
- ``worker``: the trial loop any number of processes run on one study.
- ``pool``: the worker processes of a sweep, and ``sweep worker``.
- ``budget``: the time limit: when the search must end for the answer to train in time.
- ``fidelity``: the share of the training images trials explore on.
- ``jobs``: jobs besides trials that workers take (the baseline"s retrain).
- ``kept``: the best trials' models, kept for the answer's retrain to start from.
- ``console``: what a person sees while a search runs: trial lines, the leaderboard file, the summary.
- ``masking``: passwords in storage URLs, masked wherever a URL is shown.
- ``kerastuner_engine``: ``--engine kerastuner``.
- ``rescore``: which finalist to retrain where validation cannot tell them apart.

Private to this package: ``internals`` (what sweep needs from Optuna beyond its public API),
``pareto_sampler`` (the sampler of a Pareto search, made by ``study``), ``rescore`` (the answer"s
evidence where validation cannot tell finalists apart, used by ``budget``).
"""

# The modules other rooms may import; any other module here is private to this package.
__all__ = [
    "study",
    "engines",
    "objective",
    "worker",
    "pool",
    "budget",
    "fidelity",
    "jobs",
    "kept",
    "console",
    "masking",
    "kerastuner_engine",
    "rescore",
]
