"""Tests for sweep.models.params: validation, shape arithmetic, parameter counts and baselines."""

from __future__ import annotations

from typing import Any

import pytest

from sweep.errors import UsageError
from sweep.models.params import (
    BASELINES,
    MAX_BLOCKS,
    SPECS,
    Architecture,
    baseline_params,
    unused_params,
)

MNIST, CIFAR, DIGITS = (28, 28, 1), (32, 32, 3), (8, 8, 1)


def arch(dataset: str = "mnist", **changes: Any) -> Architecture:
    return Architecture.from_params({**BASELINES[dataset], **changes})


# ---------------------------------------------------------------- the notebooks' baselines


@pytest.mark.parametrize(
    ("dataset", "shape", "count"),
    [
        ("mnist", MNIST, 225_034),
        ("fashion_mnist", MNIST, 225_034),
        ("cifar10", CIFAR, 122_570),
    ],
)
def test_baseline_param_counts_are_the_notebooks(dataset: str, shape, count: int) -> None:
    assert arch(dataset).param_count(shape, 10) == count


@pytest.mark.parametrize(
    ("dataset", "shape", "maps"),
    [
        # Conv32(valid) 28→26, pool 13; Conv64 13→11, pool 5.
        ("mnist", MNIST, [(13, 13, 32), (5, 5, 64)]),
        # 32→30, pool 15; 15→13, pool 6; 6→4, no pool after the last block.
        ("cifar10", CIFAR, [(15, 15, 32), (6, 6, 64), (4, 4, 64)]),
        # 'same' padding: 8 → pool 4 → pool 2.
        ("digits", DIGITS, [(4, 4, 32), (2, 2, 64)]),
    ],
)
def test_baseline_feature_maps(dataset: str, shape, maps) -> None:
    assert arch(dataset).feature_maps(shape) == maps


def test_digits_baseline_fits_8x8() -> None:
    digits = arch("digits")
    digits.check_fits(DIGITS)
    # 2×2×64 flattened = 256 → Dense128 → Dense10.
    assert digits.param_count(DIGITS, 10) == (9 * 32 + 32) + (9 * 32 * 64 + 64) + (256 * 128 + 128) + (128 * 10 + 10)


def test_batch_norm_adds_four_weights_per_unit_and_takes_the_biases() -> None:
    # After every conv and the hidden dense layer (128 units); the output layer keeps its bias.
    plain, normed = arch(), arch(batch_norm=True)
    assert normed.param_count(MNIST, 10) - plain.param_count(MNIST, 10) == (4 - 1) * (32 + 64 + 128)


def test_vgg_style_blocks_a_gap_head_and_no_hidden_layer() -> None:
    # Two 'same' convs a block: 28 → pool 14 → pool 7 → pool 3; GAP: 128 values → Dense10.
    vgg = arch(conv_blocks=3, filters_3=128, convs_per_block=2, padding="same", head="gap", dense_units=0)
    assert vgg.feature_maps(MNIST) == [(14, 14, 32), (7, 7, 64), (3, 3, 128)]
    convs = 9 * (1 * 32 + 32 * 32 + 32 * 64 + 64 * 64 + 64 * 128 + 128 * 128) + 2 * (32 + 64 + 128)
    assert vgg.param_count(MNIST, 10) == convs + 128 * 10 + 10


def test_two_valid_convs_a_block_shrink_twice_before_the_pool() -> None:
    # 28 → 26 → 24, pool 12; 12 → 10 → 8, pool 4.
    assert arch(convs_per_block=2).feature_maps(MNIST) == [(12, 12, 32), (4, 4, 64)]
    with pytest.raises(UsageError, match="2 conv"):
        arch(convs_per_block=2, padding="valid").check_fits(DIGITS)


def test_parameters_added_later_have_defaults_that_build_the_old_models() -> None:
    # A study recorded before convs_per_block, head, flip, weight decay and label smoothing.
    old = {
        k: v
        for k, v in BASELINES["mnist"].items()
        if k not in ("convs_per_block", "head", "flip", "weight_decay", "label_smoothing")
    }
    assert Architecture.from_params(old) == arch()


