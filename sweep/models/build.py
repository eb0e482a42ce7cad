"""Build and compile a trial's Keras model: sweep's CNN (:class:`~sweep.models.params.Architecture`)
or a user's (:class:`~sweep.models.user_models.UserModel`), trained the same way.

This module imports Keras (and so TensorFlow) at import time: import it lazily, only in the
commands that train or load models.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sweep.errors import UsageError, first_line
from sweep.machine.backend import load_keras
from sweep.models.params import WARMUP_START, Architecture, Training, steps_per_epoch
from sweep.models.user_models import Plan, UserModel, resolve

load_keras()  # TensorFlow and Keras, quietly, with threads and precision set up
import keras  # noqa: E402  (loaded above)
import tensorflow as tf  # noqa: E402

layers = keras.layers
ops = keras.ops

# Batches per call from Keras into TensorFlow: with one, Keras turns every batch's metrics into
# Python numbers (epochs 10-30 % slower). Batch callbacks (the deadline's check) then run once
# per 32 batches.
STEPS_PER_EXECUTION = 32
# The names of an averaged model (average_of) and of one averaged over views (with_views):
# already portable, the models they average inside them.
ENSEMBLE = "ensemble"
VIEWS = "views"


class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Keras's BatchNormalization, trained with TensorFlow's fused kernel.

    Keras 3 normalises with separate mean, variance and arithmetic ops; on a CPU each is a pass
    over the activations. One epoch of Conv32-BN-Pool-Conv64-BN-Pool-Dense128 on 30k MNIST
    images (one core, bfloat16, batch 128) took 18.7 s with Keras's layer, 6.6 s with the fused
    kernel and 4.3 s without batch norm. Inference runs Keras's own code, and every saved model
    holds a plain BatchNormalization (:func:`portable`), so nothing outside sweep needs this.

    The moving statistics follow the batches with momentum 0.9 (PyTorch's default) instead of
    Keras's 0.99: with 0.99 they lag by a hundred steps or so, and on small datasets (10 steps
    an epoch on scikit-learn's digits) the first epochs were scored at chance, which misled the
    pruner.
    """

    def __init__(self, momentum: float = 0.9, **kwargs: Any) -> None:
        super().__init__(momentum=momentum, **kwargs)

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if not training:
            return super().call(inputs, training=training, mask=mask)
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs,
            tf.cast(self.gamma, tf.float32),
            tf.cast(self.beta, tf.float32),
            epsilon=self.epsilon,
            is_training=True,
        )[:3]
        # The moving statistics as Keras keeps them (the kernel's variance is unbiased).
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            moving.assign(moving * self.momentum + tf.cast(batch, moving.dtype) * (1 - self.momentum))
        return outputs


