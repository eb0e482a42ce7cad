"""sweep: hyperparameter sweeps and AutoML for Keras image classifiers, on Optuna.

The rooms, lowest first; a room imports only from rooms below it (tests/test_layout.py checks):

- ``errors``, ``files``, ``progress``: one-line errors, atomic writes, progress display;
- ``machine``: environment variables, cores and GPUs, TensorFlow's one import;
- ``data``: datasets loaded, checked and split;
- ``models``: the CNN family, building and training models;
- ``space``: search-space files → Optuna distributions, starting points;
- ``deploy``: deployment limits and a model's device costs;
- ``settings``: the settings of a sweep (``DataConfig``, ``SweepConfig``);
- ``choice``: trial records, intervals, rankings, the Pareto front;
- ``search``: studies, the objective, workers, the time limit, engines;
- ``reporting``: figures and the HTML report;
- ``commands``: what each command does;
- ``interface``: the command line and the Python API.

``space``, ``choice``, ``reporting`` and the modules at this level never import TensorFlow;
``models.train`` loads it on import, every other module only inside the function that needs it.
"""

__version__ = "0.1.0"

# The Python API (light to import: TensorFlow loads when a model is built).
from sweep.errors import UsageError  # noqa: E402
from sweep.interface.api import SweepFailed, SweepResult, run  # noqa: E402

__all__ = ["SweepFailed", "SweepResult", "UsageError", "__version__", "run"]