# MNIST baseline multiply-adds: conv 26²·9·1·32, conv 11²·9·32·64, dense 1600·128, 128·10.
_MNIST_MACS = [26 * 26 * 9 * 32, 11 * 11 * 9 * 32 * 64, 5 * 5 * 64 * 128, 128 * 10]


@pytest.mark.parametrize(
    ("changes", "flops"),
    [
        # Forward, weight gradients and input gradients; the first layer needs no input gradient.
        ({}, 2 * (3 * sum(_MNIST_MACS) - _MNIST_MACS[0])),
        # The figure: 15.4 MFLOP per training image.
        ({}, 15_396_864),
        # 'same' padding keeps 28×28 then 14×14 feature maps before each pool.
        (
            {"padding": "same"},
            2 * (3 * (28 * 28 * 9 * 32 + 14 * 14 * 9 * 32 * 64 + 7 * 7 * 64 * 128 + 1280) - 28 * 28 * 9 * 32),
        ),
    ],
)
def test_training_flops_counts_forward_and_both_gradients(changes: dict[str, Any], flops: int) -> None:
    assert arch(**changes).training_flops(MNIST, 10) == flops


def test_training_flops_rejects_an_architecture_that_does_not_fit() -> None:
    with pytest.raises(UsageError, match="does not fit"):
        arch(conv_blocks=3, filters_3=64).training_flops(DIGITS, 10)


def test_param_count_depends_on_classes() -> None:
    assert arch().param_count(MNIST, 3) == 225_034 - 7 * (128 + 1)


# ---------------------------------------------------------------- architectures that do not fit

NO_FIT = [
    ("mnist-baseline-at-8x8", {}, "mnist", DIGITS, "conv block 2 of 2"),
    ("4-valid-blocks-at-32", {"conv_blocks": 4, "pool_last": True}, "mnist", CIFAR, "conv block 4 of 4"),
    ("cifar-4-valid-blocks", {"conv_blocks": 4}, "cifar10", CIFAR, "conv block 4 of 4"),
    ("kernel-11-at-8x8", {"kernel_size": 11}, "mnist", DIGITS, "conv block 1 of 2"),
    ("6-same-blocks-at-28", {"conv_blocks": 6, "padding": "same"}, "mnist", MNIST, "conv block 5 of 6"),
]


@pytest.mark.parametrize(("changes", "dataset", "shape", "where"), [c[1:] for c in NO_FIT], ids=[c[0] for c in NO_FIT])
def test_architecture_that_does_not_fit(changes, dataset: str, shape, where: str) -> None:
    model = arch(dataset, **changes)
    for check in (lambda: model.check_fits(shape), lambda: model.param_count(shape, 10)):
        with pytest.raises(UsageError, match="does not fit") as caught:
            check()
        assert where in str(caught.value)
        assert f"{shape[0]}×{shape[1]}" in str(caught.value)


# ---------------------------------------------------------------- baseline_params


@pytest.mark.parametrize("dataset", sorted(BASELINES))
def test_builtin_baseline_params_are_a_copy(dataset: str) -> None:
    params = baseline_params(dataset, (1, 1, 1))  # the shape is ignored for built-ins
    assert params == BASELINES[dataset]
    params["epochs"] = 999
    assert BASELINES[dataset]["epochs"] != 999


@pytest.mark.parametrize(
    ("shape", "padding"),
    [
        ((8, 8, 1), "same"),
        ((9, 9, 3), "same"),  # 9 → 7 → 3 → 1 → 0 with valid padding
        ((10, 10, 1), "valid"),  # 10 → 8 → 4 → 2 → 1: the smallest that fits
        ((28, 28, 1), "valid"),
        ((64, 48, 3), "valid"),
    ],
)
def test_image_folder_baseline_padding(shape, padding: str) -> None:
    params = baseline_params("/data/my_images", shape)
    assert params["padding"] == padding
    Architecture.from_params(params).check_fits(shape)


