"""Multi-fidelity exploration: trials explore on a share of the training images, and only the
answer trains on all of them.

On a slow machine one epoch of 54,000 images costs minutes, and a 19-minute sweep that trains
every trial on all of them compares two or three recipes. So a sweep measures, once, how fast
this machine trains the baseline (:func:`sweep.models.train.images_per_second`), and its trials train
on as many images as the baseline's epochs can go through in EXPLORE_BUDGET of the time limit
(:func:`explore_images`): all of them on a fast machine, an eighth of MNIST on the slowest one.
Every trial, the baseline included, trains on the same images and is scored on the whole
validation split, so trials compare like with like, and the answer's paired gain over the
baseline on validation stays a fair test; the answer is then retrained on train + validation
(:mod:`sweep.commands.retrain`), where the pruner's epochs (Hyperband over the share) meet the full data.

A recipe's ``epochs`` mean epochs of the whole training split (``scale: data`` scales them by
its size, not the share's), so a trial on an eighth of the images takes an eighth of the steps
the retrain will: a cheaper run of the same recipe.

No TensorFlow here: the rule and the subset are table-tested.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sweep.data.registry import Dataset

# The baseline's epochs on the exploration images may take at most this share of the time
# limit. The baseline is the cheapest model trained; sampled ones cost 2-10 times as much, so
# a trial then costs some 5-30 % of one worker's search. The AVX512-BF16 machine trains the
# baseline at about 5,500 images/s (batch 32, measured as below): 37,000 images, over
# FULL_SHARE of MNIST, so all of them; the AVX2 one at about 1,000: an eighth.
EXPLORE_BUDGET = 0.03
# Fewer images than this rank recipes for a small dataset, not for this one.
MIN_EXPLORE_IMAGES = 4_000
# Above this share of the training split, a subset saves too little to be worth the mismatch.
FULL_SHARE = 0.6
# A worker's last cheaper job (sweep.search.worker.cheaper_job) trains on a share of the
# exploration images that fits the search's time left; below this share it would rank its
# recipe by too little, and the worker leaves instead.
FEWEST_SHARE = 0.2
# Images timed by the calibration (:func:`sweep.models.train.images_per_second`): a few seconds on
# the slowest machine; with 2,048 the figure varied by a third from run to run, with 4,096 by 8 %.
CALIBRATION_IMAGES = 4_096


def explore_images(train_images: int, images_per_second: float | None, epochs: int, time_limit: float | None) -> int:
    """How many training images the trials explore on: as many as the baseline's ``epochs``
    at ``images_per_second`` go through in EXPLORE_BUDGET of ``time_limit`` seconds, at least
    MIN_EXPLORE_IMAGES, and all ``train_images`` when that is most of them (or with no time
    limit or speed to plan with)."""
    if not time_limit or not images_per_second or train_images <= MIN_EXPLORE_IMAGES:
        return train_images
    affordable = EXPLORE_BUDGET * time_limit * images_per_second / max(epochs, 1)
    images = max(int(affordable), MIN_EXPLORE_IMAGES)
    return train_images if images >= FULL_SHARE * train_images else images


def share_that_fits(images: int, seconds: float, left: float) -> int:
    """How many of ``images`` a run that takes ``seconds`` on all of them can train on in
    ``left`` seconds: all, or the share that fits, or 0 where that is under FEWEST_SHARE."""
    if seconds <= left:
        return images
    share = int(images * max(left, 0.0) / seconds)
    return share if share >= FEWEST_SHARE * images else 0


def subset(labels: np.ndarray, images: int, seed: int) -> np.ndarray:
    """Sorted indices of ``images`` of ``labels``, each class in its share (stratified, the
    remainders to the largest classes), drawn with ``seed``: every worker draws the same ones."""
    if images >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    shares = counts * images / len(labels)
    take = np.floor(shares).astype(int)
    for k in np.argsort(-(shares - take), kind="stable")[: images - int(take.sum())]:
        take[k] += 1
    chosen = [rng.choice(np.flatnonzero(labels == c), size=n, replace=False) for c, n in zip(classes, take)]
    return np.sort(np.concatenate(chosen))


def exploring(dataset: Dataset, images: int, seed: int) -> Dataset:
    """``dataset`` with its training split cut to the ``images`` that trials explore on (the
    same validation and test images)."""
    if images >= len(dataset.y_train):
        return dataset
    chosen = subset(dataset.y_train, images, seed)
    return replace(dataset, x_train=dataset.x_train[chosen], y_train=dataset.y_train[chosen])
