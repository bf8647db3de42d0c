"""tf.data input pipelines over the Transform output.

Pretraining: decode the stored PNGs once (cached in memory when they fit),
shuffle, and draw two augmented views per image in parallel, batched to the
global batch with ``drop_remainder`` so every replica gets an equal slice.
A resumed run skips the elements it already consumed before augmentation,
so it continues from the same input position.
"""

from typing import List, Optional

import numpy as np
import tensorflow as tf

from trainer import augment, preprocessing
from trainer.config import TrainingConfig

AUTOTUNE = tf.data.AUTOTUNE


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


def pretraining_dataset(files: List[str], feature_spec, config: TrainingConfig, start_step: int = 0) -> tf.data.Dataset:
    """Endless batches of views in [0, 1], B the global batch: ([B, s, s, 3], [B, s, s, 3]), and with
    multi-crop a third element, the local views [B, local_views, l, l, 3]."""
    size = config.encoder.image_size
    images = decoded_images(files, feature_spec).map(lambda image, _: image)
    if config.cache_images:
        images = images.cache()
    images = (
        images.shuffle(config.shuffle_buffer, seed=config.seed, reshuffle_each_iteration=True)
        .repeat()
        .skip(start_step * config.batch_size)
    )

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