# ---------------------------------------------------------------- from_params validation

BAD_PARAMS = [
    ("unknown-parameter", {"filter_1": 32}, "unknown parameter(s) filter_1"),
    ("bool-for-int", {"conv_blocks": True}, "True is not an integer"),
    ("str-for-int", {"conv_blocks": "3"}, "'3' is not an integer"),
    ("float-for-int", {"filters_1": 1.5}, "1.5 is not an integer"),
    ("int-for-bool", {"batch_norm": 1}, "1 is not true or false"),
    ("bool-for-float", {"dropout": False}, "False is not a number"),
    ("bad-padding", {"padding": "full"}, "'full' is not one of valid, same"),
    ("too-many-blocks", {"conv_blocks": MAX_BLOCKS + 1}, "out of range"),
    ("zero-blocks", {"conv_blocks": 0}, "out of range"),
    ("zero-filters", {"filters_2": 0}, "out of range"),
    ("dropout-too-high", {"dropout": 0.95}, "out of range"),
    ("negative-augment", {"augment": -0.1}, "out of range"),
    ("zero-learning-rate", {"learning_rate": 0.0}, "needs > 0.0"),
    ("zero-epochs", {"epochs": 0}, "out of range"),
    ("unknown-schedule", {"lr_schedule": "step"}, "'step' is not one of constant, cosine"),
]


@pytest.mark.parametrize(("changes", "expected"), [c[1:] for c in BAD_PARAMS], ids=[c[0] for c in BAD_PARAMS])
def test_from_params_rejects(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(UsageError) as caught:
        arch(**changes)
    message = str(caught.value)
    assert expected in message
    name = next(iter(changes))
    assert name in message


@pytest.mark.parametrize("missing", ["epochs", "filters_1", "logits"])
def test_from_params_rejects_missing_parameter(missing: str) -> None:
    params = {k: v for k, v in BASELINES["mnist"].items() if k != missing}
    with pytest.raises(UsageError, match=f"missing parameter.*{missing}"):
        Architecture.from_params(params)


def test_deeper_blocks_repeat_the_last_filters() -> None:
    model = arch(conv_blocks=4, filters_1=16, filters_2=48, padding="same")
    assert model.filters == (16, 48, 48, 48)


def test_extra_filters_beyond_conv_blocks_are_ignored() -> None:
    assert arch(conv_blocks=1, filters_3=256).filters == (32,)


def test_from_params_normalises_numbers() -> None:
    model = arch(dropout=0, augment=0, learning_rate=1)
    assert (model.dropout, model.augment, model.learning_rate) == (0.0, 0.0, 1.0)
    assert all(isinstance(v, float) for v in (model.dropout, model.augment, model.learning_rate))


@pytest.mark.parametrize("dataset", sorted(BASELINES))
def test_every_baseline_is_valid_and_complete(dataset: str) -> None:
    assert set(BASELINES[dataset]) <= set(SPECS)
    assert arch(dataset).conv_blocks == BASELINES[dataset]["conv_blocks"]


def test_pooled() -> None:
    assert [arch().pooled(b) for b in range(2)] == [True, True]
    assert [arch("cifar10").pooled(b) for b in range(3)] == [True, True, False]


@pytest.mark.parametrize(
    ("params", "unused"),
    [
        ({"conv_blocks": 2, "filters_1": 32, "filters_2": 64, "filters_3": 64}, {"filters_3"}),
        ({"conv_blocks": 3, "filters_1": 32, "filters_2": 64, "filters_3": 64}, set()),
        ({"conv_blocks": 1, "filters_1": 8, "filters_2": 16, "filters_4": 4}, {"filters_2", "filters_4"}),
        ({"filters_1": 8, "filters_6": 16}, set()),  # conv_blocks not sampled: nothing to judge by
        ({"conv_blocks": 2, "dropout": 0.1}, set()),
    ],
)
def test_unused_params_are_the_filters_of_blocks_the_trial_does_not_have(
    params: dict[str, Any], unused: set[str]
) -> None:
    assert unused_params(params) == unused
