"""tf.data input pipelines over the Transform output.

Pretraining reads the train split as a sequence of epochs, each a new order of every image:
either decoded once and cached in memory, when the decoded images fit in
``training.cache_budget_mb``, or streamed, each epoch reading the files in a new order,
many at once (interleave), through a shuffle buffer. Two augmented views per image are
drawn in parallel and batched to the global batch with ``drop_remainder`` so every replica
gets an equal slice. A resumed run starts at the epoch it stopped in and skips only the
images of that epoch it already consumed (serialized records, before decoding), so it
continues from the same input position without replaying earlier epochs.
"""

from typing import List, Optional

import numpy as np
import tensorflow as tf

from trainer import augment, preprocessing
from trainer.config import TrainingConfig

AUTOTUNE = tf.data.AUTOTUNE
INTERLEAVED_FILES = 16  # train files read at once when streaming


def expand_patterns(file_patterns: List[str]) -> List[str]:
    files = sorted({f for pattern in file_patterns for f in tf.io.gfile.glob(pattern)})
    if not files:
        raise FileNotFoundError(f"no TFRecord files match {file_patterns}")
    return files


def _parse(feature_spec):
    def parse(serialized):
        features = tf.io.parse_single_example(serialized, feature_spec)
        image = tf.io.decode_png(tf.reshape(features[preprocessing.IMAGE], []), channels=3)
        label = tf.reshape(features.get(preprocessing.LABEL_ID, tf.constant([-1], tf.int64)), [])
        return image, label

    return parse


def decoded_images(files: List[str], feature_spec) -> tf.data.Dataset:
    """(uint8 image at stored size, label id) pairs, in file order."""
    return tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=AUTOTUNE).map(
        _parse(feature_spec), num_parallel_calls=AUTOTUNE, deterministic=True
    )


def count_records(files: List[str]) -> int:
    return int(tf.data.TFRecordDataset(files, compression_type="GZIP").reduce(0, lambda n, _: n + 1))


def channel_statistics(files: List[str], feature_spec):
    """The per-channel mean and std that the Transform analysers computed (identical on every record)."""
    record = next(iter(tf.data.TFRecordDataset(files[:1], compression_type="GZIP")))
    features = tf.io.parse_single_example(record, feature_spec)
    return (
        np.reshape(features[preprocessing.CHANNEL_MEAN].numpy(), [3]),
        np.reshape(features[preprocessing.CHANNEL_STD].numpy(), [3]),
    )


def decoded_bytes_per_image(files: List[str], feature_spec) -> int:
    """Bytes of one decoded stored image (every stored image has the Transform's size)."""
    image, _ = next(iter(decoded_images(files[:1], feature_spec)))
    return int(tf.size(image))


def _epoch_seed(config: TrainingConfig, epoch: int) -> int:
    return config.seed * 1_000_003 + epoch


def image_stream(files: List[str], feature_spec, config: TrainingConfig, num_images: int, cache: bool,
                 start_step: int = 0) -> tf.data.Dataset:
    """uint8 images [h, w, 3] of ``config.epochs`` epochs, from the position ``start_step`` batches in.

    Each epoch holds every image once, in an order fixed by ``config.seed`` and the epoch number, so a
    resumed run builds only the epochs left and skips within the first of them.
    """
    first_epoch, offset = divmod(start_step * config.batch_size, num_images)
    epochs = range(first_epoch, max(config.epochs, first_epoch + 1))
    if cache:
        cached = decoded_images(files, feature_spec).map(lambda image, _: image).cache()
        per_epoch = [cached.shuffle(config.shuffle_buffer, seed=_epoch_seed(config, epoch)) for epoch in epochs]
    else:
        per_epoch = [
            tf.data.Dataset.from_tensor_slices(files).shuffle(len(files), seed=_epoch_seed(config, epoch))
            .interleave(lambda path: tf.data.TFRecordDataset(path, compression_type="GZIP"),
                        cycle_length=min(len(files), INTERLEAVED_FILES), num_parallel_calls=AUTOTUNE,
                        deterministic=True)
            .shuffle(config.shuffle_buffer, seed=_epoch_seed(config, epoch))
            for epoch in epochs
        ]
    # Epoch after epoch: num_images elements from each in turn.
    turns = tf.data.Dataset.range(len(per_epoch)).flat_map(lambda turn: tf.data.Dataset.from_tensors(turn).repeat(num_images))
    stream = tf.data.Dataset.choose_from_datasets(per_epoch, turns).skip(offset)
    if cache:
        return stream
    parse = _parse(feature_spec)
    return stream.map(lambda record: parse(record)[0], num_parallel_calls=AUTOTUNE, deterministic=True)


def pretraining_dataset(files: List[str], feature_spec, config: TrainingConfig, num_images: int,
                        start_step: int = 0, cache: bool = True) -> tf.data.Dataset:
    """Batches of views in [0, 1] for ``config.epochs`` epochs, B the global batch: ([B, s, s, 3], [B, s, s, 3]), and with
    multi-crop a third element, the local views [B, local_views, l, l, 3]. ``cache``: decoded images
    stay in memory (the caller checks them against ``config.cache_budget_mb``)."""
    size = config.encoder.image_size
    images = image_stream(files, feature_spec, config, num_images, cache, start_step)

    def views(image):
        image = tf.image.convert_image_dtype(image, tf.float32)
        pair = augment.augment_image(image, size, config.augment), augment.augment_image(image, size, config.augment)
        if not config.augment.local_views:
            return pair
        return pair + (augment.local_views(image, config.augment),)

    batches = images.map(views, num_parallel_calls=AUTOTUNE, deterministic=False).batch(
        config.batch_size, drop_remainder=True
    )
    if config.augment.per_batch_jitter:
        batches = batches.map(
            lambda *batch: tuple(augment.jitter_batch(view_batch, config.augment) for view_batch in batch),
            num_parallel_calls=AUTOTUNE,
        )
    return batches.prefetch(AUTOTUNE)


def evaluation_dataset(files: List[str], feature_spec, image_size: int, batch_size: int = 256,
                       limit: Optional[int] = None, drop_remainder: bool = False) -> tf.data.Dataset:
    """(center-cropped images in [0, 1], label ids), batched, in file order; the first ``limit`` when set."""
    def view(image, label):
        return augment.center_crop(tf.image.convert_image_dtype(image, tf.float32), image_size), label

    images = decoded_images(files, feature_spec)
    if limit is not None:
        images = images.take(limit)
    return (images.map(view, num_parallel_calls=AUTOTUNE)
            .batch(batch_size, drop_remainder=drop_remainder).prefetch(AUTOTUNE))
