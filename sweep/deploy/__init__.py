"""What a model costs where it is deployed, and the limits a sweep is held to.

- ``constraints``: ``MAX_PARAMS``, ``MAX_SIZE_KB``, ``MAX_LATENCY_MS`` as pure functions.
- ``deployment``: a model"s TensorFlow Lite files and latency, measured the same way for every trial.
"""

# The modules other rooms may import; any other module here is private to this package.
__all__ = ["constraints", "deployment"]
