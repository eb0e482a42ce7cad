"""``make bench``: measurements of sweep, side by side on one machine; never run by the tests.

``python -m bench NAME`` (from the repository's root) runs one; see ``bench/__main__.py``.
Outside the ``sweep`` package: nothing here ships with the tool.
"""
