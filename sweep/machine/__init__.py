"""What this machine computes with: the environment variables sweep reads, its CPU cores and
GPUs, and TensorFlow itself, imported once and quietly.

- ``environment``: every ``SWEEP_*`` variable, read and checked in one place.
- ``devices``: cores, GPUs, workers and precision as plain functions of what the machine has.
- ``backend``: the one place that imports TensorFlow and Keras (lazily: ``load_keras()``).

The lowest room: it imports nothing else of sweep but ``errors``.
"""

# The modules other rooms may import; any other module here is private to this package.
__all__ = ["environment", "devices", "backend"]
