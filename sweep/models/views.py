"""Test-time augmentation: the answer predicts the mean of its class probabilities over a few
views of each image, the image itself and the image moved by one pixel up, down, left and right.

A model trained on random shifts has learnt that a digit moved by a pixel is the same digit,
yet each view errs differently near its decision boundary, so their mean errs less, as an
ensemble's does, at the cost of one forward pass per view and no training. Measured on
validation data only (``make bench BENCH=views``, docs/benchmarks.md): where the rule below
applies, the views gained on every dataset and starting point there (+0.0001 to +0.0022); on
8×8 digits, where it does not, they lost (-0.0017 and -0.0028).

The rule, fixed in advance: views only where the model trained on shifts of at least one
pixel (``augment`` × the image's side): a view it never saw in training may do worse (on
scikit-learn's 8×8 digits a 5 % shift is 0.4 pixels). None under deployment limits or a
Pareto objective, which are one forward pass's (views multiply the latency), nor for a user's
own model, whose training sweep does not know. ``SWEEP_VIEWS=1`` keeps one view. Shifted
pixels are filled with 0, as the training shifts fill them.

No TensorFlow here (the model that averages the views is :func:`sweep.models.build.with_views`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# (rows, columns) each view moves the image by: positive is down or right.
SHIFTS: tuple[tuple[int, int], ...] = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))


def most_views(limits: Mapping[str, Any], objective: str, own_model: bool = False, asked: int | None = None) -> int:
    """How many views a sweep's answer may predict over: ``asked`` (SWEEP_VIEWS; None: every
    one of :data:`SHIFTS`), or one under deployment limits, a Pareto ``objective`` or the
    user's model function (``own_model``)."""
    if own_model or objective != "accuracy" or any(limits.values()):
        return 1
    return min(asked or len(SHIFTS), len(SHIFTS))


def views_for(params: Mapping[str, Any], input_shape: tuple[int, int, int], most: int) -> tuple[tuple[int, int], ...]:
    """The shifts the answer of ``params`` predicts over: the first ``most`` of :data:`SHIFTS`
    (:func:`most_views`) where it trained on shifts of at least one pixel, else only (0, 0)."""
    side = min(input_shape[:2])
    if most < 2 or side < 3 or float(params.get("augment") or 0.0) * side < 1:
        return SHIFTS[:1]
    return SHIFTS[:most]
