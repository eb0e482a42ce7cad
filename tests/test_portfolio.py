"""The portfolio's starting points (sweep.space.portfolio): adapted to the data, projected onto a
space. Pure arithmetic on parameter dicts and small arrays; nothing trains."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from sweep.models.params import Architecture
from sweep.space.portfolio import LIMITED, PORTFOLIO, adapt, fit, mirror_symmetric, narrow, project, starting_points
from sweep.space.spaces import load_space, parse_space

SHIPPED = load_space("search_spaces/image_folder.yaml")
VGG = next(start.params for start in LIMITED if start.name == "vgg")


def test_every_member_is_a_valid_point_of_the_family_and_of_the_shipped_spaces() -> None:
    for start in PORTFOLIO + LIMITED:
        Architecture.from_params(start.params)
        point = project(adapt(start.params, (28, 28, 1), 10, 50_000, True), SHIPPED)
        # Every value lands inside the shipped space unchanged: the space was made for them.
        assert point == {
            k: v for k, v in adapt(start.params, (28, 28, 1), 10, 50_000, True).items() if k in SHIPPED.distributions
        }


@pytest.mark.parametrize(
    ("shape", "blocks"),
    [
        ((28, 28, 1), 3),  # 28 → 14 → 7 → 3
        ((32, 32, 3), 3),
        ((8, 8, 1), 2),  # a third block would leave 1×1: 8 → 4 → 2
        ((4, 4, 1), 1),
    ],
)
def test_as_many_blocks_as_the_images_have_room_for(shape: tuple[int, int, int], blocks: int) -> None:
    point = adapt(VGG, shape, 10, 50_000, True)
    assert point["conv_blocks"] == blocks
    assert not any(f"filters_{k}" in point for k in range(blocks + 1, 7))
    Architecture.from_params(point).check_fits(shape)


@pytest.mark.parametrize(("images", "epochs"), [(50_000, 15), (60_000, 15), (9_000, 35), (900, 112)])
def test_smaller_datasets_get_more_epochs(images: int, epochs: int) -> None:
    assert adapt(VGG, (28, 28, 1), 10, images, True)["epochs"] == epochs


@pytest.mark.parametrize(
    ("images", "batch", "shipped"),
    [(60_000, 128, 128), (50_000, 128, 128), (30_000, 128, 128), (20_000, 64, 64), (9_000, 64, 64), (900, 32, 64)],
)
def test_smaller_datasets_get_smaller_batches(images: int, batch: int, shipped: int) -> None:
    point = adapt(VGG, (28, 28, 1), 10, images, True)
    assert point["batch_size"] == batch
    assert project(point, SHIPPED)["batch_size"] == shipped  # the shipped spaces' smallest is 64


def test_flips_only_where_the_images_look_alike_mirrored() -> None:
    assert adapt(VGG, (28, 28, 1), 10, 50_000, True)["flip"] is True
    assert adapt(VGG, (28, 28, 1), 10, 50_000, False)["flip"] is False


def test_the_hidden_layer_is_at_least_twice_as_wide_as_the_classes() -> None:
    small = next(start.params for start in PORTFOLIO if start.name == "small")
    assert adapt(small, (28, 28, 1), 10, 50_000, True)["dense_units"] == small["dense_units"]
    assert adapt(small, (28, 28, 1), 100, 50_000, True)["dense_units"] == 200
    assert adapt(VGG, (28, 28, 1), 100, 50_000, True)["dense_units"] == 0  # none stays none


def test_projection_moves_values_into_the_space_and_leaves_out_what_it_cannot_place() -> None:
    space = parse_space(
        yaml.safe_load("""
params:
  filters_1:     {type: int, low: 16, high: 48, step: 16}
  dropout:       {type: float, low: 0.0, high: 0.1}
  learning_rate: {type: float, low: 1.0e-4, high: 1.0e-3, log: true}
  dense_units:   {type: categorical, choices: [64, 256]}
  head:          {type: categorical, choices: [flatten]}
