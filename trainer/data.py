"""tf.data input pipelines over the Transform output.

Pretraining reads the train split and the unlabelled one, when the data has one (on several hosts,
each host its own files), as a sequence
of epochs, each a new order of every image: either decoded once and cached in memory, when
the decoded images fit in ``training.cache_budget_mb``, or streamed, each epoch reading the
files in a new order, many at once (interleave), through a shuffle buffer. Two augmented
views per image are drawn in parallel and batched per replica with ``drop_remainder``
(``Strategy.distribute_datasets_from_function``), so every replica gets an equal slice.
A resumed run starts at the epoch it stopped in and skips only the images of that epoch it
already consumed (serialized records, before decoding), so it continues from the same input
position without replaying earlier epochs.
"""

from typing import List, Optional

import numpy as np
import tensorflow as tf

from shared import contract
from trainer import augment
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
        image = tf.io.decode_png(tf.reshape(features[contract.IMAGE], []), channels=3)
        label = tf.reshape(features.get(contract.LABEL_ID, tf.constant([-1], tf.int64)), [])
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
        np.reshape(features[contract.CHANNEL_MEAN].numpy(), [3]),
        np.reshape(features[contract.CHANNEL_STD].numpy(), [3]),
    )


def decoded_bytes_per_image(files: List[str], feature_spec) -> int:
    """Bytes of one decoded stored image (every stored image has the Transform's size)."""
    image, _ = next(iter(decoded_images(files[:1], feature_spec)))
    return int(tf.size(image))


def _epoch_seed(config: TrainingConfig, epoch: int) -> int:
    return config.random_state * 1_000_003 + epoch


def _concatenated(datasets: List[tf.data.Dataset]) -> tf.data.Dataset:
    """The datasets one after the other, as a balanced tree (depth log2(n), not n)."""
    if len(datasets) == 1:
        return datasets[0]
    middle = len(datasets) // 2
    return _concatenated(datasets[:middle]).concatenate(_concatenated(datasets[middle:]))


def image_stream(
    files: List[str], feature_spec, config: TrainingConfig, num_images: int, cache: bool, skip_images: int = 0
) -> tf.data.Dataset:
    """uint8 images [h, w, 3] of ``files`` (``num_images`` of them), epoch after epoch, ``skip_images`` in.

    Each epoch holds every image once, in an order fixed by ``config.random_state`` and the epoch number, so a
    resumed run builds only the epochs left and skips within the first of them. One epoch more than
    ``config.epochs`` is there, so a host whose share of the files is below average never runs dry.
    """
    first_epoch, offset = divmod(skip_images, num_images)
    epochs = range(first_epoch, max(config.epochs, first_epoch) + 1)
    if cache:
        cached = decoded_images(files, feature_spec).map(lambda image, _: image).cache()
        per_epoch = [cached.shuffle(config.shuffle_buffer, seed=_epoch_seed(config, epoch)) for epoch in epochs]
    else:
        per_epoch = [
            tf.data.Dataset.from_tensor_slices(files)
            .shuffle(len(files), seed=_epoch_seed(config, epoch))
            .interleave(
                lambda path: tf.data.TFRecordDataset(path, compression_type="GZIP"),
                cycle_length=min(len(files), INTERLEAVED_FILES),
                num_parallel_calls=AUTOTUNE,
                deterministic=True,
            )
            .shuffle(config.shuffle_buffer, seed=_epoch_seed(config, epoch))
            for epoch in epochs
        ]
    stream = _concatenated(per_epoch).skip(offset)
    if cache:
        return stream
    parse = _parse(feature_spec)
    return stream.map(lambda record: parse(record)[0], num_parallel_calls=AUTOTUNE, deterministic=True)


def host_files(files: List[str], input_context: Optional[tf.distribute.InputContext]) -> List[str]:
    """This host's share of the train files: every n-th, n the number of input pipelines (hosts)."""
    if input_context is None or input_context.num_input_pipelines == 1:
        return files
    hosts = input_context.num_input_pipelines
    if len(files) < hosts:
        raise ValueError(
            f"{len(files)} train files cannot be shared by {hosts} hosts: set ingest.num_shards "
            f"to a multiple of {hosts}"
        )
    return files[input_context.input_pipeline_id :: hosts]


def host_image_stream(
    files: List[str],
    feature_spec,
    config: TrainingConfig,
    num_images: int,
    cache: bool,
    start_step: int,
    input_context: Optional[tf.distribute.InputContext],
):
    """(this host's image_stream from ``start_step`` on, per-replica batch size).

    One host reads all files; several each read their own files (``host_files``), and count their
    share of the images (one host: ``num_images``, from ingestion).
    """
    hosts = input_context.num_input_pipelines if input_context else 1
    mine = host_files(files, input_context)
    host_images = num_images if hosts == 1 else count_records(mine)
    stream = image_stream(mine, feature_spec, config, host_images, cache, start_step * config.batch_size // hosts)
    return stream, input_context.get_per_replica_batch_size(config.batch_size) if input_context else config.batch_size


def pretraining_dataset(
    files: List[str],
    feature_spec,
    config: TrainingConfig,
    num_images: int,
    start_step: int = 0,
    cache: bool = True,
    input_context: Optional[tf.distribute.InputContext] = None,
) -> tf.data.Dataset:
    """Batches of views in [0, 1] for ``config.epochs`` epochs: ([B, s, s, 3], [B, s, s, 3]), and with
    multi-crop a third element, the local views [B, local_views, l, l, 3].

    B is the global batch, or with ``input_context`` (``Strategy.distribute_datasets_from_function``)
    the per-replica batch of this host's replicas. ``cache``: decoded images stay in memory (the caller
    checks them against ``config.cache_budget_mb``).
    """
    size = config.encoder.image_size
    images, batch_size = host_image_stream(files, feature_spec, config, num_images, cache, start_step, input_context)

    def views(image):
        image = tf.image.convert_image_dtype(image, tf.float32)
        pair = augment.augment_image(image, size, config.augment), augment.augment_image(image, size, config.augment)
        if not config.augment.local_views:
            return pair
        return pair + (augment.local_views(image, config.augment),)

    batches = images.map(views, num_parallel_calls=AUTOTUNE, deterministic=False).batch(batch_size, drop_remainder=True)
    if config.augment.per_batch_jitter:
        batches = batches.map(
            lambda *batch: tuple(augment.jitter_batch(view_batch, config.augment) for view_batch in batch),
            num_parallel_calls=AUTOTUNE,
        )
    return batches.prefetch(AUTOTUNE)


def evaluation_dataset(
    files: List[str],
    feature_spec,
    image_size: int,
    batch_size: int = 256,
    limit: Optional[int] = None,
    drop_remainder: bool = False,
    labelled_only: bool = False,
) -> tf.data.Dataset:
    """(center-cropped images in [0, 1], label ids), batched, in file order; the first ``limit`` when set.
    ``labelled_only``: images of the unlabelled split (label id contract.UNLABELLED_ID) are skipped."""

    def view(image, label):
        return augment.center_crop(tf.image.convert_image_dtype(image, tf.float32), image_size), label

    images = decoded_images(files, feature_spec)
    if labelled_only:
        images = images.filter(lambda _, label: label != contract.UNLABELLED_ID)
    if limit is not None:
        images = images.take(limit)
    return (
        images.map(view, num_parallel_calls=AUTOTUNE)
        .batch(batch_size, drop_remainder=drop_remainder)
        .prefetch(AUTOTUNE)
    )
