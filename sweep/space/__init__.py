"""Search spaces: YAML text → Optuna distributions, and the starting points every space begins
with. Pure functions, no TensorFlow; tested with tables and no training.

- ``distributions``: one parameter"s range → its Optuna distribution.
- ``spaces``: a whole file → a validated ``SearchSpace``; the shipped files in ``search_spaces/``.
- ``portfolio``: the starting points tried before the sampler"s own proposals.
"""

# The modules other rooms may import; any other module here is private to this package.
__all__ = ["distributions", "spaces", "portfolio"]
