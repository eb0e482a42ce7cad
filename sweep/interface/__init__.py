"""How people reach sweep: the command line and the Python API.

- ``arguments``: the command line"s grammar, with no side effects.
- ``cli``: flags to settings, dispatch, and errors as one line with exit code 2.
- ``api``: ``sweep.run(...)`` and the other Python functions, re-exported by ``sweep``.
"""

# The modules other rooms may import; any other module here is private to this package.
__all__ = ["arguments", "cli", "api"]