"""),
        "test",
    )
    point = {
        "filters_1": 56,
        "dropout": 0.3,
        "learning_rate": 3e-3,
        "dense_units": 128,
        "head": "gap",
        "batch_norm": True,
    }
    assert project(point, space) == {
        "filters_1": 48,  # clipped to the top, on its step
        "dropout": 0.1,
        "learning_rate": 1e-3,
        "dense_units": 64,  # the nearest choice (ties: the first)
        # head: 'gap' is not a choice: the sampler picks; batch_norm: not searched here
    }


def test_starting_points_drop_points_that_project_onto_one_already_listed() -> None:
    space = parse_space(yaml.safe_load("params:\n  dropout: {type: float, low: 0.0, high: 0.1}\n"), "test")
    points = starting_points(space, (28, 28, 1), 10, 50_000, True)
    assert points == [("small", {"dropout": 0.1})]


def test_mirror_symmetry_of_the_class_means() -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 200)
    # Each class: a bright bar on one side, plus noise. Lopsided as they are, their class means
    # differ from their mirror images...
    images = rng.random((800, 12, 12, 1)) * 0.2
    for index, label in enumerate(labels):
        images[index, :, label : label + 2] += 1.0
    assert not mirror_symmetric(images, labels)
    # ...but not once every other image is mirrored, as in a dataset where the side is chance.
    images[::2] = images[::2, :, ::-1]
    assert mirror_symmetric(images, labels)


@pytest.mark.parametrize(
    ("limit", "fitted"),
    [
        (None, [("small", 242_602), ("double", 871_978)]),  # no limit: the portfolio as it is
        # Under a limit, small and vgg, whose global average pooling narrows further:
        (300_000, [("small", 242_602), ("vgg", 289_066)]),  # both fit already
        (100_000, [("small-fit", 99_162), ("vgg-fit", 73_114)]),  # half width
        (20_000, [("vgg-fit", 16_986)]),  # vgg with two blocks at half width; small has no such model
        (5_000, []),  # nothing in the space this small has their recipe
    ],
)
def test_under_a_parameter_limit_starting_points_are_narrowed_to_fit(
    limit: int | None, fitted: list[tuple[str, int]]
) -> None:
    space = load_space("search_spaces/mnist.yaml")
    baseline = space.baseline_for("mnist", (28, 28, 1))
    points = starting_points(space, (28, 28, 1), 10, 54_000, False, fit_to=(baseline, limit) if limit else None)
    counts = [(name, Architecture.from_params({**baseline, **p}).param_count((28, 28, 1), 10)) for name, p in points]
    assert counts == fitted


def test_fit_takes_the_largest_model_under_the_limit_and_keeps_the_recipe() -> None:
    space = load_space("search_spaces/mnist.yaml")
    baseline = space.baseline_for("mnist", (28, 28, 1))
    vgg = adapt(VGG, (28, 28, 1), 10, 54_000, False)
    point = fit(vgg, space, baseline, (28, 28, 1), 10, 20_000)
    assert point is not None
    assert {k: point[k] for k in ("conv_blocks", "filters_1", "filters_2")} == {
        "conv_blocks": 2,
        "filters_1": 16,
        "filters_2": 32,
    }
    assert "filters_3" not in point
    recipe = ("batch_norm", "head", "convs_per_block", "lr_schedule", "augment", "epochs")
    assert {k: point[k] for k in recipe} == {k: vgg[k] for k in recipe}
    # The next size up, three blocks at the narrowest widths the space has, is over the limit.
    deeper = project(narrow(vgg, 3, 0.5, 10), space)
    assert Architecture.from_params({**baseline, **deeper}).param_count((28, 28, 1), 10) > 20_000


def test_narrowing_scales_filters_and_keeps_a_hidden_layer_wider_than_the_classes() -> None:
    small = next(start.params for start in PORTFOLIO if start.name == "small")
    narrowed = narrow(small, 2, 0.25, 100)
    assert (narrowed["conv_blocks"], narrowed["filters_1"], narrowed["filters_2"]) == (2, 8, 16)
    assert "filters_3" not in narrowed and narrowed["dense_units"] == 200
