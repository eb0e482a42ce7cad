"""Build and compile a Keras CNN from an :class:`~sweep.params.Architecture`.

This module imports Keras (and so TensorFlow) at import time: import it lazily, only in the
commands that train or load models.
"""

from __future__ import annotations

import numpy as np

from sweep.backend import load_keras
from sweep.params import Architecture

keras = load_keras()
layers = keras.layers

# Batches per call from Keras into TensorFlow. Keras turns each call's metrics into Python
# numbers before its batch callbacks, so one batch per call synchronises every batch: MNIST
# epochs of the baseline CNN (2 processes × 1 thread, 4 alternating runs each) took 7.5 s at
# batch 32 and 5.2 s at 128 with 1, and 5.8 and 4.7 s with 32, to the same validation accuracy.
# Batch callbacks (the deadline's check) then run once per 32 batches.
STEPS_PER_EXECUTION = 32


def build_model(
    arch: Architecture, input_shape: tuple[int, int, int], num_classes: int
) -> keras.Model:
    """The compiled CNN of ``arch`` (see :mod:`sweep.params` for the layer layout)."""
    arch.check_fits(input_shape)  # a clear error instead of a negative-dimension crash in Keras
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    if arch.augment > 0:
        # Active only in training (fit); identity at evaluate/predict time and after export.
        x = layers.RandomTranslation(arch.augment, arch.augment, fill_mode="constant")(x)
        x = layers.RandomRotation(arch.augment / 4, fill_mode="constant")(x)
    for block, filters in enumerate(arch.filters):
        x = layers.Conv2D(
            filters,
            arch.kernel_size,
            padding=arch.padding,
            activation=None if arch.batch_norm else "relu",
            name=f"conv_{block + 1}",
        )(x)
        if arch.batch_norm:
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        if arch.pooled(block):
            x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(arch.dense_units, activation="relu", name="dense")(x)
    if arch.dropout > 0:
        x = layers.Dropout(arch.dropout)(x)
    outputs = layers.Dense(  # float32 outputs, also under bfloat16 compute: a stable loss
        num_classes, activation=None if arch.logits else "softmax", name="classes", dtype="float32"
    )(x)
    model = keras.Model(inputs, outputs, name="cnn")
    model.compile(
        optimizer=keras.optimizers.Adam(arch.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=arch.logits),
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    return model


def probabilities(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Class probabilities, whether the model ends in softmax or in logits."""
    outputs = np.asarray(model.predict(images, verbose=0))
    if model.layers[-1].get_config().get("activation") == "softmax":
        return outputs
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)
