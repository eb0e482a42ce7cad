"""Results for people: figures with labelled axes and class names, and the HTML report.

- ``plots``: sample grids, learning curves, confusion matrices, study plots.
- ``report``: ``results/<dataset>/report.html``, one self-contained page about a sweep.
"""

# The modules other rooms may import; any other module here is private to this package.
__all__ = ["plots", "report"]
