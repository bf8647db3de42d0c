"""The ingested examples of a split read back for evaluation: encoded image, label id and content hash.

LinearEval and SupervisedBaseline both read ImageExampleGen's output this way, so they see
the same images under the same keys (the content hash that keys the probes' label subsets).
"""

import os

import tensorflow as tf

from components import image_decoding

FEATURES = {
    image_decoding.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string),
    image_decoding.LABEL_ID_KEY: tf.io.FixedLenFeature([], tf.int64),
    image_decoding.HASH_KEY: tf.io.FixedLenFeature([], tf.string),
}


def read_split(examples_uri: str, split: str, batch_size: int = 64) -> tf.data.Dataset:
    """Batches of {image_bytes, label_id, sha256} of every example in ``Split-<split>``, in file order."""
    files = tf.io.gfile.glob(os.path.join(examples_uri, f"Split-{split}", "*"))
    if not files:
        raise ValueError(f"no examples for split '{split}' in {examples_uri}")
    return (tf.data.TFRecordDataset(sorted(files), compression_type="GZIP")
            .map(lambda record: tf.io.parse_single_example(record, FEATURES)).batch(batch_size))
