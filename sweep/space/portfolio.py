"""Starting points that are good on most small image datasets: the same few for every space.

A sampler knows nothing about a dataset before its first trials, and a sweep of a few dozen
trials cannot afford many bad ones. So a space may ask (``portfolio: true``) for these
configurations to run in full right after the baseline, before anything is sampled, as
AutoGluon's and Auto-sklearn 2.0's zero-shot portfolios do. They were chosen on no single
dataset: each is small-CNN practice (batch norm, a warm-up and a cosine decay, AdamW, label
smoothing, shifts and rotations), and the pair was chosen from seven candidates by a rule fixed
in advance, on validation data of four datasets only (``make bench BENCH=portfolio``, see
docs/portfolio.md).

What they take from the data is its shape, not its content: how many conv blocks the images
have room for, how many epochs the training split needs (``scale: data``), whether horizontal
flips suit it (:func:`mirror_symmetric`), and a hidden layer no narrower than the classes. Each
point is then projected onto the space: a parameter the space does not search is left out (it
keeps the baseline's value), and a value outside its range is moved to the nearest one allowed.
Under a limit on the parameter count (``MAX_PARAMS``, or ``MAX_SIZE_KB``'s floor), a point too
large for it is narrowed to fit (:func:`fit`) rather than dropped.

No TensorFlow here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from sweep.models.params import Architecture, param_count_or_inf
from sweep.space.spaces import SearchSpace, data_scale

# Flips suit a dataset whose classes look the same mirrored: each class's mean image then
# nearly equals its mirror image. On MNIST the median class differs from its mirror by 0.63 of
# its own contrast; on MNIST with every image flipped at random, by 0.02-0.16 (5,000 down to
# 100 images per class).
MIRROR_ASYMMETRY = 0.35

# A smaller training split also takes smaller batches, by the factor its epochs grow (to a power
# of two, at least MIN_BATCH): in few images an epoch is few steps. `small` on MNIST 1k, 282
# epochs, scored on the other 59,000 training images: batch 32 0.9842 against 128's 0.9835 (4
# seeds, each ahead), 64 0.9841 (2); on MNIST 10k batch 64 0.9943 against 0.9940 (2 seeds); on
# digits' folds 32 0.9944 against 0.9937 (2). The shipped spaces' smallest batch is 64.
MIN_BATCH = 32


@dataclass(frozen=True)
class Start:
    """One starting point: its name on the leaderboard and its parameters for large images
    (28×28 and up) and REFERENCE_IMAGES training images."""

    name: str
    params: Mapping[str, Any]


# Shared by every member: batch norm after every conv, a warm-up then a cosine decay, AdamW,
# label smoothing, small shifts and rotations, and flips where the images allow them.
_COMMON: dict[str, Any] = {
    "padding": "same",
    "batch_norm": True,
    "pool_last": True,
    "kernel_size": 3,
    "weight_decay": 0.05,
    "label_smoothing": 0.1,
    "flip": True,
    "logits": False,
    "batch_size": 128,
}

_SMALL = Start(
    # Three blocks of one convolution and a dense layer: cheap, and good everywhere.
    "small",
    {
        **_COMMON,
        "conv_blocks": 3,
        "filters_1": 32,
        "filters_2": 64,
        "filters_3": 128,
        "convs_per_block": 1,
        "head": "flatten",
        "dense_units": 128,
        "dropout": 0.3,
        "augment": 0.05,
        "learning_rate": 3e-3,
        "lr_schedule": "one_cycle",
        "epochs": 20,
    },
)

# The portfolio: `small` first (the best of the cheap candidates), then the candidate that
# added most to it, on validation data only (``make bench BENCH=portfolio``, docs/portfolio.md):
# two blocks of two convolutions and a wide dense layer, small's recipe otherwise. About twice
# small's cost; clearly better than it where backgrounds fill the image (RGB digits).
PORTFOLIO: tuple[Start, ...] = (
    _SMALL,
    Start(
        "double",
        {
            **{key: value for key, value in _SMALL.params.items() if key != "filters_3"},
            "conv_blocks": 2,
            "convs_per_block": 2,
            "dense_units": 256,
        },
    ),
)

# Under a parameter limit or a Pareto objective, `double` cannot be narrowed far (its flattened
# maps feed 256 units: nothing of its shape fits 20,000 weights on MNIST), so there the starting
# points stay `small` and this VGG-style CNN, whose global average pooling narrows well (issue
# 22's pair; not chosen again by BENCH=portfolio, which ranks unconstrained accuracy).
_VGG = Start(
    # VGG-style: two convolutions a block, global average pooling.
    "vgg",
    {
        **_COMMON,
        "conv_blocks": 3,
        "filters_1": 32,
        "filters_2": 64,
        "filters_3": 128,
        "convs_per_block": 2,
        "head": "gap",
        "dense_units": 0,
        "dropout": 0.2,
        "augment": 0.1,
        "learning_rate": 3e-3,
        "lr_schedule": "cosine",
        "epochs": 15,
    },
)
LIMITED: tuple[Start, ...] = (_SMALL, _VGG)


def narrow(point: Mapping[str, Any], blocks: int, width: float, num_classes: int) -> dict[str, Any]:
    """``point`` with its first ``blocks`` conv blocks only, its filters and hidden units
    multiplied by ``width`` (MobileNet's width multiplier; a hidden layer stays at least twice
    as wide as the classes)."""
    narrowed = {key: value for key, value in point.items() if not key.startswith("filters_")}
    narrowed["conv_blocks"] = blocks
    for k in range(1, blocks + 1):
        narrowed[f"filters_{k}"] = max(1, round(point[f"filters_{k}"] * width))
    if point.get("dense_units"):
        narrowed["dense_units"] = max(2 * num_classes, round(point["dense_units"] * width))
    return narrowed


# A Pareto search (OBJECTIVE=latency or size) starts from cheaper points first, cheapest first,
# so that the front spans a range of costs from the start: a two-block CNN with no dense layer,
# then the small member scaled down in depth and width (EfficientNet's compound scaling, run
# downwards; MobileNet's width multiplier). On MNIST: 5,000 to 420,000 weights, and 1.0 to 4.2
# million multiply-adds per image against the small member's 7.5 million.
LADDER: tuple[Start, ...] = (
    Start(
        "tiny",
        {
            **PORTFOLIO[0].params,
            "conv_blocks": 2,
            "filters_1": 16,
            "filters_2": 32,
            "head": "gap",
            "dense_units": 0,
            "dropout": 0.1,
        },
    ),
    Start("small-shallow-half", narrow(PORTFOLIO[0].params, 2, 0.5, 0)),
    Start("small-half", narrow(PORTFOLIO[0].params, 3, 0.5, 0)),
    Start("small-shallow", narrow(PORTFOLIO[0].params, 2, 1.0, 0)),
)


def mirror_symmetric(x: np.ndarray, y: np.ndarray) -> bool:
    """Whether the classes of images ``x`` (n, h, w, c) with labels ``y`` look alike mirrored
    (see MIRROR_ASYMMETRY): the median over classes of |mean − mirrored mean| / contrast."""
    asymmetry = []
    for label in np.unique(y):
        mean = x[y == label].mean(axis=0, dtype=np.float64)
        contrast = np.linalg.norm(mean - mean.mean())
        asymmetry.append(np.linalg.norm(mean - mean[:, ::-1]) / contrast if contrast > 0 else 0.0)
    return bool(np.median(asymmetry) < MIRROR_ASYMMETRY)


def adapt(
    params: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int, train_images: int, symmetric: bool
) -> dict[str, Any]:
    """A member's parameters for this data: as many of its conv blocks as the images have room
    for (down to 2×2 maps, at least one block), epochs scaled like ``scale: data`` ranges and
    the batch by the same factor the other way (:data:`MIN_BATCH`), flips only where the images
    are mirror-symmetric, a hidden layer at least twice as wide as the classes."""
    point = dict(params)
    while point["conv_blocks"] > 1 and min(Architecture.from_params(point).feature_maps(input_shape)[-1][:2]) < 2:
        point["conv_blocks"] -= 1
    for k in range(point["conv_blocks"] + 1, 7):
        point.pop(f"filters_{k}", None)
    scale = data_scale(train_images)
    point["epochs"] = max(1, round(point["epochs"] * scale))
    point["batch_size"] = min(point["batch_size"], max(MIN_BATCH, 2 ** round(math.log2(point["batch_size"] / scale))))
    point["flip"] = bool(point.get("flip")) and symmetric
    if point.get("dense_units"):
        point["dense_units"] = max(point["dense_units"], 2 * num_classes)
    return point


def project(point: Mapping[str, Any], space: SearchSpace) -> dict[str, Any]:
    """The values of ``point`` that ``space`` searches, each moved to the nearest value its
    distribution allows (a categorical value it lacks is left out: the sampler picks one)."""
    projected = {}
    for name, dist in space.distributions.items():
        if name in point:
            value = _nearest(dist, point[name])
            if value is not None:
                projected[name] = value
    return projected


def _nearest(dist: BaseDistribution, value: Any) -> Any:
    """The value of ``dist`` closest to ``value`` (None for a categorical that lacks it and has
    no numbers to compare)."""
    if isinstance(dist, CategoricalDistribution):
        if value in dist.choices:
            return value
        numbers = [c for c in dist.choices if isinstance(c, (int, float)) and not isinstance(c, bool)]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not numbers:
            return None
        return min(numbers, key=lambda choice: abs(choice - value))
    assert isinstance(dist, (IntDistribution, FloatDistribution))
    clipped = min(max(value, dist.low), dist.high)
    if dist.step is not None:  # on the step's grid, without 0.30000000000000004
        clipped = min(round(dist.low + round((clipped - dist.low) / dist.step) * dist.step, 12), dist.high)
    return int(round(clipped)) if isinstance(dist, IntDistribution) else float(clipped)


# The suffix of a starting point's name once :func:`fit` has narrowed it.
FITTED = "-fit"
# Width multipliers tried by :func:`fit`, widest first: steps of 2^(-1/4), down to a sixteenth.
WIDTHS = tuple(2 ** (-k / 4) for k in range(17))


def fit(
    point: Mapping[str, Any],
    space: SearchSpace,
    baseline: Mapping[str, Any],
    input_shape: tuple[int, int, int],
    num_classes: int,
    max_params: int,
) -> dict[str, Any] | None:
    """The largest model, in parameters, of ``point`` narrowed (fewer conv blocks, narrower
    layers: :func:`narrow`) and projected onto ``space`` that has at most ``max_params``
    parameters; None when none has. Depth and width are all it changes: the recipe (batch norm,
    head, schedule, augmentation) is what makes the point good."""

    best, most = None, -1.0
    for blocks in range(point["conv_blocks"], 0, -1):
        for width in WIDTHS:
            candidate = project(narrow(point, blocks, width, num_classes), space)
            if candidate.get("conv_blocks", blocks) != blocks:
                break  # the space has no model this shallow
            size = param_count_or_inf({**baseline, **candidate}, input_shape, num_classes)
            if size <= max_params:
                if size > most:
                    best, most = candidate, size
                break  # narrower is smaller still
    return best


def starting_points(
    space: SearchSpace,
    input_shape: tuple[int, int, int],
    num_classes: int,
    train_images: int,
    symmetric: bool,
    ladder: bool = False,
    fit_to: tuple[Mapping[str, Any], int] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """The portfolio for this data (LIMITED after the cheaper LADDER, for a Pareto search),
    projected onto ``space``: (name, point) pairs, without points that project onto one already
    listed. With ``fit_to`` (the baseline, a parameter limit), the LIMITED points are each
    narrowed to fit the limit (:func:`fit`, named '<name>-fit'), or dropped where nothing fits."""
    points: list[tuple[str, dict[str, Any]]] = []
    for start in (LADDER + LIMITED) if ladder else (LIMITED if fit_to is not None else PORTFOLIO):
        adapted = adapt(start.params, input_shape, num_classes, train_images, symmetric)
        name, point = start.name, project(adapted, space)
        if fit_to is not None:
            baseline, max_params = fit_to
            fitted = fit(adapted, space, baseline, input_shape, num_classes, max_params)
            if fitted is None:
                continue
            if fitted != point:
                name, point = start.name + FITTED, fitted
        if point and all(point != other for _, other in points):
            points.append((name, point))
    return points
