"""sweep: hyperparameter sweeps and AutoML for Keras image classifiers, on Optuna."""

__version__ = "0.1.0"
