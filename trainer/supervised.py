"""The supervised baseline: the pretraining's encoder trained from scratch on a labelled subset.

Architecture, augmentations (one view per image) and serving size are the pretraining's.
A linear classifier on the pooled features is trained with cross-entropy and scored on
centre crops at the serving size, as the exported encoder is served. Set beside the
linear probes of the pretrained encoder, it shows what pretraining adds at a label fraction.
"""

import sys
import time

import numpy as np
import tensorflow as tf
import tf_keras as keras

from trainer import augment
from trainer.config import SupervisedBaselineConfig, TrainingConfig
from trainer.model import build_encoder, build_optimizer

AUTOTUNE = tf.data.AUTOTUNE
SHUFFLE_BUFFER = 10_000
CACHED_IMAGES = 20_000
PROGRESS_LINES = 10  # keras "epochs" per training run: one progress line each


def augmented_batches(
    images: tf.data.Dataset, count: int, config: TrainingConfig, batch_size: int, random_state: int
) -> tf.data.Dataset:
    """Endless batches of (augmented view at image_size, label id) from (PNG bytes, label id) pairs, ``count``
    of them, shuffled through a buffer of at most SHUFFLE_BUFFER; kept in memory after the first pass when
    there are at most CACHED_IMAGES (stored PNGs: about 30 KB each at 128 px)."""

    def view(png, label):
        return augment.augment_image(augment.decode_png(png), config.encoder.image_size, config.augment), label

    if count <= CACHED_IMAGES:
        images = images.cache()
    return (
        images.shuffle(min(count, SHUFFLE_BUFFER), seed=random_state, reshuffle_each_iteration=True)
        .repeat()
        .map(view, num_parallel_calls=AUTOTUNE)
        .batch(batch_size, drop_remainder=True)
        .prefetch(AUTOTUNE)
    )


def served_views(images: tf.data.Dataset, size: int, batch_size: int = 128) -> tf.data.Dataset:
    """(centre crops at the serving size, as the exported encoder sees them, label ids), batched."""
    return (
        images.map(lambda png, label: (augment.served_view(png, size), label), num_parallel_calls=AUTOTUNE)
        .batch(batch_size)
        .prefetch(AUTOTUNE)
    )


def train_from_scratch(
    config: TrainingConfig,
    baseline: SupervisedBaselineConfig,
    channel_stats,
    images: tf.data.Dataset,
    count: int,
    num_classes: int,
    random_state: int,
) -> keras.Model:
    """A freshly initialised encoder plus a linear classifier, trained on ``count`` (PNG bytes, label id) pairs."""
    config = config.model_copy(update={"optimizer": baseline.optimizer, "batch_size": baseline.batch_size})
    keras.utils.set_random_seed(random_state)
    encoder = build_encoder(config, *channel_stats)
    classifier = keras.Model(encoder.input, keras.layers.Dense(num_classes, name="logits")(encoder.output))
    return fit_classifier(classifier, config, images, count, baseline.steps, random_state, "supervised baseline")


def _progress_epochs(steps: int):
    """(steps per keras epoch, epochs): ``steps`` in PROGRESS_LINES epochs, rounded up to whole epochs."""
    steps_per_epoch = max(1, steps // PROGRESS_LINES)
    return steps_per_epoch, -(-steps // steps_per_epoch)


def fit_classifier(
    classifier: keras.Model,
    config: TrainingConfig,
    images: tf.data.Dataset,
    count: int,
    steps: int,
    random_state: int,
    name: str,
) -> keras.Model:
    """Trains ``classifier`` (images -> logits) with cross-entropy on ``count`` (PNG bytes, label id) pairs, for
    ``steps`` rounded up to whole progress epochs, with ``config``'s optimiser, batch size and augmentations."""
    return fit_on_views(
        classifier,
        classifier.trainable_variables,
        config,
        images,
        (count, steps, random_state),
        f"{name}: {count} labelled images",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


def fit_on_views(model: keras.Model, variables, config: TrainingConfig, images, run, description: str, **compile_args):
    """Compiles ``model`` with ``config``'s optimiser over ``variables`` and fits it on augmented views of ``images``.

    ``run`` is (image count, steps, random state); the steps are rounded up to whole progress epochs.
    """
    count, steps, random_state = run
    steps_per_epoch, epochs = _progress_epochs(steps)
    optimizer = build_optimizer(config, steps_per_epoch, steps_per_epoch * epochs, variables)
    model.compile(optimizer=optimizer, **compile_args)
    batches = augmented_batches(images, count, config, config.batch_size, random_state)
    print(f"{description}, {steps_per_epoch * epochs} steps of {config.batch_size}", file=sys.stderr, flush=True)
    model.fit(batches, steps_per_epoch=steps_per_epoch, epochs=epochs, verbose=0, callbacks=[_Progress(epochs)])
    return model


class _Progress(keras.callbacks.Callback):
    """One line per progress epoch on stderr (stdout stays for a command's --json): its metrics and the ETA."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs, self.started = epochs, time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        eta = (time.monotonic() - self.started) / done * (self.epochs - done)
        metrics = " ".join(f"{name} {value:.4f}" for name, value in (logs or {}).items())
        print(f"  epoch {done}/{self.epochs} {metrics} ETA {eta:.0f}s", file=sys.stderr, flush=True)


def accuracy(classifier: keras.Model, images: tf.data.Dataset, size: int) -> float:
    """Top-1 on (PNG bytes, label id) pairs, batch by batch."""
    correct = total = 0
    for views, labels in served_views(images, size):
        predicted = np.argmax(classifier(views, training=False).numpy(), axis=1)
        correct += int(np.sum(predicted == labels.numpy()))
        total += len(predicted)
    return correct / total
