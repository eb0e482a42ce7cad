"""What each command does, from its settings to the files it writes.

- ``sweep``: ``sweep sweep``, from settings to the final model.
- ``baseline``: ``sweep baseline``, the notebooks" four stages for a dataset"s baseline CNN.
- ``retrain``: the answer retrained on train + validation and tested once (``sweep retrain``).
- ``ensemble``: an answer of several models trained side by side, averaged (``SWEEP_MEMBERS``).
- ``export``: ``sweep export``, the best model in the format a deployment needs.
- ``tools``: the small commands: ``spaces``, ``leaderboard``, ``report``, ``predict``, ``dashboard``.
"""

# The modules other rooms may import; any other module here is private to this package.
__all__ = ["sweep", "baseline", "retrain", "ensemble", "export", "tools"]
