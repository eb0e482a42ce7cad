"""Choosing among trials: their records, how sure a score is, rankings and the Pareto front.
Pure functions of Optuna"s trial records and NumPy; no TensorFlow.

- ``trials``: the one owner of what sweep records on a trial (``user_attrs``), and queries over them.
- ``stats``: 95 % intervals, paired comparisons, the one interval formatter.
- ``pareto``: accuracy against a deployment cost, the front.
- ``leaderboard``: trials as a ranked table and its CSV; the cross-dataset summary.
"""

# The modules other rooms may import; any other module here is private to this package.
__all__ = ["trials", "stats", "pareto", "leaderboard"]
