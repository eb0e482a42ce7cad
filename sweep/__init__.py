"""sweep: hyperparameter sweeps and AutoML for Keras image classifiers, on Optuna."""

__version__ = "0.1.0"

# The Python API (light to import: TensorFlow loads when a model is built).
from sweep.errors import UsageError  # noqa: E402
from sweep.interface.api import SweepFailed, SweepResult, run  # noqa: E402

__all__ = ["SweepFailed", "SweepResult", "UsageError", "__version__", "run"]
