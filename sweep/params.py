"""The CNN family as a flat parameter dict: validation, shape arithmetic, parameter count, baselines.

Every model this tool trains is one point of this family:

    input → [augmentation] → conv_blocks × (Conv2D → [BatchNorm] → ReLU → [MaxPool 2×2])
          → Flatten → Dense(dense_units, ReLU) → [Dropout] → Dense(classes)

Every block is followed by a 2×2 max-pool except the last, which is pooled only when
``pool_last`` is true (the MNIST notebook pools after its last conv, the CIFAR-10 one does not).
Blocks beyond the last ``filters_k`` given repeat its value, so a search over ``conv_blocks``
does not need a filters parameter per possible block.

Nothing here imports TensorFlow: the search-space checker and the tests use the shape arithmetic
and :func:`param_count` to reject architectures that cannot fit before any model is built.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sweep.errors import UsageError

MAX_BLOCKS = 6


@dataclass(frozen=True)
class ParamSpec:
    """What one parameter may hold: its Python type and, for numbers, the allowed range."""

    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    low_inclusive: bool = True
    help: str = ""

    def check(self, name: str, value: Any) -> None:
        """Raise UsageError if ``value`` is not a valid value of parameter ``name``."""
        if not is_kind(value, self.kind):
            raise UsageError(
                f"parameter '{name}': {value!r} is not {_KIND_NAMES[self.kind]} ({self.help})"
            )
        if self.choices is not None and value not in self.choices:
            raise UsageError(
                f"parameter '{name}': {value!r} is not one of {', '.join(map(str, self.choices))}"
            )
        too_low = self.low is not None and (
            value < self.low if self.low_inclusive else value <= self.low
        )
        if too_low or (self.high is not None and value > self.high):
            bound = "≥" if self.low_inclusive else ">"
            raise UsageError(
                f"parameter '{name}': {value!r} is out of range "
                f"(needs {bound} {self.low} and ≤ {self.high}; {self.help})"
            )


def is_kind(value: Any, kind: type) -> bool:
    """Whether ``value`` is a ``kind``; ints count as floats, bools never count as numbers."""
    # bool is a subclass of int, but `filters_1: true` in a YAML file is a typo, not 1 filter.
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


_KIND_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "text"}

SPECS: dict[str, ParamSpec] = {
    "conv_blocks": ParamSpec(int, 1, MAX_BLOCKS, help="number of Conv2D layers"),
    **{
        f"filters_{k}": ParamSpec(int, 1, 1024, help=f"filters of conv block {k}")
        for k in range(1, MAX_BLOCKS + 1)
    },
    "kernel_size": ParamSpec(int, 1, 11, help="side of the square conv kernel"),
    "padding": ParamSpec(str, choices=("valid", "same"), help="'valid' shrinks each conv output"),
    "pool_last": ParamSpec(bool, help="max-pool after the last conv block too"),
    "batch_norm": ParamSpec(bool, help="BatchNormalization after every conv"),
    "dense_units": ParamSpec(int, 1, 8192, help="units of the hidden dense layer"),
    "dropout": ParamSpec(float, 0.0, 0.9, help="dropout rate before the output layer"),
    "augment": ParamSpec(
        float, 0.0, 0.5, help="random shift (fraction of the side) and rotation (augment/4 turn)"
    ),
    "learning_rate": ParamSpec(float, 0.0, 1.0, low_inclusive=False, help="Adam learning rate"),
    "lr_schedule": ParamSpec(
        str, choices=("constant", "cosine"),
        help="'cosine' lowers the learning rate each epoch, to near 0 in the last one",
    ),
    "batch_size": ParamSpec(int, 1, 65536, help="images per gradient step"),
    "epochs": ParamSpec(int, 1, 1000, help="passes over the training set"),
    "logits": ParamSpec(bool, help="output logits instead of softmax probabilities"),
}

# The MNIST notebook: Conv32-Pool-Conv64-Pool-Dense128, Adam, 5 epochs (225,034 parameters).
MNIST_BASELINE: dict[str, Any] = {
    "conv_blocks": 2,
    "filters_1": 32,
    "filters_2": 64,
    "kernel_size": 3,
    "padding": "valid",
    "pool_last": True,
    "batch_norm": False,
    "dense_units": 128,
    "dropout": 0.0,
    "augment": 0.0,
    "learning_rate": 1e-3,
    "lr_schedule": "constant",
    "batch_size": 32,
    "epochs": 5,
    "logits": False,
}

BASELINES: dict[str, dict[str, Any]] = {
    "mnist": MNIST_BASELINE,
    "fashion_mnist": MNIST_BASELINE,
    # The CIFAR-10 notebook: Conv32-Pool-Conv64-Pool-Conv64-Dense64, logits, 1 epoch (122,570).
    "cifar10": {
        **MNIST_BASELINE,
        "conv_blocks": 3,
        "filters_3": 64,
        "pool_last": False,
        "dense_units": 64,
        "epochs": 1,
        "logits": True,
    },
    # 8×8 images: 'same' padding keeps two conv/pool blocks inside the image (8 → 4 → 2); the
    # 1,437 training images need more epochs than MNIST's 60,000 to converge.
    "digits": {**MNIST_BASELINE, "padding": "same", "epochs": 20},
}


@dataclass(frozen=True)
class Architecture:
    """A validated point of the CNN family (see the module docstring)."""

    conv_blocks: int
    filters: tuple[int, ...]
    kernel_size: int
    padding: str
    pool_last: bool
    batch_norm: bool
    dense_units: int
    dropout: float
    augment: float
    learning_rate: float
    lr_schedule: str
    batch_size: int
    epochs: int
    logits: bool

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Architecture:
        """Validate a complete flat parameter dict (baseline merged with sampled values)."""
        unknown = sorted(set(params) - set(SPECS))
        if unknown:
            raise UsageError(
                f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(SPECS)}"
            )
        for name, value in params.items():
            SPECS[name].check(name, value)
        missing = [
            name for name in SPECS if not name.startswith("filters_") and name not in params
        ]
        if missing or "filters_1" not in params:
            raise UsageError(f"missing parameter(s): {', '.join(missing or ['filters_1'])}")
        filters: list[int] = []
        for k in range(1, params["conv_blocks"] + 1):
            filters.append(params.get(f"filters_{k}", filters[-1] if filters else 0))
        return cls(
            conv_blocks=params["conv_blocks"],
            filters=tuple(filters),
            kernel_size=params["kernel_size"],
            padding=params["padding"],
            pool_last=params["pool_last"],
            batch_norm=params["batch_norm"],
            dense_units=params["dense_units"],
            dropout=float(params["dropout"]),
            augment=float(params["augment"]),
            learning_rate=float(params["learning_rate"]),
            lr_schedule=params["lr_schedule"],
            batch_size=params["batch_size"],
            epochs=params["epochs"],
            logits=params["logits"],
        )

    def epoch_learning_rate(self, epoch: int) -> float:
        """Adam's learning rate in 0-based ``epoch``: constant, or a cosine over ``epochs``.

        The cosine is sampled at the middle of each epoch, so the last epoch still learns.
        """
        if self.lr_schedule == "constant":
            return self.learning_rate
        progress = min(epoch + 0.5, self.epochs) / self.epochs
        return self.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))

    def pooled(self, block: int) -> bool:
        """Whether conv block ``block`` (0-based) is followed by a 2×2 max-pool."""
        return block < self.conv_blocks - 1 or self.pool_last

    def feature_maps(self, input_shape: tuple[int, int, int]) -> list[tuple[int, int, int]]:
        """(height, width, channels) after each conv block, pooling included."""
        height, width, _ = input_shape
        shrink = self.kernel_size - 1 if self.padding == "valid" else 0
        sizes = []
        for block, filters in enumerate(self.filters):
            height, width = height - shrink, width - shrink
            if self.pooled(block):
                height, width = height // 2, width // 2
            sizes.append((height, width, filters))
        return sizes

    def check_fits(self, input_shape: tuple[int, int, int]) -> None:
        """Raise UsageError when the conv stack shrinks the input to nothing."""
        for block, (height, width, _) in enumerate(self.feature_maps(input_shape), start=1):
            if height < 1 or width < 1:
                raise UsageError(
                    f"architecture does not fit {input_shape[0]}×{input_shape[1]} images: "
                    f"conv block {block} of {self.conv_blocks} (kernel {self.kernel_size}, "
                    f"padding {self.padding}) leaves no pixels; use fewer conv_blocks, "
                    "a smaller kernel_size or padding: same"
                )

    def param_count(self, input_shape: tuple[int, int, int], num_classes: int) -> int:
        """Number of weights Keras will report for this model (trainable and not)."""
        self.check_fits(input_shape)
        count, channels = 0, input_shape[2]
        for filters in self.filters:
            count += self.kernel_size**2 * channels * filters + filters
            if self.batch_norm:
                count += 4 * filters  # gamma, beta, moving mean, moving variance
            channels = filters
        height, width, channels = self.feature_maps(input_shape)[-1]
        flat = height * width * channels
        count += flat * self.dense_units + self.dense_units
        count += self.dense_units * num_classes + num_classes
        return count

    def training_flops(self, input_shape: tuple[int, int, int], num_classes: int) -> int:
        """Floating-point operations to train on one image: the compute floor of a trial.

        Counts the multiply-adds of the conv and dense layers (2 FLOPs each) three times:
        forward, gradient of the weights, and gradient of the inputs, which the first layer
        does not need. Pooling, activations and batch norm are a few percent and left out.
        """
        self.check_fits(input_shape)
        shrink = self.kernel_size - 1 if self.padding == "valid" else 0
        height, width, channels = input_shape
        macs = []
        for out_h, out_w, filters in self.feature_maps(input_shape):
            height, width = height - shrink, width - shrink  # conv output, before pooling
            macs.append(height * width * self.kernel_size**2 * channels * filters)
            height, width, channels = out_h, out_w, filters
        macs.append(height * width * channels * self.dense_units)
        macs.append(self.dense_units * num_classes)
        return 2 * (3 * sum(macs) - macs[0])


def unused_params(params: Mapping[str, Any]) -> set[str]:
    """The ``filters_k`` of ``params`` for blocks beyond its ``conv_blocks``: they build nothing.

    A search over ``conv_blocks`` samples every block's filters in every trial, so a 2-block
    trial still carries a ``filters_3``; summaries leave it out.
    """
    blocks = params.get("conv_blocks", MAX_BLOCKS)
    return {f"filters_{k}" for k in range(blocks + 1, MAX_BLOCKS + 1)} & set(params)


def baseline_params(dataset: str, input_shape: tuple[int, int, int]) -> dict[str, Any]:
    """The baseline parameter dict of a dataset: its notebook's CNN, or one that fits the input.

    Image folders get the MNIST notebook's CNN, switched to 'same' padding when their images
    are too small for 'valid' convolutions.
    """
    if dataset in BASELINES:
        return dict(BASELINES[dataset])
    params = dict(MNIST_BASELINE)
    try:
        Architecture.from_params(params).check_fits(input_shape)
    except UsageError:
        params["padding"] = "same"
    return params