class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 4 % of ``peak`` over the first ``warmup`` share of ``total_steps``,
    then half a cosine down to 0 at the last step (Loshchilov & Hutter's SGDR without restarts;
    with a 30 % warm-up, Smith's one-cycle policy).

    The total is a variable: a run shortened while it trains (:class:`sweep.models.train.EpochPlan`)
    decays to 0 at its new end.
    """

    def __init__(self, peak: float, total_steps: int, warmup: float) -> None:
        self.peak, self.warmup = float(peak), float(warmup)
        self.total_steps = keras.Variable(float(max(total_steps, 1)), trainable=False, name="total_steps")

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        total = ops.convert_to_tensor(self.total_steps)
        warm = ops.maximum(self.warmup * total, 1.0)
        rising = WARMUP_START + (1.0 - WARMUP_START) * step / warm
        progress = ops.clip((step - warm) / ops.maximum(total - warm, 1.0), 0.0, 1.0)
        falling = 0.5 * (1.0 + ops.cos(math.pi * progress))
        return self.peak * ops.where(step < self.warmup * total, rising, falling)

    def get_config(self) -> dict[str, Any]:
        return {"peak": self.peak, "total_steps": int(self.total_steps.numpy()), "warmup": self.warmup}


def build_model(arch: Plan, input_shape: tuple[int, int, int], num_classes: int, train_images: int) -> keras.Model:
    """The compiled model of ``arch``, its learning-rate schedule laid over ``arch.epochs``
    passes of ``train_images`` images."""
    if isinstance(arch, Architecture):
        model, logits = cnn(arch, input_shape, num_classes), arch.logits
    else:
        model = user_model(arch, input_shape, num_classes)
        logits = not ends_in_softmax(model)
    model.compile(
        optimizer=optimizer(arch, model, steps_per_epoch(train_images, arch.batch_size) * arch.epochs),
        # One-hot labels (see sweep.models.train.make_batches): Keras's sparse loss cannot smooth them.
        loss=keras.losses.CategoricalCrossentropy(from_logits=logits, label_smoothing=arch.label_smoothing),
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    return model


def cnn(arch: Architecture, input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """The CNN of ``arch``, not compiled (see :mod:`sweep.models.params` for the layer layout)."""
    arch.check_fits(input_shape)  # a clear error instead of a negative-dimension crash in Keras
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    # Active only in training (fit); identity at evaluate/predict time and after export.
    if arch.flip:
        x = layers.RandomFlip("horizontal")(x)
    if arch.augment > 0:
        x = layers.RandomTranslation(arch.augment, arch.augment, fill_mode="constant")(x)
        x = layers.RandomRotation(arch.augment / 4, fill_mode="constant")(x)
    for block, filters in enumerate(arch.filters):
        for conv in range(arch.convs_per_block):
            suffix = f"{block + 1}" if arch.convs_per_block == 1 else f"{block + 1}_{conv + 1}"
            x = layers.Conv2D(
                filters,
                arch.kernel_size,
                padding=arch.padding,
                use_bias=not arch.batch_norm,
                activation=None if arch.batch_norm else "relu",
                name=f"conv_{suffix}",
            )(x)
            if arch.batch_norm:
                x = FusedBatchNormalization(name=f"batch_norm_{suffix}")(x)
                x = layers.ReLU()(x)
        if arch.pooled(block):
            x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x) if arch.head == "gap" else layers.Flatten()(x)
    if arch.dense_units > 0:
        x = layers.Dense(
            arch.dense_units, use_bias=not arch.batch_norm, activation=None if arch.batch_norm else "relu", name="dense"
        )(x)
        if arch.batch_norm:  # a few hundred values: Keras's own layer is fast enough
            x = layers.BatchNormalization(momentum=0.9, name="batch_norm_dense")(x)
            x = layers.ReLU()(x)
    if arch.dropout > 0:
        x = layers.Dropout(arch.dropout)(x)
    outputs = layers.Dense(  # float32 outputs, also under bfloat16 compute: a stable loss
        num_classes, activation=None if arch.logits else "softmax", name="classes", dtype="float32"
    )(x)
    return keras.Model(inputs, outputs, name="cnn")


def user_model(plan: UserModel, input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """The model a user's function returns for ``plan.params``, checked to be one sweep can
    train, save and export; raises with what is wrong (the trial fails with that message)."""
    model = resolve(plan.function)(dict(plan.params), input_shape, num_classes)
    if not isinstance(model, keras.Model):
        raise TypeError(f"{plan.function} returned {type(model).__name__}, not a keras.Model")
    if not model.built and isinstance(model, keras.Sequential):  # no Input: the images' shape
        model.build((None, *input_shape))
    if not getattr(model, "inputs", None):
        raise TypeError(
            f"{plan.function} returned a subclassed model ({type(model).__name__}); sweep saves and "
            "exports Functional or Sequential models: start it from keras.Input(shape=input_shape)"
        )
    if tuple(model.output_shape) != (None, num_classes):
        raise ValueError(
            f"{plan.function} returned a model with output shape {model.output_shape}; "
            f"the data has {num_classes} classes: end it with Dense(num_classes)"
        )
    last = model.layers[-1]
    if last.compute_dtype != "float32":  # Keras's advice under mixed precision: a stable loss

        def float32_output(layer: keras.layers.Layer) -> keras.layers.Layer:
            return type(layer).from_config({**layer.get_config(), "dtype": "float32"}) if layer is last else layer

        model = keras.models.clone_model(model, clone_function=float32_output)
    return model


def ends_in_softmax(model: keras.Model) -> bool:
    """Whether ``model`` outputs probabilities (a last softmax, or an average of probabilities)
    rather than logits."""
    if model.name in (ENSEMBLE, VIEWS):
        return True
    last = model.layers[-1]
    return isinstance(last, layers.Softmax) or last.get_config().get("activation") == "softmax"


# Each model's learning-rate schedule, for :class:`sweep.models.train.EpochPlan` (Keras keeps it in a
# private attribute of the optimizer).
_SCHEDULES: weakref.WeakKeyDictionary[keras.Model, WarmupCosine] = weakref.WeakKeyDictionary()


def schedule(model: keras.Model) -> WarmupCosine | None:
    """The learning-rate schedule ``model`` was compiled with (None: a constant rate)."""
    return _SCHEDULES.get(model)


def optimizer(arch: Training, model: keras.Model, total_steps: int) -> keras.optimizers.Optimizer:
    """Adam, or AdamW when ``arch`` decays weights, with ``arch``'s learning-rate schedule."""
    rate: Any = arch.learning_rate
    if arch.lr_schedule != "constant":
        rate = _SCHEDULES[model] = WarmupCosine(arch.learning_rate, total_steps, arch.warmup)
    if arch.weight_decay == 0:
        return keras.optimizers.Adam(rate)
    adamw = keras.optimizers.AdamW(rate, weight_decay=arch.weight_decay)
    # Decay the kernels only: shrinking biases and batch norm's scale and shift only hurts.
    adamw.exclude_from_weight_decay(var_list=[v for v in model.trainable_variables if len(v.shape) < 2])
    return adamw


def portable(model: keras.Model) -> keras.Model:
    """The same trained model in plain Keras layers computing in float32, without optimizer:
    what every saved or exported model is. It loads anywhere with ``keras.saving.load_model``
    (no sweep classes), and LiteRT has no bfloat16 convolutions. Models trained under bfloat16
    compute (see :mod:`sweep.machine.backend`) keep float32 weights, so nothing is lost."""

    def clone(layer: keras.layers.Layer) -> keras.layers.Layer:
        kind = layers.BatchNormalization if isinstance(layer, FusedBatchNormalization) else type(layer)
        return kind.from_config({**layer.get_config(), "dtype": "float32"})

    if model.name in (ENSEMBLE, VIEWS):  # built from portable models (average_of, with_views)
        return model
    bare = keras.Model(model.inputs, model.outputs, name=model.name)  # its layers, not compiled
    copy = keras.models.clone_model(bare, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def average_of(members: Sequence[keras.Model]) -> keras.Model:
    """One model whose class probabilities are the mean of ``members``' (each made portable;
    members that output logits get a softmax first)."""
    inputs = keras.Input(shape=members[0].input_shape[1:], name="image")
    outputs = []
    for index, member in enumerate(members):
        copy = portable(member)
        wrapped = keras.Model(copy.inputs[0], copy.outputs[0], name=f"member_{index + 1}")
        out = wrapped(inputs)
        outputs.append(out if ends_in_softmax(member) else layers.Softmax(dtype="float32")(out))
    return keras.Model(inputs, layers.Average(dtype="float32")(outputs), name=ENSEMBLE)


def with_views(model: keras.Model, shifts: Sequence[tuple[int, int]]) -> keras.Model:
    """One model whose class probabilities are the mean of ``model``'s (made portable) over
    the images moved by ``shifts`` (rows, columns; see :mod:`sweep.models.views`), the pixels
    moved in filled with 0. Plain Keras layers (padding, cropping, averaging): it saves, loads
    and converts to TFLite as any model. ``model`` itself where one view does not move."""
    copy = portable(model)
    if all(shift == (0, 0) for shift in shifts):
        return copy
    out = copy.outputs[0] if ends_in_softmax(model) else layers.Softmax(dtype="float32")(copy.outputs[0])
    copy = keras.Model(copy.inputs[0], out, name=copy.name)
    inputs = keras.Input(shape=model.input_shape[1:], name="image")
    outputs = []
    for rows, cols in shifts:
        moved = inputs
        if (rows, cols) != (0, 0):
            # Pad on the side the image moves to, crop as much off the other: the same size.
            pad = ((max(rows, 0), max(-rows, 0)), (max(cols, 0), max(-cols, 0)))
            moved = layers.ZeroPadding2D(pad, dtype="float32")(moved)
            moved = layers.Cropping2D((pad[0][::-1], pad[1][::-1]), dtype="float32")(moved)
        outputs.append(copy(moved))
    return keras.Model(inputs, layers.Average(dtype="float32")(outputs), name=VIEWS)


def load_saved(path: Path) -> keras.Model:
    """A model saved by sweep; a file that is not a Keras model is a UsageError naming it."""
    try:
        return keras.saving.load_model(path)
    except Exception as error:  # Keras raises several types for files that are not its models
        import zipfile

        # Keras says "File not found" of a file that is there but no zip archive.
        why = "not a .keras archive" if not zipfile.is_zipfile(path) else first_line(error)[:200]
        raise UsageError(
            f"{path} is not a Keras model ({why}); pass a .keras file that sweep saved, or run the sweep again"
        ) from None


def probabilities(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Class probabilities, whether the model ends in softmax or in logits."""
    outputs: np.ndarray = np.asarray(model.predict(images, verbose=0))
    if ends_in_softmax(model):
        return outputs
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    normalised: np.ndarray = shifted / shifted.sum(axis=1, keepdims=True)
    return normalised
