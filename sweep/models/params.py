"""The CNN family as a flat parameter dict: validation, shape arithmetic, parameter count, baselines.

Every model this tool trains is one point of this family:

    input → [flip, shift and rotation, in training only]
          → conv_blocks × (convs_per_block × (Conv2D → [BatchNorm] → ReLU) → [MaxPool 2×2])
          → Flatten or GlobalAveragePooling → [Dense(dense_units) → [BatchNorm] → ReLU]
          → [Dropout] → Dense(classes)

trained with Adam (AdamW when ``weight_decay`` > 0), a constant learning rate or one that warms
up and then decays along a cosine, and cross-entropy with optional label smoothing.

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
SCHEDULES = ("constant", "cosine", "one_cycle")
# Share of the training steps over which each schedule warms up from 4 % of the peak learning
# rate: a short warm-up for the cosine, the long one of Smith's one-cycle policy.
WARMUP = {"constant": 0.0, "cosine": 0.05, "one_cycle": 0.3}
WARMUP_START = 0.04


@dataclass(frozen=True)
class ParamSpec:
    """What one parameter may hold: its Python type and, for numbers, the allowed range."""

    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    low_inclusive: bool = True
    help: str = ""
    # The value of a parameter a dict leaves out; None: it must be given. Parameters added to
    # the family later have one that builds what the family built before them, so the
    # parameters recorded by older studies still describe the same models.
    default: Any = None

    def check(self, name: str, value: Any) -> None:
        """Raise UsageError if ``value`` is not a valid value of parameter ``name``."""
        if not is_kind(value, self.kind):
            raise UsageError(f"parameter '{name}': {value!r} is not {_KIND_NAMES[self.kind]} ({self.help})")
        if self.choices is not None and value not in self.choices:
            raise UsageError(f"parameter '{name}': {value!r} is not one of {', '.join(map(str, self.choices))}")
        too_low = self.low is not None and (value < self.low if self.low_inclusive else value <= self.low)
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
    "conv_blocks": ParamSpec(int, 1, MAX_BLOCKS, help="number of conv blocks (each pooled but the last)"),
    **{f"filters_{k}": ParamSpec(int, 1, 1024, help=f"filters of conv block {k}") for k in range(1, MAX_BLOCKS + 1)},
    "convs_per_block": ParamSpec(int, 1, 3, default=1, help="Conv2D layers in each block"),
    "kernel_size": ParamSpec(int, 1, 11, help="side of the square conv kernel"),
    "padding": ParamSpec(str, choices=("valid", "same"), help="'valid' shrinks each conv output"),
    "pool_last": ParamSpec(bool, help="max-pool after the last conv block too"),
    "batch_norm": ParamSpec(bool, help="BatchNormalization after every conv"),
    "head": ParamSpec(
        str,
        choices=("flatten", "gap"),
        default="flatten",
        help="'gap' averages each feature map (global average pooling) instead of flattening",
    ),
    "dense_units": ParamSpec(int, 0, 8192, help="units of the hidden dense layer (0: none)"),
    "dropout": ParamSpec(float, 0.0, 0.9, help="dropout rate before the output layer"),
    "augment": ParamSpec(float, 0.0, 0.5, help="random shift (fraction of the side) and rotation (augment/4 turn)"),
    "flip": ParamSpec(bool, default=False, help="random horizontal flips in training"),
    "learning_rate": ParamSpec(float, 0.0, 1.0, low_inclusive=False, help="peak learning rate of Adam or AdamW"),
    "lr_schedule": ParamSpec(
        str,
        choices=SCHEDULES,
        help="'cosine' and 'one_cycle' warm up (5 % and 30 % of the steps), then decay along a cosine to 0",
    ),
    "weight_decay": ParamSpec(float, 0.0, 1.0, default=0.0, help="AdamW's decoupled weight decay (0: Adam)"),
    "label_smoothing": ParamSpec(float, 0.0, 0.5, default=0.0, help="share of each label spread over all classes"),
    "batch_size": ParamSpec(int, 1, 65536, help="images per gradient step"),
    "epochs": ParamSpec(int, 1, 1000, help="passes over the training set"),
    "logits": ParamSpec(bool, help="output logits instead of softmax probabilities"),
}

# The MNIST notebook: Conv32-Pool-Conv64-Pool-Dense128, Adam, 5 epochs (225,034 parameters).
MNIST_BASELINE: dict[str, Any] = {
    "conv_blocks": 2,
    "filters_1": 32,
    "filters_2": 64,
    "convs_per_block": 1,
    "kernel_size": 3,
    "padding": "valid",
    "pool_last": True,
    "batch_norm": False,
    "head": "flatten",
    "dense_units": 128,
    "dropout": 0.0,
    "augment": 0.0,
    "flip": False,
    "learning_rate": 1e-3,
    "lr_schedule": "constant",
    "weight_decay": 0.0,
    "label_smoothing": 0.0,
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
class Training:
    """How a model trains, for sweep's CNNs and a user's models alike (:mod:`sweep.models.build`)."""

    learning_rate: float
    lr_schedule: str
    weight_decay: float
    label_smoothing: float
    batch_size: int
    epochs: int

    @property
    def warmup(self) -> float:
        """Share of the training steps spent warming the learning rate up."""
        return WARMUP[self.lr_schedule]


@dataclass(frozen=True)
class Architecture(Training):
    """A validated point of the CNN family (see the module docstring)."""

    conv_blocks: int
    filters: tuple[int, ...]
    convs_per_block: int
    kernel_size: int
    padding: str
    pool_last: bool
    batch_norm: bool
    head: str
    dense_units: int
    dropout: float
    augment: float
    flip: bool
    logits: bool

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Architecture:
        """Validate a flat parameter dict (baseline merged with sampled values); parameters
        with a default may be left out."""
        unknown = sorted(set(params) - set(SPECS))
        if unknown:
            raise UsageError(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(SPECS)}")
        for name, value in params.items():
            SPECS[name].check(name, value)
        missing = [
            name
            for name, spec in SPECS.items()
            if not name.startswith("filters_") and spec.default is None and name not in params
        ]
        if missing or "filters_1" not in params:
            raise UsageError(f"missing parameter(s): {', '.join(missing or ['filters_1'])}")
        full = {**{name: spec.default for name, spec in SPECS.items() if spec.default is not None}, **params}
        filters: list[int] = []
        for k in range(1, full["conv_blocks"] + 1):
            filters.append(full.get(f"filters_{k}", filters[-1] if filters else 0))
        floats = ("dropout", "augment", "learning_rate", "weight_decay", "label_smoothing")
        fields = {name: full[name] for name in cls.__dataclass_fields__ if name != "filters"}
        return cls(filters=tuple(filters), **{**fields, **{name: float(full[name]) for name in floats}})

    def pooled(self, block: int) -> bool:
        """Whether conv block ``block`` (0-based) is followed by a 2×2 max-pool."""
        return block < self.conv_blocks - 1 or self.pool_last

    def feature_maps(self, input_shape: tuple[int, int, int]) -> list[tuple[int, int, int]]:
        """(height, width, channels) after each conv block, pooling included."""
        convs = self._conv_shapes(input_shape)
        maps = []
        for block in range(self.conv_blocks):
            height, width, _, filters = convs[(block + 1) * self.convs_per_block - 1]
            if self.pooled(block):
                height, width = height // 2, width // 2
            maps.append((height, width, filters))
        return maps

    def check_fits(self, input_shape: tuple[int, int, int]) -> None:
        """Raise UsageError when the conv stack shrinks the input to nothing (a block's last
        conv leaves its smallest map, so checking each block's output covers every conv)."""
        for block, (height, width, _) in enumerate(self.feature_maps(input_shape), start=1):
            if height < 1 or width < 1:
                raise UsageError(
                    f"architecture does not fit {input_shape[0]}×{input_shape[1]} images: "
                    f"conv block {block} of {self.conv_blocks} (kernel {self.kernel_size}, "
                    f"padding {self.padding}, {self.convs_per_block} conv(s) per block) leaves "
                    "no pixels; use fewer conv_blocks, a smaller kernel_size or padding: same"
                )

    def _head_inputs(self, input_shape: tuple[int, int, int]) -> int:
        """Values the head receives: the flattened last map, or one per channel after GAP."""
        height, width, channels = self.feature_maps(input_shape)[-1]
        return channels if self.head == "gap" else height * width * channels

    def _conv_shapes(self, input_shape: tuple[int, int, int]) -> list[tuple[int, int, int, int]]:
        """(output height, output width, input channels, filters) of every Conv2D, in order."""
        shrink = self.kernel_size - 1 if self.padding == "valid" else 0
        height, width, channels = input_shape
        shapes = []
        for block, filters in enumerate(self.filters):
            for _ in range(self.convs_per_block):
                height, width = height - shrink, width - shrink
                shapes.append((height, width, channels, filters))
                channels = filters
            if self.pooled(block):
                height, width = height // 2, width // 2
        return shapes

    def _dense_shapes(self, input_shape: tuple[int, int, int], num_classes: int) -> list[tuple[int, int]]:
        """(inputs, units) of every Dense layer: the hidden one, if any, then the output."""
        inputs = self._head_inputs(input_shape)
        if self.dense_units == 0:
            return [(inputs, num_classes)]
        return [(inputs, self.dense_units), (self.dense_units, num_classes)]

    def param_count(self, input_shape: tuple[int, int, int], num_classes: int) -> int:
        """Number of weights Keras will report for this model (trainable and not)."""
        self.check_fits(input_shape)
        count = 0
        for _, _, channels, filters in self._conv_shapes(input_shape):
            count += self.kernel_size**2 * channels * filters
            # A conv followed by batch norm has no bias (beta does its job); batch norm keeps
            # gamma, beta, a moving mean and a moving variance per filter.
            count += 4 * filters if self.batch_norm else filters
        dense = self._dense_shapes(input_shape, num_classes)
        for inputs, units in dense[:-1]:  # the hidden layer: normalised like the convs
            count += inputs * units + (4 * units if self.batch_norm else units)
        inputs, units = dense[-1]
        return count + inputs * units + units

    def training_flops(self, input_shape: tuple[int, int, int], num_classes: int) -> int:
        """Floating-point operations to train on one image: the compute floor of a trial.

        Counts the multiply-adds of the conv and dense layers (2 FLOPs each) three times:
        forward, gradient of the weights, and gradient of the inputs, which the first layer
        does not need. Pooling, activations and batch norm are a few percent and left out.
        """
        self.check_fits(input_shape)
        macs = [
            height * width * self.kernel_size**2 * channels * filters
            for height, width, channels, filters in self._conv_shapes(input_shape)
        ]
        macs += [inputs * units for inputs, units in self._dense_shapes(input_shape, num_classes)]
        return 2 * (3 * sum(macs) - macs[0])


def param_count_or_inf(params: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> float:
    """The parameter count of the architecture ``params`` describes, or infinity where it does
    not fit the images: for searches of the smallest model, or the largest under a limit."""
    try:
        return Architecture.from_params(params).param_count(input_shape, num_classes)
    except UsageError:
        return math.inf


def steps_per_epoch(images: int, batch_size: int) -> int:
    """Gradient steps in one pass over ``images`` (the last batch may be short)."""
    return max(1, math.ceil(images / batch_size))


def stop_step(epochs: float, steps_per_epoch: int, every: int) -> int:
    """The step a run of ``epochs`` (a fraction allowed) stops at: the end of its last whole
    epoch and as many whole calls of ``every`` batches of the next as the fraction holds, since
    Keras asks its callbacks once a call (sweep.models.build.STEPS_PER_EXECUTION). With
    ``every`` at least ``steps_per_epoch``, whole epochs only."""
    whole = math.floor(epochs)
    inside = int((epochs - whole) * steps_per_epoch + 1e-6) // every * every  # 3.3 - 3 is 0.29999...
    return whole * steps_per_epoch + min(inside, steps_per_epoch)


def epochs_in_time(most: int, done: float, epoch_seconds: float, seconds_left: float) -> float:
    """The epochs, a fraction allowed, a run ends with where ``done`` of ``epoch_seconds`` each
    are done and ``seconds_left`` remain: between ``done`` and ``most``."""
    return min(float(most), done + max(seconds_left, 0.0) / max(epoch_seconds, 1e-9))


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
