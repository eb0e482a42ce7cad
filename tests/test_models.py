"""Tests for sweep.models.build: the Keras CNN an Architecture builds, and its learning-rate schedules."""

from __future__ import annotations

import pytest

from sweep.models.params import MNIST_BASELINE, Architecture
from tests.fixtures import TINY


@pytest.mark.slow
@pytest.mark.parametrize(
    ("schedule", "rates"),
    [
        # 100 steps. cosine: warm-up over 5 steps from 4 % of the peak, then half a cosine to 0.
        ("cosine", {0: 0.04, 1: 0.232, 5: 1.0, 30: 0.8386, 52: 0.5083, 99: 0.0003, 100: 0.0}),
        # one_cycle: warm-up over 30 steps, half a cosine down over the other 70.
        ("one_cycle", {0: 0.04, 15: 0.52, 30: 1.0, 65: 0.5, 100: 0.0}),
        ("constant", None),
    ],
)
def test_learning_rate_schedules_warm_up_then_decay_to_zero(schedule: str, rates: dict[int, float] | None) -> None:
    from sweep.models.build import schedule as schedule_of
    from sweep.models.train import new_model

    arch = Architecture.from_params(
        {**TINY, "lr_schedule": schedule, "epochs": 10, "batch_size": 10, "learning_rate": 1e-3}
    )
    model = new_model(arch, (28, 28, 1), 10, 0, train_images=100)  # 10 steps an epoch
    rate = schedule_of(model)
    if rates is None:
        assert rate is None and float(model.optimizer.learning_rate) == pytest.approx(1e-3)
        return
    assert {step: float(rate(step)) / 1e-3 for step in rates} == pytest.approx(rates, abs=1e-3)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("changes", "shape", "classes"),
    [
        ({}, (28, 28, 1), 10),  # the MNIST notebook
        (
            {"conv_blocks": 3, "filters_3": 64, "pool_last": False, "dense_units": 64, "logits": True},
            (32, 32, 3),
            10,
        ),  # the CIFAR-10 notebook
        ({"batch_norm": True, "padding": "same"}, (28, 28, 1), 10),  # batch norm, dense too
        (
            {
                "conv_blocks": 3,
                "filters_3": 128,
                "convs_per_block": 2,
                "padding": "same",
                "batch_norm": True,
                "head": "gap",
                "dense_units": 0,
            },
            (28, 28, 1),
            10,
        ),  # the VGG-style one
        ({"convs_per_block": 2, "augment": 0.1, "flip": True}, (40, 30, 3), 7),
    ],
)
def test_param_count_is_what_keras_builds(changes: dict, shape: tuple[int, int, int], classes: int) -> None:
    from sweep.models.train import new_model

    arch = Architecture.from_params({**MNIST_BASELINE, **changes})
    model = new_model(arch, shape, classes, 0, train_images=100)
    assert model.count_params() == arch.param_count(shape, classes)
